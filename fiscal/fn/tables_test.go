package fn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// wholeSeller is a registered user whose documents meet the tag tables.
func wholeSeller(t *testing.T) (fiscal.Seller, []byte) {
	t.Helper()
	rn, err := fiscal.RegNumber("0000000001", "7707083893", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	s := fiscal.Seller{Name: "ООО Ромашка", INN: "7707083893", Address: "Москва", Place: "shop.example",
		TaxSystems: fiscal.TaxGeneral, RegNumber: rn, Internet: true}
	g := fiscal.Registration{Seller: s, Serial: "0123456789", Version: "1.0.0", RegisterFFD: fiscal.FFD105,
		DriveFFD: fiscal.FFD105, OFDName: "ОФД", OFDINN: "7704358518", Cashier: "Иванова А."}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistration)
	if err != nil {
		t.Fatal(err)
	}
	return s, tlv
}

// TestDriveRefusesByTables: a drive that checks FFD 1.05's tag tables signs a
// whole receipt and refuses, as a format error, one that lacks required tags,
// in process and over the UART; nothing is signed for the refused one.
func TestDriveRefusesByTables(t *testing.T) {
	for name, open := range map[string]driveFactory{"in process": inProcess, "over the UART": overUART} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d := open(t, fn.EmulatorConfig{CheckTables: true}).drive
			seller, reg := wholeSeller(t)
			if _, err := d.Register(ctx, fn.Doc{Time: t0, TLV: reg}); err != nil {
				t.Fatal(err)
			}
			shift, err := (&fiscal.Report{Seller: seller, Version: "1.0.0", Cashier: "Иванова А."}).AppendTLV(nil, fiscal.DocShiftOpen)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.OpenShift(ctx, fn.Doc{Time: t0, TLV: shift}); err != nil {
				t.Fatal(err)
			}
			before := must(d.State(ctx)).ok(t).LastFD

			// 1000, 1054, 1055, 1020, one item and the payments: no seller, no 1009.
			_, err = d.Receipt(ctx, receipt(t, t0, 100))
			if !errors.Is(err, fn.ErrBadParam) {
				t.Fatalf("a receipt without the seller's tags: %v, want a format error", err)
			}
			if name == "in process" && !strings.Contains(err.Error(), "required tag missing") {
				t.Fatalf("the refusal does not say what is missing: %v", err)
			}
			if st := must(d.State(ctx)).ok(t); st.LastFD != before {
				t.Fatalf("the refused receipt moved the drive from FD %d to %d", before, st.LastFD)
			}

			r := fiscal.Receipt{Seller: seller, Sign: fiscal.Income, TaxSystem: fiscal.TaxGeneral, Cashier: "Иванова А.",
				BuyerContact: "buyer@example.com",
				Items: []fiscal.Item{{Name: "Чайник", Price: 199000, Quantity: fiscal.Quantity{Value: 1}, Sum: 199000,
					VAT: 6, VATSum: -1, Subject: 1, Method: 4}},
				Payments: fiscal.Payments{Electronic: 199000}}
			tlv, err := r.AppendTLV(nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.Receipt(ctx, fn.ReceiptDoc{Time: t0, Sign: fiscal.Income, Total: 199000, TLV: tlv})
			if err != nil || s.FD != before+1 {
				t.Fatalf("a whole receipt: FD %d, %v; want FD %d", s.FD, err, before+1)
			}
		})
	}
}
