package cloud

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/fiscal"
)

// TestVATTagCodes maps every vatTag code of the vendor's API to 1199
// (FFD105.md, "VAT since 2025–2026"), on a 2025 and on a 2026 date.
func TestVATTagCodes(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	y2025, y2026 := time.Date(2025, 6, 1, 12, 0, 0, 0, msk), time.Date(2026, 6, 1, 12, 0, 0, 0, msk)
	cases := []struct {
		code       int
		in25, in26 fiscal.VATRate
	}{
		{1102, 1, 11}, {1103, 2, 2}, {1104, 5, 5}, {1105, 6, 6}, {1106, 3, 12}, {1107, 4, 4},
		{1109, 7, 7}, {1110, 8, 8}, {1111, 9, 9}, {1112, 10, 10}, {1113, 11, 11}, {1114, 12, 12},
	}
	for _, c := range cases {
		var d Document
		if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) {
			m["inventPositions"] = []any{map[string]any{"name": "x", "price": 122, "quantity": 1, "vatTag": c.code}}
			m["moneyPositions"] = []any{map[string]any{"paymentType": "CARD", "sum": 122}}
		}), &d); err != nil {
			t.Fatalf("vatTag %d: %v", c.code, err)
		}
		for _, at := range []struct {
			tm   time.Time
			want fiscal.VATRate
		}{{y2025, c.in25}, {y2026, c.in26}} {
			r, err := d.ReceiptAt(testPoint, at.tm)
			if err != nil {
				t.Fatalf("vatTag %d at %s: %v", c.code, at.tm, err)
			}
			if got := r.Items[0].VAT; got != at.want {
				t.Errorf("vatTag %d at %s: 1199 = %d, want %d", c.code, at.tm.Format(time.DateOnly), got, at.want)
			}
		}
	}
}

// TestStandardRateAtMidnight2026 settles the same documents a minute either
// side of midnight 31.12.2025 → 01.01.2026 on the register's clock, and the
// cases the ФНС letter keeps at 20 %.
func TestStandardRateAtMidnight2026(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	before := time.Date(2025, 12, 31, 23, 59, 59, 0, msk)
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, msk)
	// 23:30 UTC on 31.12 is already 2026 in Moscow: the wall clock decides.
	utcBefore := time.Date(2025, 12, 31, 21, 30, 0, 0, time.UTC).In(msk)
	keep := testPoint
	keep.KeepVAT20 = true
	sale := func(m map[string]any) {}
	ret := func(m map[string]any) { m["docType"] = "RETURN" }
	retOf2025 := func(m map[string]any) { m["docType"] = "RETURN"; m["originalDate"] = "2025-12-31" }
	retOf2026 := func(m map[string]any) { m["docType"] = "RETURN"; m["originalDate"] = "2026-01-01" }
	corr := func(date string) func(m map[string]any) {
		return func(m map[string]any) {
			m["docType"] = "SALE_CORRECTION"
			m["correction"] = map[string]any{"type": "SELF", "baseName": "акт", "baseDate": date, "baseNumber": "1"}
		}
	}
	cases := []struct {
		name    string
		edit    func(m map[string]any)
		p       Point
		at      time.Time
		want    fiscal.VATRate
		vat1200 int64 // the item's VAT at that rate, by hand: 1990.00 × 20/120 or × 22/122
	}{
		{"sale 23:59:59 on 31.12.2025", sale, testPoint, before, fiscal.VAT20, 33167},
		{"sale 00:00 on 01.01.2026", sale, testPoint, after, fiscal.VAT22, 35885},
		{"sale at 00:30 MSK, still 2025 in UTC", sale, testPoint, utcBefore, fiscal.VAT22, 35885},
		{"2026 sale, point keeps 20%", sale, keep, after, fiscal.VAT20, 33167},
		{"2026 return, no original date", ret, testPoint, after, fiscal.VAT22, 35885},
		{"2026 return of a 2025 sale", retOf2025, testPoint, after, fiscal.VAT20, 33167},
		{"2026 return of a 2026 sale", retOf2026, testPoint, after, fiscal.VAT22, 35885},
		{"2025 return", retOf2025, testPoint, before, fiscal.VAT20, 33167},
		{"2026 correction of a 2025 receipt", corr("2025-12-31"), testPoint, after, fiscal.VAT20, 33167},
		{"2026 correction of a 2026 receipt", corr("2026-01-01"), testPoint, after, fiscal.VAT22, 35885},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			if err := json.Unmarshal(cloudtest.Doc(c.edit), &d); err != nil {
				t.Fatal(err)
			}
			r, err := d.ReceiptAt(c.p, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Items[0].VAT; got != c.want {
				t.Fatalf("1199 = %d, want %d", got, c.want)
			}
			if got := fiscal.VAT(r.Items[0].Sum, r.Items[0].VAT); got != c.vat1200 {
				t.Errorf("VAT %d, want %d", got, c.vat1200)
			}
		})
	}
}

// TestPositionRefusals2026 are the position errors of issue 22, item 11.
func TestPositionRefusals2026(t *testing.T) {
	cases := []struct {
		name, field, msg string
		edit             func(m map[string]any)
	}{
		{"vatTag missing", "inventPositions[0].vatTag", "required: the VAT code, 1102–1107 or 1109–1114 (1105 is without VAT); only a PATENT or ENVD document may leave it out",
			func(m map[string]any) { delete(cloudtest.Pos(m, 0), "vatTag") }},
		{"vatTag 1108", "inventPositions[0].vatTag", "unknown 1108: want 1102–1107 or 1109–1114",
			func(m map[string]any) { cloudtest.Pos(m, 0)["vatTag"] = 1108 }},
		// 1 000 000.00 × 10^11 = 10^19 kopecks, past an int64.
		{"price × quantity overflows", "inventPositions[0].price",
			"price 1000000.00 × quantity 100000000000 exceeds 2814749767106.55, the largest sum a receipt holds",
			func(m map[string]any) { cloudtest.Pos(m, 0)["price"] = 1000000; cloudtest.Pos(m, 0)["quantity"] = 1e11 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			err := json.Unmarshal(cloudtest.Doc(c.edit), &d)
			if err == nil {
				_, err = d.Receipt(testPoint)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || (c.msg != "" && fe.Message != c.msg) {
				t.Fatalf("error %v, want field %s: %s", err, c.field, c.msg)
			}
		})
	}
}

// TestCorrectionNeeds: a correction names its cashier (1021) and its basis
// document's number (1179), on own initiative too.
func TestCorrectionNeeds(t *testing.T) {
	corr := func(number any, cashier bool) []byte {
		return cloudtest.Doc(func(m map[string]any) {
			m["docType"] = "SALE_CORRECTION"
			c := map[string]any{"type": "SELF", "baseName": "акт", "baseDate": "2026-11-20"}
			if number != nil {
				c["baseNumber"] = number
			}
			m["correction"] = c
			if !cashier {
				delete(m, "cashierName")
				delete(m, "cashierInn")
			}
		})
	}
	cases := []struct {
		name, field string
		body        []byte
	}{
		{"SELF without baseNumber", "correction.baseNumber", corr(nil, true)},
		{"SELF with an empty baseNumber", "correction.baseNumber", corr("", true)},
		{"without cashierName", "cashierName", corr("б/н", false)},
		{"complete", "", corr("б/н", true)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			if err := json.Unmarshal(c.body, &d); err != nil {
				t.Fatal(err)
			}
			_, err := d.Receipt(testPoint)
			var fe *FieldError
			switch {
			case c.field == "" && err != nil:
				t.Fatal(err)
			case c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field):
				t.Fatalf("error %v, want field %s", err, c.field)
			}
		})
	}
}

// TestVatSumOfTheOldRate: a shop that sends vatTag 1102 with a vatSum worked
// out at 20 % is not refused once 1102 means 22 %; the receipt carries no 1200
// for it (the VAT of 22 % is computed), and any other vatSum is still checked.
func TestVatSumOfTheOldRate(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, msk)
	for _, c := range []struct {
		vatSum float64
		ok     bool
		want   int64
	}{{331.67, true, -1}, {358.85, true, 35885}, {300.00, false, 0}} {
		var d Document
		if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["vatSum"] = c.vatSum }), &d); err != nil {
			t.Fatal(err)
		}
		r, err := d.ReceiptAt(testPoint, at)
		if (err == nil) != c.ok {
			t.Fatalf("vatSum %.2f: %v", c.vatSum, err)
		}
		if err == nil && (r.Items[0].VATSum != c.want || r.Items[0].VAT != fiscal.VAT22) {
			t.Errorf("vatSum %.2f: item VAT %d, 1200 %d; want 22%% and %d", c.vatSum, r.Items[0].VAT, r.Items[0].VATSum, c.want)
		}
	}
}
