package fiscal

import (
	"fmt"
	"time"
)

// CalcSign is tag 1054, the calculation sign of a receipt.
type CalcSign byte

// Calculation signs (1054).
const (
	Income        CalcSign = 1 // приход
	IncomeReturn  CalcSign = 2 // возврат прихода
	Expense       CalcSign = 3 // расход
	ExpenseReturn CalcSign = 4 // возврат расхода
)

// TaxSystem is tag 1055 (one bit); a set of them is tag 1062.
type TaxSystem byte

// Tax systems (1055); 1062 is their OR.
const (
	TaxGeneral      TaxSystem = 1  // ОСН
	TaxSimpleIncome TaxSystem = 2  // УСН доход
	TaxSimpleProfit TaxSystem = 4  // УСН доход − расход
	TaxImputed      TaxSystem = 8  // ЕНВД
	TaxAgricultural TaxSystem = 16 // ЕСХН
	TaxPatent       TaxSystem = 32 // ПСН
)

// VATRate is tag 1199.
type VATRate byte

// VAT rates (1199). 7–10 are the УСН rates of order ЕД-7-20/1038@ (since
// 01.01.2025), 11 and 12 the standard rate of 22 % of law 425-ФЗ (since
// 01.01.2026, order ЕД-7-20/1050@); 1–6 keep their meaning.
const (
	VAT20    VATRate = 1
	VAT10    VATRate = 2
	VAT20120 VATRate = 3
	VAT10110 VATRate = 4
	VAT0     VATRate = 5
	VATNone  VATRate = 6
	VAT5     VATRate = 7
	VAT7     VATRate = 8
	VAT5105  VATRate = 9
	VAT7107  VATRate = 10
	VAT22    VATRate = 11
	VAT22122 VATRate = 12

	// MaxVATRate is the highest value 1199 takes.
	MaxVATRate = VAT22122
)

// vatNames are the rates as a receipt prints them after "НДС ".
var vatNames = [...]string{VAT20: "20%", VAT10: "10%", VAT20120: "20/120", VAT10110: "10/110", VAT0: "0%",
	VATNone: "", VAT5: "5%", VAT7: "7%", VAT5105: "5/105", VAT7107: "7/107", VAT22: "22%", VAT22122: "22/122"}

// String is the rate as printed on an item: "НДС 22%", "НДС 22/122", "БЕЗ НДС".
func (r VATRate) String() string {
	switch {
	case r == VATNone:
		return "БЕЗ НДС"
	case r >= VAT20 && r <= MaxVATRate:
		return "НДС " + vatNames[r]
	}
	return fmt.Sprintf("VATRate(%d)", byte(r))
}

// Valid says whether r is a value of 1199.
func (r VATRate) Valid() bool { return r >= VAT20 && r <= MaxVATRate }

// Quantity is a fixed-point number (FVLN): Value / 10^Decimals.
type Quantity struct {
	Value    uint64
	Decimals uint8
}

// Seller is the registered user's data that every document carries; it comes
// from the registration and the retail point, never from the shop's document.
type Seller struct {
	Name       string    // 1048
	INN        string    // 1018, 10 or 12 digits
	Address    string    // 1009 settlement address
	Place      string    // 1187 place of settlement (the site for an online shop)
	TaxSystems TaxSystem // 1062, the systems the register is registered for
	RegNumber  string    // 1037
	Email      string    // 1117 sender e-mail for receipts sent electronically
	Internet   bool      // 1108 internet-only register
	Automatic  bool      // 1001
	Machine    string    // 1036, the automatic device's number: required with Automatic
}

// Item is one position (1059).
type Item struct {
	Name       string   // 1030
	Price      int64    // 1079, kopecks, after discounts
	Quantity   Quantity // 1023
	Sum        int64    // 1043, kopecks: Price × Quantity rounded to the kopeck
	VAT        VATRate  // 1199
	VATSum     int64    // 1200, optional: -1 when absent
	Subject    byte     // 1212
	Method     byte     // 1214
	Unit       string   // 1197
	MarkCode   []byte   // 1162, already built
	AgentFlags byte     // 1222
	Agent      *AgentData
	Supplier   *Supplier
	Country    string // 1230
	Customs    string // 1231
}

// AgentData is the agent's data (1223 on an item; receipt-level tags on a receipt).
type AgentData struct {
	Operation          string   // 1044
	PayingAgentPhones  []string // 1073
	ReceiverPhones     []string // 1074
	TransferOperPhones []string // 1075
	TransferOperName   string   // 1026
	TransferOperAddr   string   // 1005
	TransferOperINN    string   // 1016
}

// Supplier is 1224 (name 1225, phones 1171) with the supplier's INN 1226.
type Supplier struct {
	Name   string
	Phones []string
	INN    string
}

// Payments are the five payment sums of a receipt, in kopecks.
type Payments struct {
	Cash       int64 // 1031
	Electronic int64 // 1081
	Prepaid    int64 // 1215
	Credit     int64 // 1216
	Other      int64 // 1217
}

// Correction is the basis of a correction receipt: 1173 and 1174 {1177, 1178, 1179}.
type Correction struct {
	ByOrder bool      // 1173: false on own initiative, true by order
	Name    string    // 1177
	Date    time.Time // 1178
	Number  string    // 1179
}

// Receipt is a cash receipt (3) or, with Correction set, a correction receipt (31),
// as the register builds it before the drive numbers and signs it. The drive adds
// 1040, 1041, 1012, 1038, 1042 and 1077.
type Receipt struct {
	Seller       Seller
	Sign         CalcSign  // 1054
	TaxSystem    TaxSystem // 1055
	Items        []Item
	Payments     Payments
	Cashier      string // 1021
	CashierINN   string // 1203
	BuyerContact string // 1008, e-mail or +7 phone
	BuyerName    string // 1227
	BuyerINN     string // 1228
	Requisite    string // 1192
	ShopID       string // 1084 {1085 "id", 1086 ShopID}: lets recovery match the shop's document
	AgentFlags   byte   // 1057
	Agent        *AgentData
	Supplier     *Supplier // receipt-level 1171
	Correction   *Correction
}
