package cloud

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/fiscal"
)

// decodeDoc decodes a shop document or fails the test.
func decodeDoc(t *testing.T, body []byte) Document {
	t.Helper()
	var d Document
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

// PHP shops send their integer order ids as JSON numbers; the vendor takes them.
func TestNumericIDs(t *testing.T) {
	d := decodeDoc(t, cloudtest.Doc(func(m map[string]any) { m["id"], m["docNum"] = 1045, 77 }))
	if d.ID != "1045" || d.DocNum != "77" {
		t.Fatalf("id %q docNum %q, want 1045 and 77", d.ID, d.DocNum)
	}
	// Stored as text, so the same order posted as "1045" is the same document.
	b, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"id":"1045"`) || !strings.Contains(string(b), `"docNum":"77"`) {
		t.Errorf("normalized %s, want id and docNum as strings", b)
	}
	if d := decodeDoc(t, cloudtest.Doc(func(m map[string]any) { m["docNum"] = nil })); d.DocNum != "" {
		t.Errorf("null docNum read as %q", d.DocNum)
	}
}

// Clients that take values from a database's text columns send numbers as
// strings; their text is read by the same exact parsers.
func TestNumbersAsText(t *testing.T) {
	d := decodeDoc(t, cloudtest.Doc(func(m map[string]any) {
		p := cloudtest.Pos(m, 1)
		p["price"], p["quantity"], p["vatTag"], p["discSum"] = "100.00", "0.5", "1103", "5"
	}))
	p := d.InventPositions[1]
	if p.Price != 10000 || p.Quantity != (Quantity{5, 1}) || p.VatTag != 1103 || p.DiscSum != 500 {
		t.Fatalf("position %+v", p)
	}
}

// The vendor's API marks vatTag required; null is the same as leaving it out,
// which only a document under PATENT or ENVD may do (it is then 1105).
func TestVatTagNull(t *testing.T) {
	body := cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 1)["vatTag"] = nil })
	d := decodeDoc(t, body)
	if d.InventPositions[1].VatTag != 0 {
		t.Fatalf("vatTag %d, want absent", d.InventPositions[1].VatTag)
	}
	_, err := d.Receipt(testPoint)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "inventPositions[1].vatTag" ||
		fe.Message != "required: the VAT code, 1102–1107 or 1109–1114 (1105 is without VAT); only a PATENT or ENVD document may leave it out" {
		t.Fatalf("COMMON document without vatTag: %v", err)
	}

	patent := testPoint
	patent.TaxSystems = fiscal.TaxPatent
	d = decodeDoc(t, cloudtest.Doc(func(m map[string]any) {
		cloudtest.Pos(m, 0)["vatTag"] = nil
		delete(cloudtest.Pos(m, 1), "vatTag")
	}))
	r, notes, err := d.ReceiptNotes(patent, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range r.Items {
		if it.VAT != fiscal.VATNone {
			t.Errorf("item %d VAT %v, want without VAT", i, it.VAT)
		}
	}
	want := []string{"inventPositions[0]: no vatTag under PATENT, written as 1105 (without VAT)",
		"inventPositions[1]: no vatTag under PATENT, written as 1105 (without VAT)"}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes %q, want %q", notes, want)
	}
	// The register reads the stored document again: the absence survives.
	b, _ := json.Marshal(&d)
	if strings.Contains(string(b), "vatTag") {
		t.Errorf("normalized %s carries a vatTag", b)
	}
	if again := decodeDoc(t, b); again.InventPositions[0].VatTag != 0 {
		t.Errorf("read back vatTag %d", again.InventPositions[0].VatTag)
	}
}

// splitDoc is one position of quantity q at price with discount disc, paid
// by card with pay, vatTag 1103 (10 %).
func splitDoc(price, q, disc, pay any, edit func(p map[string]any)) []byte {
	return cloudtest.Doc(func(m map[string]any) {
		p := map[string]any{"name": "Кофе", "price": price, "quantity": q, "vatTag": 1103, "discSum": disc}
		if edit != nil {
			edit(p)
		}
		m["inventPositions"] = []any{p}
		m["moneyPositions"] = []any{map[string]any{"paymentType": "CARD", "sum": pay}}
	})
}

func TestDiscountSplit(t *testing.T) {
	type part struct {
		price, sum, vat int64
		q               fiscal.Quantity
	}
	cases := []struct {
		name  string
		body  []byte
		parts []part
		note  string
		vat   int64 // the receipt's VAT sum at its rate
	}{
		{
			// 3 × 100.00 − 10.01 = 289.99; VAT 10/110 of it is 26.36, of
			// 193.32 is 17.57 and of 96.67 is 8.79: 17.57 + 8.79 = 26.36.
			"three units", splitDoc(100, 3, 10.01, 289.99, nil),
			[]part{{9666, 19332, 1757, fiscal.Quantity{Value: 2}}, {9667, 9667, 879, fiscal.Quantity{Value: 1}}},
			"inventPositions[0]: 3 × 100.00 − 10.01 = 289.99 has no unit price in whole kopecks, written as 2 × 96.66 + 1 × 96.67", 2636,
		},
		{
			// The shop's own vatSum (26.37, within a kopeck) stays the position's:
			// the second part takes 26.37 − 17.57 = 8.80.
			"three units with vatSum", splitDoc(100, 3, 10.01, 289.99, func(p map[string]any) { p["vatSum"] = 26.37 }),
			[]part{{9666, 19332, 1757, fiscal.Quantity{Value: 2}}, {9667, 9667, 880, fiscal.Quantity{Value: 1}}},
			"inventPositions[0]: 3 × 100.00 − 10.01 = 289.99 has no unit price in whole kopecks, written as 2 × 96.66 + 1 × 96.67", 2637,
		},
		{
			// 3 × 100.00 − 0.10 = 299.90: 1 × 99.96 + 2 × 99.97. Their own VATs,
			// 9.09 and 18.18, add up to 27.27, a kopeck over the 27.26 of 299.90:
			// the second part takes 27.26 − 9.09 = 18.17 (within its kopeck).
			"VAT of the parts off by a kopeck", splitDoc(100, 3, 0.10, 299.90, nil),
			[]part{{9996, 9996, 909, fiscal.Quantity{Value: 1}}, {9997, 19994, 1817, fiscal.Quantity{Value: 2}}},
			"inventPositions[0]: 3 × 100.00 − 0.10 = 299.90 has no unit price in whole kopecks, written as 1 × 99.96 + 2 × 99.97", 2726,
		},
		{
			// Without VAT the parts write no VAT sum (1200), as the position would not.
			"without VAT", splitDoc(100, 3, 10.01, 289.99, func(p map[string]any) { p["vatTag"] = 1105 }),
			[]part{{9666, 19332, -1, fiscal.Quantity{Value: 2}}, {9667, 9667, -1, fiscal.Quantity{Value: 1}}},
			"inventPositions[0]: 3 × 100.00 − 10.01 = 289.99 has no unit price in whole kopecks, written as 2 × 96.66 + 1 × 96.67", 28999, // 1105 holds the sum without VAT
		},
		{
			// 2.5 kg × 100.00 − 0.01 = 249.99: 2 × 99.99 = 199.98, and 50.01
			// on the half kilogram at 100.02 (100.02 × 0.5 = 50.01).
			// VAT: 249.99 → 22.73; 199.98 → 18.18; the rest 4.55 (50.01 → 4.55).
			"weighed", splitDoc(100, 2.5, 0.01, 249.99, nil),
			[]part{{9999, 19998, 1818, fiscal.Quantity{Value: 2}}, {10002, 5001, 455, fiscal.Quantity{Value: 5, Decimals: 1}}},
			"inventPositions[0]: 2.5 × 100.00 − 0.01 = 249.99 has no unit price in whole kopecks, written as 2 × 99.99 + 0.5 × 100.02", 2273,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decodeDoc(t, c.body)
			r, notes, err := d.ReceiptNotes(testPoint, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Items) != len(c.parts) {
				t.Fatalf("%d items, want %d", len(r.Items), len(c.parts))
			}
			for i, p := range c.parts {
				it := r.Items[i]
				if it.Price != p.price || it.Sum != p.sum || it.VATSum != p.vat || it.Quantity != p.q || it.Name != "Кофе" {
					t.Errorf("item %d: price %d sum %d vat %d q %v %q, want %+v", i, it.Price, it.Sum, it.VATSum, it.Quantity, it.Name, p)
				}
			}
			if v := r.VATSums(); len(v) != 1 || v[0].Sum != c.vat {
				t.Errorf("receipt VAT %+v, want %d", v, c.vat)
			}
			if len(notes) != 1 || notes[0] != c.note {
				t.Errorf("notes %q, want %q", notes, c.note)
			}
		})
	}
	// A bad sum is still refused: the split never covers a payment that is off.
	d := decodeDoc(t, splitDoc(100, 3, 10.01, 290, nil))
	var fe *FieldError
	if _, err := d.Receipt(testPoint); !errors.As(err, &fe) || fe.Field != "moneyPositions" {
		t.Errorf("payments off by a kopeck: %v, want a moneyPositions refusal", err)
	}
}

// After a split the model's items no longer match the shop's positions one to
// one; an error still names the shop's position.
func TestShopFieldAfterSplit(t *testing.T) {
	if got := shopField("items[2].name", []int{0, 0, 1}); got != "inventPositions[1].name" {
		t.Errorf("got %s", got)
	}
}
