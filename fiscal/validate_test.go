package fiscal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	agentItem := func(r *Receipt) *Item {
		it := &r.Items[0]
		it.AgentFlags = 1 << 5 // commission agent
		it.Supplier = &Supplier{Name: "ООО Поставщик", INN: "7707083893", Phones: []string{"+74951234567"}}
		return it
	}
	correction := func(r *Receipt) *Correction {
		r.Correction = &Correction{Name: "Акт", Date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Number: "1"}
		return r.Correction
	}
	cases := []struct {
		name  string
		edit  func(r *Receipt)
		field string // "" when the receipt is valid
	}{
		{"valid", func(*Receipt) {}, ""},
		{"valid return", func(r *Receipt) { r.Sign = IncomeReturn }, ""},
		{"valid without cashier and buyer", func(r *Receipt) { r.Cashier, r.CashierINN, r.BuyerContact = "", "", "" }, ""},
		{"valid e-mail buyer", func(r *Receipt) { r.BuyerContact = "buyer@example.com" }, ""},
		{"valid agent item", func(r *Receipt) { agentItem(r) }, ""},
		{"valid correction", func(r *Receipt) { correction(r) }, ""},
		{"valid VAT sum off by one kopeck", func(r *Receipt) { r.Items[1].VATSum = 1225 }, ""},
		{"valid foreign supplier INN", func(r *Receipt) { agentItem(r).Supplier.INN = "000000000000" }, ""},

		{"sign zero", func(r *Receipt) { r.Sign = 0 }, "sign"},
		{"sign 5", func(r *Receipt) { r.Sign = 5 }, "sign"},
		{"correction of a return", func(r *Receipt) { correction(r); r.Sign = IncomeReturn }, "sign"},
		{"no tax system", func(r *Receipt) { r.TaxSystem = 0 }, "taxSystem"},
		{"two tax systems", func(r *Receipt) { r.TaxSystem = TaxGeneral | TaxSimpleIncome }, "taxSystem"},
		{"tax system not registered", func(r *Receipt) { r.TaxSystem = TaxPatent }, "taxSystem"},
		{"tax system out of range", func(r *Receipt) { r.TaxSystem = 64 }, "taxSystem"},

		{"seller without name", func(r *Receipt) { r.Seller.Name = "" }, "seller.name"},
		{"seller INN check digit", func(r *Receipt) { r.Seller.INN = "7707083894" }, "seller.inn"},
		{"seller INN of 11 digits", func(r *Receipt) { r.Seller.INN = "77070838931" }, "seller.inn"},
		{"seller without address", func(r *Receipt) { r.Seller.Address = "" }, "seller.address"},
		{"seller place too long", func(r *Receipt) { r.Seller.Place = strings.Repeat("ж", 257) }, "seller.place"},
		{"registration number short", func(r *Receipt) { r.Seller.RegNumber = "12345" }, "seller.regNumber"},
		{"sender e-mail", func(r *Receipt) { r.Seller.Email = "kassa" }, "seller.email"},

		{"correction without name", func(r *Receipt) { correction(r).Name = "" }, "correction.name"},
		{"correction without date", func(r *Receipt) { correction(r).Date = time.Time{} }, "correction.date"},
		{"correction number too long", func(r *Receipt) { correction(r).Number = strings.Repeat("1", 33) }, "correction.number"},

		{"no items", func(r *Receipt) { r.Items = nil }, "items"},
		{"item without name", func(r *Receipt) { r.Items[2].Name = "" }, "items[2].name"},
		{"item name over 128 CP866 bytes", func(r *Receipt) { r.Items[1].Name = strings.Repeat("я", 129) }, "items[1].name"},
		{"item name at 128 CP866 bytes", func(r *Receipt) { r.Items[1].Name = strings.Repeat("я", 128) }, ""},
		{"item name not CP866 (written with a stand-in)", func(r *Receipt) { r.Items[0].Name = "Чай 🍵" }, ""},
		{"negative price", func(r *Receipt) { r.Items[2].Price = -100 }, "items[2].price"},
		{"zero quantity", func(r *Receipt) { r.Items[0].Quantity = Quantity{} }, "items[0].quantity"},
		{"quantity with 7 decimals", func(r *Receipt) { r.Items[0].Quantity = Quantity{Value: 20000000, Decimals: 7} }, "items[0].quantity"},
		{"sum not price × quantity", func(r *Receipt) { r.Items[1].Sum = 13484; r.Payments.Electronic-- }, "items[1].sum"},
		{"sum rounded down instead of half-up", func(r *Receipt) {
			r.Items[1].Price, r.Items[1].Quantity = 333, Quantity{Value: 1500, Decimals: 3}
			r.Items[1].Sum = 499
			r.Payments.Electronic = r.Total() - r.Payments.Cash
		}, "items[1].sum"},
		{"negative sum", func(r *Receipt) { r.Items[0].Sum = -1 }, "items[0].sum"},
		{"VAT rate zero", func(r *Receipt) { r.Items[0].VAT = 0 }, "items[0].vat"},
		{"VAT rate 13", func(r *Receipt) { r.Items[0].VAT = 13 }, "items[0].vat"},
		{"ESC in a name", func(r *Receipt) { r.Items[0].Name = "Чай\x1b@" }, "items[0].name"},
		{"NUL in the cashier", func(r *Receipt) { r.Cashier = "Иванова\x00" }, "cashier"},
		{"VAT sum ×20/100", func(r *Receipt) { r.Items[0].VATSum = 6000 }, "items[0].vatSum"},
		{"VAT sum off by two", func(r *Receipt) { r.Items[1].VATSum = 1228 }, "items[1].vatSum"},
		{"VAT sum negative", func(r *Receipt) { r.Items[1].VATSum = -2 }, "items[1].vatSum"},
		{"subject zero", func(r *Receipt) { r.Items[0].Subject = 0 }, "items[0].subject"},
		{"subject 19", func(r *Receipt) { r.Items[0].Subject = 19 }, "items[0].subject"},
		{"method 8", func(r *Receipt) { r.Items[2].Method = 8 }, "items[2].method"},
		{"unit too long", func(r *Receipt) { r.Items[1].Unit = "килограммов много" }, "items[1].unit"},
		{"mark code too long", func(r *Receipt) { r.Items[0].MarkCode = make([]byte, 33) }, "items[0].markCode"},
		{"agent flags bit 7", func(r *Receipt) { agentItem(r).AgentFlags = 0x80 }, "items[0].agentFlags"},
		{"agent item without supplier", func(r *Receipt) { agentItem(r).Supplier = nil }, "items[0].supplier.name"},
		{"agent item without supplier name", func(r *Receipt) { agentItem(r).Supplier.Name = "" }, "items[0].supplier.name"},
		{"agent item without supplier INN", func(r *Receipt) { agentItem(r).Supplier.INN = "" }, "items[0].supplier.inn"},
		{"supplier INN check digit", func(r *Receipt) { agentItem(r).Supplier.INN = "7707083890" }, "items[0].supplier.inn"},
		{"supplier phone without +", func(r *Receipt) { agentItem(r).Supplier.Phones = []string{"84951234567"} }, "items[0].supplier.phones[0]"},
		{"agent operation too long", func(r *Receipt) { r.Items[0].Agent = &AgentData{Operation: strings.Repeat("x", 25)} }, "items[0].agent.operation"},
		{"agent transfer INN", func(r *Receipt) { r.Items[0].Agent = &AgentData{TransferOperINN: "123"} }, "items[0].agent.transferOperInn"},
		{"country not digits", func(r *Receipt) { r.Items[0].Country = "CHN" }, "items[0].country"},
		{"customs too long", func(r *Receipt) { r.Items[0].Customs = strings.Repeat("1", 33) }, "items[0].customs"},
		{"supplier data over 512 bytes", func(r *Receipt) {
			s := agentItem(r).Supplier
			s.Name = strings.Repeat("П", 256)
			for range 12 {
				s.Phones = append(s.Phones, "+7495123456789012")
			}
		}, "items[0]"},
		{"total over 6 bytes", func(r *Receipt) {
			r.Items[0].Price, r.Items[0].Sum = MaxMoney/2+1, MaxMoney+1
		}, "items[0].sum"},

		{"negative cash", func(r *Receipt) { r.Payments.Cash = -10000; r.Payments.Electronic += 20000 }, "payments.cash"},
		{"negative other", func(r *Receipt) { r.Payments.Other = -1 }, "payments.other"},
		{"payments short of total", func(r *Receipt) { r.Payments.Electronic-- }, "payments"},
		{"payments over total", func(r *Receipt) { r.Payments.Prepaid = 1 }, "payments"},

		{"cashier too long", func(r *Receipt) { r.Cashier = strings.Repeat("К", 65) }, "cashier"},
		{"cashier INN without cashier", func(r *Receipt) { r.Cashier = "" }, "cashier"},
		{"cashier INN check digits", func(r *Receipt) { r.CashierINN = "500100732258" }, "cashierInn"},
		{"buyer contact plain text", func(r *Receipt) { r.BuyerContact = "позвонить" }, "buyerContact"},
		{"buyer phone +8", func(r *Receipt) { r.BuyerContact = "+89161234567" }, "buyerContact"},
		{"buyer phone short", func(r *Receipt) { r.BuyerContact = "+7916123456" }, "buyerContact"},
		{"buyer e-mail without domain dot", func(r *Receipt) { r.BuyerContact = "buyer@localhost" }, "buyerContact"},
		{"buyer INN", func(r *Receipt) { r.BuyerINN = "1234567890" }, "buyerInn"},
		{"requisite over 16", func(r *Receipt) { r.Requisite = "3769574b-d082-4fe2" }, "requisite"},
		{"shop id over 256", func(r *Receipt) { r.ShopID = strings.Repeat("a", 257) }, "shopId"},
		{"receipt agent flags bit 7", func(r *Receipt) { r.AgentFlags = 0xFF }, "agentFlags"},
		{"receipt agent phone", func(r *Receipt) { r.Agent = &AgentData{PayingAgentPhones: []string{"+7 495"}} }, "agent.payingAgentPhones[0]"},
		{"receipt supplier phone too long", func(r *Receipt) { r.Supplier = &Supplier{Phones: []string{"+" + strings.Repeat("1", 19)}} }, "supplier.phones[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testReceipt()
			c.edit(r)
			err := r.Validate()
			if testing.Verbose() && err != nil {
				t.Log(err)
			}
			checkField(t, err, c.field)
		})
	}
}

// TestValidateOrder pins the order in which rules report: the first broken field wins.
func TestValidateOrder(t *testing.T) {
	r := testReceipt()
	r.Payments.Cash = -1
	r.Items[2].Price = -1
	r.Seller.INN = "1"
	checkField(t, r.Validate(), "seller.inn")
	r.Seller.INN = "7707083893"
	checkField(t, r.Validate(), "items[2].price")
	r.Items[2].Price = 30000
	checkField(t, r.Validate(), "payments.cash")
}

func TestFieldErrorMessage(t *testing.T) {
	var err error = &FieldError{Field: "items[2].price", Rule: "negative sum -5"}
	if got := err.Error(); got != "items[2].price: negative sum -5" {
		t.Errorf("Error() = %q", got)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "items[2].price" {
		t.Errorf("errors.As gave %+v", fe)
	}
}
