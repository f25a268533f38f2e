package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/printer"
)

// TestVATRatesEndToEnd takes one position at each vatTag code from the shop's
// JSON through the model and the TLV to the emulated drive, delivers each
// receipt to the OFD emulator, and prints the OFD's copy. The drive's clock
// runs across midnight 31.12.2025 → 01.01.2026 (Moscow time). Expected values
// are worked out by hand: 1220.00 × 22/122 = 220.00, × 10/110 = 110.909 →
// 110.91, × 5/105 = 58.095 → 58.10, × 7/107 = 79.813 → 79.81, × 20/120 =
// 203.333 → 203.33.
func TestVATRatesEndToEnd(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	before := time.Date(2025, 12, 31, 23, 59, 0, 0, msk)
	after := time.Date(2026, 1, 1, 0, 0, 0, 0, msk)
	type flat struct {
		tag fiscal.Tag
		sum int64
	}
	cases := []struct {
		code     int
		at       time.Time
		rate     fiscal.VATRate
		flat     *flat // the receipt-level sum when the rate has a tag of its own
		vat      int64 // else the sum in 1115 {1119 {1199, 1120}}
		itemWord string
		sumWord  string
	}{
		{1102, before, 1, &flat{1102, 20333}, 0, "НДС 20% =203.33", "СУММА НДС 20% =203.33"},
		{1106, before, 3, &flat{1106, 20333}, 0, "НДС 20/120 =203.33", "СУММА НДС 20/120 =203.33"},
		{1102, after, 11, nil, 22000, "НДС 22% =220.00", "СУММА НДС 22% =220.00"},
		{1103, after, 2, &flat{1103, 11091}, 0, "НДС 10% =110.91", "СУММА НДС 10% =110.91"},
		{1104, after, 5, &flat{1104, 122000}, 0, "НДС 0%", "СУММА С НДС 0% =1220.00"},
		{1105, after, 6, &flat{1105, 122000}, 0, "БЕЗ НДС", "СУММА БЕЗ НДС =1220.00"},
		{1106, after, 12, nil, 22000, "НДС 22/122 =220.00", "СУММА НДС 22/122 =220.00"},
		{1107, after, 4, &flat{1107, 11091}, 0, "НДС 10/110 =110.91", "СУММА НДС 10/110 =110.91"},
		{1109, after, 7, nil, 5810, "НДС 5% =58.10", "СУММА НДС 5% =58.10"},
		{1110, after, 8, nil, 7981, "НДС 7% =79.81", "СУММА НДС 7% =79.81"},
		{1111, after, 9, nil, 5810, "НДС 5/105 =58.10", "СУММА НДС 5/105 =58.10"},
		{1112, after, 10, nil, 7981, "НДС 7/107 =79.81", "СУММА НДС 7/107 =79.81"},
		{1113, after, 11, nil, 22000, "НДС 22% =220.00", "СУММА НДС 22% =220.00"},
		{1114, after, 12, nil, 22000, "НДС 22/122 =220.00", "СУММА НДС 22/122 =220.00"},
	}
	d, reg := openedDrive(t, true, before.Add(-time.Hour))
	ctx := context.Background()
	point := cloud.Point{Name: reg.Seller.Name, INN: reg.Seller.INN, Address: reg.Seller.Address, Place: reg.Seller.Place,
		TaxSystems: fiscal.TaxGeneral | fiscal.TaxSimpleIncome, RegNumber: reg.Seller.RegNumber, ShopDocuments: true}
	s, addr := newServer(t, t.TempDir())
	deliver := func() {
		for {
			msg, err := d.NextMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if msg == nil {
				return
			}
			c, _ := ofd.ParseContainer(msg)
			_, ack, err := exchange(t, addr, session(t, msg, ofd.RegisterFlags))
			if err != nil {
				t.Fatal(err)
			}
			if want := buildAck(t, c.DriveNumber, c.FD, sim.CodeAccepted); string(ack) != string(want) {
				t.Fatalf("FD %d (type %d) not accepted by the OFD", c.FD, c.DocType)
			}
			if err := d.Acknowledge(ctx, ack); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver()
	p := func(name string) printer.Profile {
		pr, ok := printer.ProfileByName(name)
		if !ok {
			t.Fatalf("no profile %s", name)
		}
		return pr
	}("emu-80")
	for i, c := range cases {
		t.Run(fmt.Sprintf("vatTag %d on %s", c.code, c.at.Format("2006-01-02")), func(t *testing.T) {
			body := fmt.Sprintf(`{"id": "e2e-%d", "docType": "SALE", "email": "buyer@example.com", "taxMode": "SIMPLIFIED",
				"inventPositions": [{"name": "Товар", "price": 1220.00, "quantity": 1, "vatTag": %d}],
				"moneyPositions": [{"paymentType": "CARD", "sum": 1220.00}]}`, i, c.code)
			var doc cloud.Document
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatal(err)
			}
			r, err := doc.ReceiptAt(point, c.at)
			if err != nil {
				t.Fatal(err)
			}
			tlv, err := r.AppendTLV(nil)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := d.Receipt(ctx, fn.ReceiptDoc{Time: c.at, Sign: r.Sign, Total: uint64(r.Total()), TLV: tlv})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			deliver()
			stored, ok, err := s.Document(d.DriveNumber(), signed.FD)
			if err != nil || !ok {
				t.Fatalf("the OFD has no FD %d: %v", signed.FD, err)
			}
			got, err := fiscal.CheckDocument(stored.TLV)
			if err != nil {
				t.Fatal(err)
			}
			item := got.All(fiscal.TagItem)[0].Children
			if v, _ := item.Uint(fiscal.TagVATRate); v != uint64(c.rate) {
				t.Errorf("1199 = %d, want %d", v, c.rate)
			}
			byRate, has1115 := got.Get(fiscal.TagVATSums)
			if c.flat != nil {
				if v, ok := got.Money(c.flat.tag); !ok || v != c.flat.sum || has1115 {
					t.Errorf("%d = %d (%v), 1115 %v; want %d and no 1115", c.flat.tag, v, ok, has1115, c.flat.sum)
				}
			} else {
				rates := byRate.Children.All(fiscal.TagVATSumByRate)
				if len(rates) != 1 {
					t.Fatalf("1115 holds %d rates, want 1", len(rates))
				}
				rate, _ := rates[0].Children.Uint(fiscal.TagVATRate)
				vat, _ := rates[0].Children.Money(fiscal.TagVATAmount)
				zero, ok := got.Money(fiscal.TagVAT0)
				if rate != uint64(c.rate) || vat != c.vat || !ok || zero != 0 {
					t.Errorf("1115 {1119 {%d, %d}}, 1104 = %d (%v); want {%d, %d} and 1104 = 0", rate, vat, zero, ok, c.rate, c.vat)
				}
			}
			pg, err := printer.Layout(got, stored.FPD, printer.Extra{}, p)
			if err != nil {
				t.Fatal(err)
			}
			text := pg.Text()
			lines := map[string]bool{}
			for _, l := range strings.Split(text, "\n") {
				lines[strings.Join(strings.Fields(l), " ")] = true
			}
			for _, want := range []string{c.itemWord, c.sumWord} {
				if !lines[want] {
					t.Errorf("the OFD's copy prints no line %q:\n%s", want, text)
				}
			}
		})
	}
}
