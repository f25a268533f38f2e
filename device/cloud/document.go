package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openkassa/kassa/fiscal"
)

// FieldError is a shop document refused because of one field; Field is the shop's
// JSON path (inventPositions[1].price), which the shop API answers in its 400.
type FieldError struct {
	Field   string
	Message string
	Err     error // the fiscal package's error, when the model refused it
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "cloud: document: " + e.Message
	}
	return "cloud: document field " + e.Field + ": " + e.Message
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrorf is a FieldError for field with a formatted message.
func FieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Document is a shop's document as the vendor's API defines it (FFD105.md, "Shop
// document"), with money in kopecks, plus our correction-receipt extension. Fields
// outside the API are ignored, as the vendor ignores them.
type Document struct {
	ID               string          `json:"id"`
	DocNum           string          `json:"docNum,omitempty"`
	DocType          string          `json:"docType"`
	CheckoutDateTime time.Time       `json:"checkoutDateTime,omitzero"`
	Email            string          `json:"email"` // buyer's e-mail or +7 phone → 1008
	PrintReceipt     bool            `json:"printReceipt"`
	ResponseURL      string          `json:"responseURL,omitempty"`
	TextToPrint      string          `json:"textToPrint,omitempty"`
	CashierName      string          `json:"cashierName,omitempty"`
	CashierInn       string          `json:"cashierInn,omitempty"`
	CashierPosition  string          `json:"cashierPosition,omitempty"`
	ClientName       string          `json:"clientName,omitempty"`
	ClientInn        string          `json:"clientInn,omitempty"`
	TaxMode          string          `json:"taxMode,omitempty"` // empty: the point's
	InventPositions  []Position      `json:"inventPositions"`
	MoneyPositions   []MoneyPosition `json:"moneyPositions"`
	AgentInfo        *AgentInfo      `json:"agentInfo,omitempty"`  // → 1057 and the receipt's agent tags
	Correction       *Correction     `json:"correction,omitempty"` // our extension: SALE_CORRECTION, BUY_CORRECTION
	// OriginalDate is our extension: the day of the operation this one follows
	// from (the sale a return gives back, the credit sale a credit payment
	// pays). Before 2026 it keeps vatTag 1102/1106 at 20 % (see VAT2026).
	OriginalDate time.Time `json:"originalDate,omitzero"`
}

// AgentInfo is the vendor's agent block: on the document → 1057, on a position → 1222/1223.
type AgentInfo struct {
	Types                   []string               `json:"types"`
	PayingAgent             *PayingAgent           `json:"payingAgent,omitempty"`
	ReceivePaymentsOperator *PaymentsOperator      `json:"receivePaymentsOperator,omitempty"`
	MoneyTransferOperator   *MoneyTransferOperator `json:"moneyTransferOperator,omitempty"`
}

// PayingAgent is the paying agent's operation (1044) and phones (1073).
type PayingAgent struct {
	Operation string   `json:"operation,omitempty"`
	Phones    []string `json:"phones,omitempty"`
}

// PaymentsOperator is the payment-receiving operator's phones (1074).
type PaymentsOperator struct {
	Phones []string `json:"phones,omitempty"`
}

// MoneyTransferOperator is 1075 phones, 1026 name, 1005 address and 1016 INN.
type MoneyTransferOperator struct {
	Phones  []string `json:"phones,omitempty"`
	Name    string   `json:"name,omitempty"`
	Address string   `json:"address,omitempty"`
	Inn     string   `json:"inn,omitempty"`
}

// SupplierInfo is a position's supplier: 1224 {1225 name, 1171 phones} and 1226 INN.
type SupplierInfo struct {
	Name   string   `json:"name,omitempty"`
	Inn    string   `json:"inn,omitempty"`
	Phones []string `json:"phones,omitempty"`
}

// Correction is the basis of a correction receipt (1173, 1174); our extension of the API.
type Correction struct {
	Type       string `json:"type"`     // SELF (1173 = 0) or ORDER (1)
	BaseName   string `json:"baseName"` // 1177
	BaseDate   string `json:"baseDate"` // 1178, YYYY-MM-DD
	BaseNumber string `json:"baseNumber,omitempty"`
}

// Position is one inventPositions entry.
type Position struct {
	Name                     string        `json:"name"`
	Price                    Money         `json:"price"`
	Quantity                 Quantity      `json:"quantity"`
	VatTag                   int           `json:"vatTag,omitempty"` // 0: absent (see vatTagAbsent)
	VatSum                   *Money        `json:"vatSum,omitempty"`
	DiscSum                  Money         `json:"discSum,omitempty"`
	PaymentObject            string        `json:"paymentObject,omitempty"` // empty: commodity
	PaymentMethod            string        `json:"paymentMethod,omitempty"` // empty: full_payment
	Measure                  string        `json:"measure,omitempty"`       // → 1197
	InventCode               string        `json:"inventCode,omitempty"`
	Barcode                  string        `json:"barcode,omitempty"`
	OriginCountryCode        string        `json:"originCountryCode,omitempty"`
	CustomsDeclarationNumber string        `json:"customsDeclarationNumber,omitempty"`
	ProductMark              string        `json:"productMark,omitempty"`      // as scanned; the cloud builds 1162
	NomenclatureCode         string        `json:"nomenclatureCode,omitempty"` // 1162 built, hex bytes
	AgentInfo                *AgentInfo    `json:"agentInfo,omitempty"`
	SupplierInfo             *SupplierInfo `json:"supplierInfo,omitempty"`
}

// MoneyPosition is one payment.
type MoneyPosition struct {
	PaymentType string `json:"paymentType"`
	Sum         Money  `json:"sum"`
}

var docTypes = map[string]fiscal.CalcSign{
	"SALE": fiscal.Income, "RETURN": fiscal.IncomeReturn,
	"BUY": fiscal.Expense, "BUY_RETURN": fiscal.ExpenseReturn,
	"SALE_CORRECTION": fiscal.Income, "BUY_CORRECTION": fiscal.Expense,
}

// AgentTypes are the shop API's agent type names and their bits in 1057.
var AgentTypes = map[string]byte{
	"bank_paying_agent": 1 << 0, "bank_paying_subagent": 1 << 1, "paying_agent": 1 << 2,
	"paying_subagent": 1 << 3, "attorney": 1 << 4, "commission_agent": 1 << 5, "another": 1 << 6,
}

// TaxModes are the shop API's taxMode names and their tax systems (1055).
var TaxModes = map[string]fiscal.TaxSystem{
	"COMMON": fiscal.TaxGeneral, "SIMPLIFIED": fiscal.TaxSimpleIncome,
	"SIMPLIFIED_WITH_EXPENSE": fiscal.TaxSimpleProfit, "ENVD": fiscal.TaxImputed,
	"COMMON_AGRICULTURAL": fiscal.TaxAgricultural, "PATENT": fiscal.TaxPatent,
}

// vatTags are the vendor's vatTag codes (not FFD tags; 1108 is unused). 1102
// and 1106 are the standard rate: see VAT2026 for what they mean from 2026.
var vatTags = map[int]fiscal.VATRate{
	1102: fiscal.VAT20, 1103: fiscal.VAT10, 1104: fiscal.VAT0,
	1105: fiscal.VATNone, 1106: fiscal.VAT20120, 1107: fiscal.VAT10110,
	1109: fiscal.VAT5, 1110: fiscal.VAT7, 1111: fiscal.VAT5105, 1112: fiscal.VAT7107,
	1113: fiscal.VAT22, 1114: fiscal.VAT22122,
}

// vatTagCodes is how an error names the codes vatTag takes.
const vatTagCodes = "1102–1107 or 1109–1114"

var paymentObjects = map[string]byte{
	"commodity": 1, "excise": 2, "job": 3, "service": 4, "gambling_bet": 5,
	"gambling_prize": 6, "lottery": 7, "lottery_prize": 8, "intellectual_activity": 9,
	"payment": 10, "agent_commission": 11, "composite": 12, "another": 13,
	"property_right": 14, "non-operating_gain": 15, "insurance_premium": 16,
	"sales_tax": 17, "resort_fee": 18,
}

var paymentMethods = map[string]byte{
	"full_prepayment": 1, "prepayment": 2, "advance": 3, "full_payment": 4,
	"partial_payment": 5, "credit": 6, "credit_payment": 7,
}

var paymentTypes = map[string]func(*fiscal.Payments) *int64{
	"CASH":    func(p *fiscal.Payments) *int64 { return &p.Cash },
	"CARD":    func(p *fiscal.Payments) *int64 { return &p.Electronic },
	"PREPAID": func(p *fiscal.Payments) *int64 { return &p.Prepaid },
	"POSTPAY": func(p *fiscal.Payments) *int64 { return &p.Credit },
	"OTHER":   func(p *fiscal.Payments) *int64 { return &p.Other },
}

// The wire shapes keep numbers as text and positions raw, so that every error can
// name its field with the position's index.
type documentWire struct {
	ID               json.RawMessage   `json:"id"`     // a string, or a whole number (wholeText)
	DocNum           json.RawMessage   `json:"docNum"` // likewise
	DocType          string            `json:"docType"`
	DocumentType     string            `json:"documentType"` // the vendor's field table spells it so
	CheckoutDateTime string            `json:"checkoutDateTime"`
	Email            string            `json:"email"`
	PrintReceipt     bool              `json:"printReceipt"`
	ResponseURL      string            `json:"responseURL"`
	TextToPrint      string            `json:"textToPrint"`
	CashierName      string            `json:"cashierName"`
	CashierInn       string            `json:"cashierInn"`
	CashierPosition  string            `json:"cashierPosition"`
	ClientName       string            `json:"clientName"`
	ClientInn        string            `json:"clientInn"`
	TaxMode          string            `json:"taxMode"`
	InventPositions  []json.RawMessage `json:"inventPositions"`
	MoneyPositions   []json.RawMessage `json:"moneyPositions"`
	AgentInfo        json.RawMessage   `json:"agentInfo"`
	Correction       json.RawMessage   `json:"correction"`
	OriginalDate     string            `json:"originalDate"`
}

type positionWire struct {
	Name                     string          `json:"name"`
	Price                    number          `json:"price"`
	Quantity                 number          `json:"quantity"`
	VatTag                   number          `json:"vatTag"`
	VatSum                   number          `json:"vatSum"`
	DiscSum                  number          `json:"discSum"`
	PaymentObject            string          `json:"paymentObject"`
	PaymentMethod            string          `json:"paymentMethod"`
	Measure                  string          `json:"measure"`
	InventCode               string          `json:"inventCode"`
	Barcode                  string          `json:"barcode"`
	OriginCountryCode        string          `json:"originCountryCode"`
	CustomsDeclarationNumber string          `json:"customsDeclarationNumber"`
	ProductMark              string          `json:"productMark"`
	NomenclatureCode         string          `json:"nomenclatureCode"`
	AgentInfo                json.RawMessage `json:"agentInfo"`
	SupplierInfo             json.RawMessage `json:"supplierInfo"`
}

// number is a JSON number kept as its text, so money is parsed exactly and a
// wrong type is reported with the field's own path.
type number []byte

func (n *number) UnmarshalJSON(b []byte) error {
	if string(b) != "null" {
		*n = append((*n)[:0], b...)
	}
	return nil
}

// text returns the number's text, or an error naming field if it is not a
// number. A number sent as a string ("46.8", "1105": clients that take the
// values from a database's text columns) is the same number: its text is
// read by the same exact parsers, so nothing is rounded on the way.
func (n number) text(field string) (string, error) {
	s := string(n)
	if len(n) > 0 && n[0] == '"' {
		if err := json.Unmarshal(n, &s); err != nil {
			return "", FieldErrorf(field, "expected a number, got %s", n)
		}
	}
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || !json.Valid([]byte(s)) || strings.TrimSpace(s) != s {
		return "", FieldErrorf(field, "expected a number, got %s", n)
	}
	return s, nil
}

// wholeText reads a text field that some clients send as a number (PHP shops
// send their integer order ids as they are): a string is itself, a whole
// number is its decimal text, null is absent. Anything else names the field.
func wholeText(raw json.RawMessage, field string) (string, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return "", nil
	case s[0] == '"':
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", &FieldError{Field: field, Message: "malformed string", Err: err}
		}
		return v, nil
	case strings.Trim(s, "0123456789") == "":
		return s, nil
	}
	return "", FieldErrorf(field, "expected a string or a whole number, got %s", s)
}

type moneyWire struct {
	PaymentType string `json:"paymentType"`
	Sum         number `json:"sum"`
}

// UnmarshalJSON decodes and checks a shop document; its errors are *FieldError.
// Unknown fields are ignored, as the vendor's API ignores them.
func (d *Document) UnmarshalJSON(b []byte) error {
	var w documentWire
	if err := DecodeStrict(b, &w, ""); err != nil {
		return err
	}
	id, err := wholeText(w.ID, "id")
	if err != nil {
		return err
	}
	docNum, err := wholeText(w.DocNum, "docNum")
	if err != nil {
		return err
	}
	out := Document{
		ID: id, DocNum: docNum, DocType: w.DocType, Email: w.Email,
		PrintReceipt: w.PrintReceipt, ResponseURL: w.ResponseURL, TextToPrint: w.TextToPrint,
		CashierName: w.CashierName, CashierInn: w.CashierInn, CashierPosition: w.CashierPosition,
		ClientName: w.ClientName, ClientInn: w.ClientInn, TaxMode: w.TaxMode,
	}
	if err := checkID(id); err != nil {
		return err
	}
	switch {
	case w.DocType == "" && w.DocumentType == "":
		return FieldErrorf("docType", "required")
	case w.DocType == "":
		out.DocType = w.DocumentType
	case w.DocumentType != "" && w.DocumentType != w.DocType:
		return FieldErrorf("documentType", "differs from docType")
	}
	if _, ok := docTypes[out.DocType]; !ok {
		return FieldErrorf("docType", "unknown %q", out.DocType)
	}
	isCorrection := strings.HasSuffix(out.DocType, "_CORRECTION")
	switch {
	case isCorrection && !present(w.Correction):
		return FieldErrorf("correction", "required for %s", out.DocType)
	case !isCorrection && present(w.Correction):
		return FieldErrorf("correction", "only for SALE_CORRECTION and BUY_CORRECTION")
	case isCorrection:
		c, err := decodeCorrection(w.Correction)
		if err != nil {
			return err
		}
		out.Correction = c
	}
	if w.OriginalDate != "" {
		if isCorrection {
			return FieldErrorf("originalDate", "not for corrections: correction.baseDate gives their date")
		}
		t, err := baseDate(w.OriginalDate)
		if err != nil {
			return &FieldError{Field: "originalDate", Message: "want YYYY-MM-DD", Err: err}
		}
		out.OriginalDate = t
	}
	if w.CheckoutDateTime != "" {
		t, err := parseDateTime(w.CheckoutDateTime)
		if err != nil {
			return &FieldError{Field: "checkoutDateTime", Message: "not an ISO 8601 date and time", Err: err}
		}
		out.CheckoutDateTime = t
	}
	if !validContact(w.Email) {
		return FieldErrorf("email", "need the buyer's e-mail or a phone +7 and 10 digits")
	}
	if w.ResponseURL != "" && !validURL(w.ResponseURL) {
		return FieldErrorf("responseURL", "not an http(s) URL")
	}
	if w.TaxMode != "" {
		if _, ok := TaxModes[w.TaxMode]; !ok {
			return FieldErrorf("taxMode", "unknown %q", w.TaxMode)
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"textToPrint", w.TextToPrint, 3000}, {"cashierPosition", w.CashierPosition, 64}, {"docNum", docNum, 64}} {
		if utf8.RuneCountInString(f.v) > f.max {
			return FieldErrorf(f.name, "longer than %d characters", f.max)
		}
	}
	// The fiscal model refuses control characters in what it writes; these
	// fields are printed or kept beside it. Printed text may break lines.
	for _, f := range []struct{ name, v, allowed string }{
		{"textToPrint", w.TextToPrint, "\n\r\t"}, {"cashierPosition", w.CashierPosition, ""},
		{"docNum", docNum, ""}, {"email", w.Email, ""}, {"responseURL", w.ResponseURL, ""},
		{"cashierName", w.CashierName, ""}, {"clientName", w.ClientName, ""},
	} {
		if err := CheckControls(f.name, f.v, f.allowed); err != nil {
			return err
		}
	}
	if present(w.AgentInfo) {
		a, err := decodeAgent(w.AgentInfo, "agentInfo")
		if err != nil {
			return err
		}
		out.AgentInfo = a
	}
	if len(w.InventPositions) == 0 {
		return FieldErrorf("inventPositions", "at least one position is required")
	}
	for i, raw := range w.InventPositions {
		p, err := decodePosition(raw, fmt.Sprintf("inventPositions[%d]", i))
		if err != nil {
			return err
		}
		out.InventPositions = append(out.InventPositions, p)
	}
	if len(w.MoneyPositions) == 0 {
		return FieldErrorf("moneyPositions", "at least one payment is required")
	}
	for i, raw := range w.MoneyPositions {
		path := fmt.Sprintf("moneyPositions[%d]", i)
		var mw moneyWire
		if err := DecodeStrict(raw, &mw, path); err != nil {
			return err
		}
		if _, ok := paymentTypes[mw.PaymentType]; !ok {
			return FieldErrorf(path+".paymentType", "unknown %q", mw.PaymentType)
		}
		sum, err := money(mw.Sum, path+".sum", true)
		if err != nil {
			return err
		}
		out.MoneyPositions = append(out.MoneyPositions, MoneyPosition{PaymentType: mw.PaymentType, Sum: sum})
	}
	*d = out
	return nil
}

func decodePosition(raw json.RawMessage, path string) (Position, error) {
	var w positionWire
	if err := DecodeStrict(raw, &w, path); err != nil {
		return Position{}, err
	}
	var err error
	if w.ProductMark != "" && w.NomenclatureCode != "" {
		return Position{}, FieldErrorf(path+".nomenclatureCode", "give productMark or nomenclatureCode, not both")
	}
	if utf8.RuneCountInString(w.ProductMark) > 255 {
		return Position{}, FieldErrorf(path+".productMark", "longer than 255 characters")
	}
	// GS (0x1D) separates a GS1 code's variable-length parts: the one control
	// character a marking code may hold, and nothing else may.
	for _, f := range []struct{ name, v, allowed string }{
		{"productMark", w.ProductMark, "\x1d"}, {"name", w.Name, ""}, {"measure", w.Measure, ""},
		{"inventCode", w.InventCode, ""}, {"barcode", w.Barcode, ""}, {"paymentObject", w.PaymentObject, ""},
		{"paymentMethod", w.PaymentMethod, ""}, {"originCountryCode", w.OriginCountryCode, ""},
		{"customsDeclarationNumber", w.CustomsDeclarationNumber, ""}, {"nomenclatureCode", w.NomenclatureCode, ""},
	} {
		if err := CheckControls(path+"."+f.name, f.v, f.allowed); err != nil {
			return Position{}, err
		}
	}
	if w.NomenclatureCode != "" {
		if _, err := nomenclature(w.NomenclatureCode); err != nil {
			return Position{}, &FieldError{Field: path + ".nomenclatureCode", Message: err.Error(), Err: err}
		}
	}
	var agent *AgentInfo
	if present(w.AgentInfo) {
		if agent, err = decodeAgent(w.AgentInfo, path+".agentInfo"); err != nil {
			return Position{}, err
		}
	}
	var supplier *SupplierInfo
	if present(w.SupplierInfo) {
		supplier = new(SupplierInfo)
		if err := DecodeStrict(w.SupplierInfo, supplier, path+".supplierInfo"); err != nil {
			return Position{}, err
		}
	}
	p := Position{
		Name: w.Name, PaymentObject: w.PaymentObject, PaymentMethod: w.PaymentMethod,
		Measure: w.Measure, InventCode: w.InventCode, Barcode: w.Barcode,
		OriginCountryCode: w.OriginCountryCode, CustomsDeclarationNumber: w.CustomsDeclarationNumber,
		ProductMark: w.ProductMark, NomenclatureCode: w.NomenclatureCode, AgentInfo: agent, SupplierInfo: supplier,
	}
	if p.Price, err = money(w.Price, path+".price", true); err != nil {
		return p, err
	}
	if len(w.Quantity) == 0 {
		return p, FieldErrorf(path+".quantity", "required")
	}
	qt, err := w.Quantity.text(path + ".quantity")
	if err != nil {
		return p, err
	}
	q, err := parseQuantity(qt)
	if err != nil {
		return p, &FieldError{Field: path + ".quantity", Message: err.Error() + " (at most 3 decimals)", Err: err}
	}
	if q.Value == 0 {
		return p, FieldErrorf(path+".quantity", "must be positive")
	}
	p.Quantity = q
	// An absent or null vatTag stays 0: whether the document may leave it
	// out depends on its tax system, which ReceiptAt knows (vatTagAbsent).
	if len(w.VatTag) != 0 {
		vt, err := w.VatTag.text(path + ".vatTag")
		if err != nil {
			return p, err
		}
		tag, err := strconv.Atoi(vt)
		if _, ok := vatTags[tag]; err != nil || !ok {
			return p, FieldErrorf(path+".vatTag", "unknown %s: want %s", w.VatTag, vatTagCodes)
		}
		p.VatTag = tag
	}
	if len(w.VatSum) != 0 {
		v, err := money(w.VatSum, path+".vatSum", false)
		if err != nil {
			return p, err
		}
		p.VatSum = &v
	}
	if p.DiscSum, err = money(w.DiscSum, path+".discSum", false); err != nil {
		return p, err
	}
	if _, ok := paymentObjects[w.PaymentObject]; w.PaymentObject != "" && !ok {
		return p, FieldErrorf(path+".paymentObject", "unknown %q", w.PaymentObject)
	}
	if _, ok := paymentMethods[w.PaymentMethod]; w.PaymentMethod != "" && !ok {
		return p, FieldErrorf(path+".paymentMethod", "unknown %q", w.PaymentMethod)
	}
	return p, nil
}

// money parses one money field; an absent optional field is zero.
func money(n number, field string, required bool) (Money, error) {
	if len(n) == 0 {
		if required {
			return 0, FieldErrorf(field, "required")
		}
		return 0, nil
	}
	t, err := n.text(field)
	if err != nil {
		return 0, err
	}
	m, err := ParseMoney(t)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errPrecision) {
			msg = "not a whole number of kopecks"
		}
		return 0, &FieldError{Field: field, Message: msg, Err: err}
	}
	return m, nil
}

// DecodeStrict decodes one JSON value, naming the field of a type error.
func DecodeStrict(b []byte, v any, path string) error {
	err := json.Unmarshal(b, v) // data after the value is a syntax error too
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if path != "" && field != "" {
			field = path + "." + field
		} else if field == "" {
			field = path
		}
		return &FieldError{Field: field, Message: "expected " + te.Type.String(), Err: err}
	}
	return &FieldError{Field: path, Message: "malformed JSON: " + err.Error(), Err: err}
}

func decodeAgent(raw json.RawMessage, path string) (*AgentInfo, error) {
	a := new(AgentInfo)
	if err := DecodeStrict(raw, a, path); err != nil {
		return nil, err
	}
	if len(a.Types) == 0 {
		return nil, FieldErrorf(path+".types", "at least one agent type is required")
	}
	for i, t := range a.Types {
		if _, ok := AgentTypes[t]; !ok {
			return nil, FieldErrorf(fmt.Sprintf("%s.types[%d]", path, i), "unknown %q", t)
		}
	}
	return a, nil
}

func decodeCorrection(raw json.RawMessage) (*Correction, error) {
	c := new(Correction)
	if err := DecodeStrict(raw, c, "correction"); err != nil {
		return nil, err
	}
	if c.Type != "SELF" && c.Type != "ORDER" {
		return nil, FieldErrorf("correction.type", "want SELF or ORDER, got %q", c.Type)
	}
	if _, err := baseDate(c.BaseDate); err != nil {
		return nil, &FieldError{Field: "correction.baseDate", Message: "want YYYY-MM-DD", Err: err}
	}
	return c, nil
}

// baseDate reads a correction's basis date; midnight of that day, as a register writes 1178.
func baseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}

// nomenclature reads 1162 given as hex bytes separated by spaces ("44 4D 04 2F …").
func nomenclature(s string) ([]byte, error) {
	fields := strings.Fields(s)
	if len(fields) < 2 || len(fields) > 32 {
		return nil, fmt.Errorf("want 2 to 32 hex bytes separated by spaces, got %d", len(fields))
	}
	out := make([]byte, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseUint(f, 16, 8)
		if err != nil || len(f) != 2 {
			return nil, fmt.Errorf("byte %d: %q is not two hex digits", i, f)
		}
		out[i] = byte(v)
	}
	return out, nil
}

func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// checkID keeps ids usable in a URL path segment and inside 1086.
func checkID(id string) error {
	if id == "" {
		return FieldErrorf("id", "required")
	}
	if id == "." || id == ".." {
		return FieldErrorf("id", "%q is not an id: it names a path", id)
	}
	if len(id) > 128 {
		return FieldErrorf("id", "longer than 128 bytes")
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("/?#%\\", r) || r == utf8.RuneError {
			return FieldErrorf("id", "contains %q", r)
		}
		// The id travels in the fiscal document (1086) and is matched against
		// it after a crash: it must read back as sent, not as a nearest letter.
		if b, ok := fiscal.CP866Byte(r); r >= 0x80 && (!ok || fiscal.DecodeString([]byte{b}) != string(r)) {
			return FieldErrorf("id", "character %q has no CP866 code of its own", r)
		}
	}
	return nil
}

// CheckControls refuses a control character (below U+0020, or DEL) in a text
// field unless allowed lists it.
func CheckControls(field, s, allowed string) error {
	for _, r := range s {
		if (r < 0x20 || r == 0x7f) && !strings.ContainsRune(allowed, r) {
			return FieldErrorf(field, "control character %U is not allowed", r)
		}
	}
	return nil
}

func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		return t, nil
	}
	// Some clients send local time without a zone.
	if t2, err2 := time.Parse("2006-01-02T15:04:05", s); err2 == nil {
		return t2, nil
	}
	return time.Time{}, err
}

// validContact accepts what 1008 holds: an e-mail or +7 with 10 digits.
func validContact(s string) bool {
	if len(s) > 64 || s == "" {
		return false
	}
	if strings.HasPrefix(s, "+7") {
		digits := s[2:]
		return len(digits) == 10 && strings.Trim(digits, "0123456789") == ""
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n,;<>") &&
		!strings.Contains(domain, "@") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func validURL(s string) bool {
	return (strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")) && len(s) <= 2048
}
