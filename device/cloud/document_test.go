package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/fiscal"
)

func TestParseMoney(t *testing.T) {
	cases := []struct {
		in   string
		want Money
		err  error
	}{
		{"1990", 199000, nil},
		{"1990.00", 199000, nil},
		{"19.9", 1990, nil},
		{"19.900000000000002", 1990, nil}, // float noise from a client's division
		{"0.30000000000000004", 30, nil},
		{"1.0049999999", 0, errPrecision}, // half a kopeck off is no float noise
		{"1.005", 0, errPrecision},
		{"0.001", 0, errPrecision},
		{"1e2", 10000, nil},
		{"0", 0, nil},
		{"-1", 0, errNegative},
		{"abc", 0, errNotNumber},
		{"1/2", 0, errNotNumber},
		{"3000000000000", 0, errTooLarge},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseMoney(c.in)
			if !errors.Is(err, c.err) {
				t.Fatalf("ParseMoney(%s) error %v, want %v", c.in, err, c.err)
			}
			if err == nil && got != c.want {
				t.Fatalf("ParseMoney(%s) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestParseQuantity(t *testing.T) {
	cases := []struct {
		in   string
		want Quantity
		ok   bool
	}{
		{"1", Quantity{1, 0}, true},
		{"2.5", Quantity{25, 1}, true},
		{"0.001", Quantity{1, 3}, true},
		{"1.250", Quantity{125, 2}, true},
		{"0.30000000000000004", Quantity{3, 1}, true},
		{"0.0005", Quantity{}, false},
		{"-2", Quantity{}, false},
	}
	for _, c := range cases {
		got, err := parseQuantity(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseQuantity(%s) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if c.ok {
			b, _ := got.MarshalJSON()
			back, err := parseQuantity(string(b))
			if err != nil || back != got {
				t.Errorf("quantity %s does not round-trip: %s → %v, %v", c.in, b, back, err)
			}
		}
	}
}

var testPoint = Point{ID: "p1", Name: `ООО "Песочница"`, INN: "7707083893",
	TaxSystems: fiscal.TaxGeneral | fiscal.TaxSimpleIncome, Address: "г. Москва, ул. Тверская, д. 1",
	Place: "https://shop.example", Email: "receipts@shop.example"}

func TestDocumentRefusals(t *testing.T) {
	cases := []struct {
		name  string
		body  []byte
		field string
	}{
		{"not an object", []byte(`[1]`), ""},
		{"positions not a list", cloudtest.Doc(func(m map[string]any) { m["inventPositions"] = 5 }), "inventPositions"},
		{"position not an object", cloudtest.Doc(func(m map[string]any) { m["inventPositions"] = []any{5} }), "inventPositions[0]"},
		{"no id", cloudtest.Doc(func(m map[string]any) { delete(m, "id") }), "id"},
		{"slash in id", cloudtest.Doc(func(m map[string]any) { m["id"] = "a/b" }), "id"},
		{"no type", cloudtest.Doc(func(m map[string]any) { delete(m, "docType") }), "docType"},
		{"unknown type", cloudtest.Doc(func(m map[string]any) { m["docType"] = "GIFT" }), "docType"},
		{"types differ", cloudtest.Doc(func(m map[string]any) { m["documentType"] = "RETURN" }), "documentType"},
		{"correction without basis", cloudtest.Doc(func(m map[string]any) { m["docType"] = "SALE_CORRECTION" }), "correction"},
		{"basis without correction", cloudtest.Doc(func(m map[string]any) { m["correction"] = map[string]any{"type": "SELF"} }), "correction"},
		{"correction type", cloudtest.Doc(func(m map[string]any) {
			m["docType"], m["correction"] = "BUY_CORRECTION", map[string]any{"type": "MINE", "baseName": "x", "baseDate": "2026-11-20"}
		}), "correction.type"},
		{"correction date", cloudtest.Doc(func(m map[string]any) {
			m["docType"], m["correction"] = "BUY_CORRECTION", map[string]any{"type": "SELF", "baseName": "x", "baseDate": "20.11.2026"}
		}), "correction.baseDate"},
		{"no contact", cloudtest.Doc(func(m map[string]any) { delete(m, "email") }), "email"},
		{"bad phone", cloudtest.Doc(func(m map[string]any) { m["email"] = "+7916123" }), "email"},
		{"bad date", cloudtest.Doc(func(m map[string]any) { m["checkoutDateTime"] = "yesterday" }), "checkoutDateTime"},
		{"tax mode", cloudtest.Doc(func(m map[string]any) { m["taxMode"] = "FLAT" }), "taxMode"},
		{"id not CP866", cloudtest.Doc(func(m map[string]any) { m["id"] = "заказ-à" }), "id"},
		{"id fraction", cloudtest.Doc(func(m map[string]any) { m["id"] = 5.5 }), "id"},
		{"id negative", cloudtest.Doc(func(m map[string]any) { m["id"] = -5 }), "id"},
		{"id bool", cloudtest.Doc(func(m map[string]any) { m["id"] = true }), "id"},
		{"docNum fraction", cloudtest.Doc(func(m map[string]any) { m["docNum"] = 10.5 }), "docNum"},
		{"price text", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["price"] = " 100" }), "inventPositions[1].price"},
		{"price text third decimal", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["price"] = "1.005" }), "inventPositions[1].price"},
		{"price type", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["price"] = "cheap" }), "inventPositions[1].price"},
		{"third decimal", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["price"] = 1.005 }), "inventPositions[1].price"},
		{"negative price", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["price"] = -1 }), "inventPositions[0].price"},
		{"no quantity", cloudtest.Doc(func(m map[string]any) { delete(cloudtest.Pos(m, 0), "quantity") }), "inventPositions[0].quantity"},
		{"4 decimals", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["quantity"] = 0.0005 }), "inventPositions[1].quantity"},
		{"zero quantity", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["quantity"] = 0 }), "inventPositions[1].quantity"},
		{"vat tag", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["vatTag"] = 1199 }), "inventPositions[0].vatTag"},
		{"disc decimals", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["discSum"] = 0.015 }), "inventPositions[1].discSum"},
		{"object", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["paymentObject"] = "goods" }), "inventPositions[0].paymentObject"},
		{"method", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["paymentMethod"] = "later" }), "inventPositions[0].paymentMethod"},
		{"mark and code", cloudtest.Doc(func(m map[string]any) {
			cloudtest.Pos(m, 0)["productMark"], cloudtest.Pos(m, 0)["nomenclatureCode"] = "4606203090785", "45 0D 04 30 77 19 57 61"
		}), "inventPositions[0].nomenclatureCode"},
		{"code not hex", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["nomenclatureCode"] = "45 0D zz" }), "inventPositions[0].nomenclatureCode"},
		{"supplier type", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["supplierInfo"] = map[string]any{"name": 5} }), "inventPositions[1].supplierInfo.name"},
		{"agent type", cloudtest.Doc(func(m map[string]any) { m["agentInfo"] = map[string]any{"types": []string{"attorney", "spy"}} }), "agentInfo.types[1]"},
		{"agent no types", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["agentInfo"] = map[string]any{} }), "inventPositions[0].agentInfo.types"},
		{"no positions", cloudtest.Doc(func(m map[string]any) { m["inventPositions"] = []any{} }), "inventPositions"},
		{"no payments", cloudtest.Doc(func(m map[string]any) { delete(m, "moneyPositions") }), "moneyPositions"},
		{"payment type", cloudtest.Doc(func(m map[string]any) {
			m["moneyPositions"].([]any)[1].(map[string]any)["paymentType"] = "BITCOIN"
		}), "moneyPositions[1].paymentType"},
		{"payment sum", cloudtest.Doc(func(m map[string]any) {
			m["moneyPositions"].([]any)[0].(map[string]any)["sum"] = 0.001
		}), "moneyPositions[0].sum"},
		{"long text", cloudtest.Doc(func(m map[string]any) { m["textToPrint"] = strings.Repeat("я", 3001) }), "textToPrint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			err := json.Unmarshal(c.body, &d)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *FieldError", err)
			}
			if fe.Field != c.field {
				t.Fatalf("field %q (%v), want %q", fe.Field, err, c.field)
			}
		})
	}
}

func TestReceipt(t *testing.T) {
	var d Document
	if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) { delete(m, "docType"); m["documentType"] = "RETURN" }), &d); err != nil {
		t.Fatal(err)
	}
	r, err := d.Receipt(testPoint)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seller.Name != testPoint.Name || r.Seller.INN != testPoint.INN || r.Seller.Place != testPoint.Place {
		t.Errorf("seller %+v not from the point", r.Seller)
	}
	for _, c := range []struct{ shop, offline, internet bool }{{true, false, true}, {true, true, false}, {false, false, false}} {
		p := testPoint
		p.ShopDocuments, p.Offline = c.shop, c.offline
		r, err := d.Receipt(p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seller.Internet != c.internet {
			t.Errorf("shop documents %v, offline %v: internet flag %v, want %v", c.shop, c.offline, r.Seller.Internet, c.internet)
		}
	}
	if r.ShopID != d.ID || r.Sign != fiscal.IncomeReturn || r.TaxSystem != fiscal.TaxGeneral {
		t.Errorf("shopID %q sign %d tax %d", r.ShopID, r.Sign, r.TaxSystem)
	}
	if r.BuyerContact != "buyer@example.com" || r.Cashier != "Иванова А." || r.CashierINN != "500100732259" ||
		r.BuyerName != "ООО Ромашка" || r.BuyerINN != "7707083893" {
		t.Errorf("parties %+v", r)
	}
	if (r.Payments != fiscal.Payments{Electronic: 199000, Cash: 4500}) {
		t.Errorf("payments %+v", r.Payments)
	}
	it := r.Items[0]
	// A return dated 2026 without originalDate: vatTag 1102 is 22 %.
	if it.Price != 199000 || it.Sum != 199000 || it.VAT != fiscal.VAT22 || it.Unit != "шт" || it.Subject != 1 || it.Method != 4 || it.VATSum != -1 {
		t.Errorf("item 0 %+v", it)
	}
	// 100.00 × 0.5 − 5.00 = 45.00; the unit price after discount is 90.00.
	it = r.Items[1]
	if it.Sum != 4500 || it.Price != 9000 || it.Quantity != (fiscal.Quantity{Value: 5, Decimals: 1}) || it.VAT != fiscal.VAT10 {
		t.Errorf("item 1 %+v", it)
	}
}

func TestReceiptRefusals(t *testing.T) {
	cases := []struct {
		name  string
		body  []byte
		field string
	}{
		{"payments short", cloudtest.Doc(func(m map[string]any) {
			m["moneyPositions"].([]any)[1].(map[string]any)["sum"] = 44
		}), "moneyPositions"},
		{"cashier inn", cloudtest.Doc(func(m map[string]any) { m["cashierInn"] = "500100732250" }), "cashierInn"},
		{"client inn", cloudtest.Doc(func(m map[string]any) { m["clientInn"] = "7707083890" }), "clientInn"},
		{"tax mode of another", cloudtest.Doc(func(m map[string]any) { m["taxMode"] = "PATENT" }), "taxMode"},
		{"vat sum", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["vatSum"] = 398.00 }), "inventPositions[0].vatSum"},
		{"long name", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["name"] = strings.Repeat("x", 129) }), "inventPositions[0].name"},
		{"discount too big", cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["discSum"] = 51 }), "inventPositions[1].discSum"},
		// A marking code names one unit: such a position is not split.
		{"discount unsplittable", cloudtest.Doc(func(m map[string]any) {
			p := cloudtest.Pos(m, 1)
			p["price"], p["quantity"], p["discSum"] = 100, 3, 0.01
			p["nomenclatureCode"] = "45 0D 04 30 77 19 57 61"
			m["moneyPositions"].([]any)[1].(map[string]any)["sum"] = 299.99
		}), "inventPositions[1].discSum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			if err := json.Unmarshal(c.body, &d); err != nil {
				t.Fatalf("decode: %v", err)
			}
			_, err := d.Receipt(testPoint)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want field %q", err, c.field)
			}
		})
	}
	// The computed VAT is accepted within a kopeck: 1990.00 × 22 / 122 = 358.852.
	var d Document
	if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["vatSum"] = 358.86 }), &d); err != nil {
		t.Fatal(err)
	}
	if r, err := d.Receipt(testPoint); err != nil || r.Items[0].VATSum != 35886 {
		t.Fatalf("vatSum 358.86: %v", err)
	}
}

func TestReceiptAgentsMarksCorrection(t *testing.T) {
	var d Document
	err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) {
		m["agentInfo"] = map[string]any{"types": []string{"paying_agent"},
			"payingAgent":           map[string]any{"operation": "оплата", "phones": []string{"+74951234567"}},
			"moneyTransferOperator": map[string]any{"name": "ООО Перевод", "inn": "7707083893", "address": "Москва"}}
		p := cloudtest.Pos(m, 0)
		p["productMark"] = "010460043993125621JgXJ5.T<GS>8005112000<GS>930001<GS>923zbrLA==<GS>24014276281"
		p["agentInfo"] = map[string]any{"types": []string{"commission_agent", "attorney"}}
		p["supplierInfo"] = map[string]any{"name": "ООО Поставщик", "inn": "7707083893", "phones": []string{"+74951234567"}}
		cloudtest.Pos(m, 1)["nomenclatureCode"] = "45 0D 04 30 77 19 57 61"
	}), &d)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Receipt(testPoint)
	if err != nil {
		t.Fatal(err)
	}
	if r.AgentFlags != 1<<2 || r.Agent == nil || r.Agent.Operation != "оплата" || r.Agent.TransferOperName != "ООО Перевод" || r.Agent.TransferOperINN != "7707083893" {
		t.Errorf("receipt agent %#x %+v", r.AgentFlags, r.Agent)
	}
	it := r.Items[0]
	if it.AgentFlags != 1<<5|1<<4 || it.Agent != nil || it.Supplier == nil || it.Supplier.INN != "7707083893" || it.Supplier.Phones[0] != "+74951234567" {
		t.Errorf("item agent %#x %+v %+v", it.AgentFlags, it.Agent, it.Supplier)
	}
	wantMark := "444d042f1f9681784a67584a352e54313132303030"
	if got := fmt.Sprintf("%x", it.MarkCode); got != wantMark {
		t.Errorf("1162 from productMark %s, want %s", got, wantMark)
	}
	if got := fmt.Sprintf("%x", r.Items[1].MarkCode); got != "450d043077195761" {
		t.Errorf("1162 from nomenclatureCode %s", got)
	}

	// An agent's position needs its supplier; the fiscal model says so, we name the shop's field.
	err = json.Unmarshal(cloudtest.Doc(func(m map[string]any) {
		cloudtest.Pos(m, 1)["agentInfo"] = map[string]any{"types": []string{"attorney"}}
	}), &d)
	if err != nil {
		t.Fatal(err)
	}
	var fe *FieldError
	if _, err := d.Receipt(testPoint); !errors.As(err, &fe) || fe.Field != "inventPositions[1].supplierInfo.name" {
		t.Errorf("agent without supplier: %v", err)
	}

	if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) {
		m["docType"] = "SALE_CORRECTION"
		m["correction"] = map[string]any{"type": "ORDER", "baseName": "Предписание", "baseDate": "2026-11-20", "baseNumber": "17"}
	}), &d); err != nil {
		t.Fatal(err)
	}
	if r, err = d.Receipt(testPoint); err != nil {
		t.Fatal(err)
	}
	c := r.Correction
	if r.Sign != fiscal.Income || c == nil || !c.ByOrder || c.Name != "Предписание" || c.Number != "17" ||
		!c.Date.Equal(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("correction sign %d %+v", r.Sign, c)
	}
}

func TestShopField(t *testing.T) {
	for in, want := range map[string]string{
		"items[2].price":                 "inventPositions[2].price",
		"items[0].sum":                   "inventPositions[0].price",
		"items[1].agent.transferOperInn": "inventPositions[1].agentInfo.moneyTransferOperator.inn",
		"items[1].supplier.phones":       "inventPositions[1].supplierInfo.phones",
		"items[3]":                       "inventPositions[3]",
		"payments.cash":                  "moneyPositions",
		"payments":                       "moneyPositions",
		"buyerContact":                   "email",
		"agent.operation":                "agentInfo.payingAgent.operation",
		"correction.date":                "correction.baseDate",
		"seller.inn":                     "retailPoint.inn",
		"cashierInn":                     "cashierInn",
	} {
		if got := shopField(in, nil); got != want {
			t.Errorf("shopField(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestDocumentRoundTrip(t *testing.T) {
	var d Document
	if err := json.Unmarshal(cloudtest.Doc(nil), &d); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	var back Document
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("stored form does not decode: %v\n%s", err, b)
	}
	b2, _ := json.Marshal(&back)
	if string(b) != string(b2) {
		t.Fatalf("not stable:\n%s\n%s", b, b2)
	}
	if !strings.Contains(string(b), `"price":1990.00`) || strings.Contains(string(b), "unknownField") {
		t.Fatalf("stored form %s", b)
	}
}

func FuzzDocumentJSON(f *testing.F) {
	f.Add(cloudtest.Doc(nil))
	f.Add(cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["price"] = 19.900000000000002 }))
	f.Add([]byte(`{"id":"x","documentType":"BUY","email":"+79161234567","inventPositions":[{"name":"a","price":1e2,"quantity":0.001,"vatTag":1105}],"moneyPositions":[{"paymentType":"OTHER","sum":0.1}]}`))
	f.Add([]byte(`{"inventPositions":[null,{}],"moneyPositions":[1]}`))
	f.Add(cloudtest.Doc(func(m map[string]any) {
		m["docType"] = "BUY_CORRECTION"
		m["correction"] = map[string]any{"type": "SELF", "baseName": "акт", "baseDate": "2026-11-20"}
		m["agentInfo"] = map[string]any{"types": []string{"another"}, "payingAgent": map[string]any{"operation": "x"}}
		cloudtest.Pos(m, 0)["supplierInfo"] = map[string]any{"name": "ООО", "inn": "7707083893"}
		cloudtest.Pos(m, 0)["productMark"] = "4606203090785"
		cloudtest.Pos(m, 1)["nomenclatureCode"] = "45 08 00 00 02 C0 EE D8"
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Document
		if err := json.Unmarshal(b, &d); err != nil {
			var fe *FieldError
			var se *json.SyntaxError
			if !errors.As(err, &fe) && !errors.As(err, &se) {
				t.Fatalf("error %v is neither a *FieldError nor a syntax error", err)
			}
			return
		}
		if _, err := d.Receipt(testPoint); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("receipt error %v is not a *FieldError", err)
			}
		}
		stored, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		var back Document
		if err := json.Unmarshal(stored, &back); err != nil {
			t.Fatalf("stored form %s does not decode: %v", stored, err)
		}
		again, _ := json.Marshal(&back)
		if string(again) != string(stored) {
			t.Fatalf("stored form not stable:\n%s\n%s", stored, again)
		}
	})
}

// The integer fast path reads every number exactly as the rational path does.
func FuzzParseFixed(f *testing.F) {
	for _, s := range []string{"0", "19.9", "19.90", "19.900000000000002", "1e2", "-0", "007.5", "1.", ".5",
		"281474976710.65", "281474976710.66", "999999999999999", "9999999999999999", "0.001", "1.2345", "+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range []int{2, 3} {
			got, err := parseFixed(s, d)
			want, wantErr := parseRat(s, d)
			if got != want || !errors.Is(err, wantErr) {
				t.Fatalf("parseFixed(%q, %d) = %d, %v; the rational path says %d, %v", s, d, got, err, want, wantErr)
			}
		}
	})
}
