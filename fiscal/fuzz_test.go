package fiscal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	r := testReceipt()
	f.Add(signed(f, DocReceipt, must(f)(r.AppendTLV(nil)), shiftAndReceipt))
	f.Add(signed(f, DocShiftOpen, must(f)(testReport().AppendTLV(nil, DocShiftOpen)), nil))
	f.Add(signed(f, DocRegistration, must(f)(testRegistration().AppendTLV(nil, DocRegistration)), nil))
	f.Add(wrap(DocReceipt, unhex(f, "23 04 05 00 FF 03 01 00 00")))
	f.Add([]byte{3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Decode(b)
		if err != nil {
			return
		}
		if out := doc.Encode(); !bytes.Equal(out, b) {
			t.Fatalf("decoded and re-encoded\n %X\nfrom\n %X", out, b)
		}
		_ = doc.CheckRequired()
		j, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		if !json.Valid(j) {
			t.Fatalf("invalid JSON %s", j)
		}
	})
}

// FuzzRoundTrip builds receipts from fuzzed fields: whatever Validate accepts
// must encode, decode with every required tag, and give back its values.
func FuzzRoundTrip(f *testing.F) {
	f.Add("Чай", int64(15000), uint64(2), uint8(0), byte(1), "Иванова А.", "+79161234567", "ord-1", true)
	f.Add("Сахар", int64(8990), uint64(1500), uint8(3), byte(2), "", "buyer@example.com", "", false)
	f.Add("x", int64(0), uint64(1), uint8(6), byte(6), "№", "", strings.Repeat("z", 256), true)
	f.Add("Сްхар Qualità", int64(100), uint64(1), uint8(0), byte(6), "Crème", "", "", false) // a combining mark alone: the stand-in
	f.Fuzz(func(t *testing.T, name string, price int64, qty uint64, dec uint8, vat byte, cashier, contact, shopID string, cash bool) {
		r := testReceipt()
		it := Item{Name: name, Price: price, Quantity: Quantity{Value: qty, Decimals: dec}, VAT: VATRate(vat),
			VATSum: -1, Subject: 1, Method: 4}
		it.Sum = ItemSum(price, it.Quantity)
		r.Items = append(r.Items, it)
		r.Payments = Payments{Electronic: r.Total()}
		if cash {
			r.Payments = Payments{Cash: r.Total()}
		}
		r.Cashier, r.CashierINN, r.BuyerContact, r.ShopID = cashier, "", contact, shopID
		if r.Validate() != nil {
			return
		}
		body, err := r.AppendTLV(nil)
		if err != nil {
			t.Fatalf("AppendTLV of a valid receipt: %v", err)
		}
		in := signed(t, DocReceipt, body, shiftAndReceipt)
		doc, err := Decode(in)
		if err != nil {
			t.Fatalf("Decode of a valid receipt: %v", err)
		}
		if err := doc.CheckRequired(); err != nil {
			t.Fatalf("CheckRequired: %v", err)
		}
		if !bytes.Equal(doc.Encode(), in) {
			t.Fatal("re-encoding changed the bytes")
		}
		if total, _ := doc.Money(TagTotal); total != r.Total() {
			t.Fatalf("1020 = %d, want %d", total, r.Total())
		}
		items := doc.All(TagItem)
		last := items[len(items)-1].Children
		// A name reads back as CP866 holds it: nearest letters, stand-ins for the rest.
		if got, _ := last.String(TagItemName); got != CP866Text(name) {
			t.Fatalf("1030 = %q, want %q", got, CP866Text(name))
		}
		if got, _ := last.Quantity(TagQuantity); got != it.Quantity {
			t.Fatalf("1023 = %v, want %v", got, it.Quantity)
		}
		if got, _ := doc.String(TagCashier); got != CP866Text(cashier) {
			t.Fatalf("1021 = %q, want %q", got, CP866Text(cashier))
		}
	})
}
