package sim_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
)

// TestTablesRefused sends documents the drive signed but FFD 1.05's tables
// refuse: the OFD answers a format error (code 1) and stores nothing.
func TestTablesRefused(t *testing.T) {
	// A drive that signs what the tables refuse, so that the OFD sees it.
	d, reg := openedDrive(t, false, t0)
	ctx := context.Background()
	// A receipt of 1000, 1054 and 1020 alone: no seller, no items, no payments.
	bare, _ := fiscal.AppendString(nil, 1000, "КАССОВЫЙ ЧЕК")
	bare = fiscal.AppendByte(bare, 1054, 1)
	bare = fiscal.AppendVLN(bare, 1020, 19900)
	if _, err := d.Receipt(ctx, fn.ReceiptDoc{Time: t0, Sign: 1, Total: 19900, TLV: bare}); err != nil {
		t.Fatal(err)
	}
	// A correction whose 1179 is empty.
	r := &fiscal.Receipt{Seller: reg.Seller, Sign: fiscal.Income, TaxSystem: fiscal.TaxGeneral, Cashier: "Иванова А.",
		Items: []fiscal.Item{{Name: "Чай", Price: 100, Quantity: fiscal.Quantity{Value: 1}, Sum: 100, VAT: fiscal.VAT22,
			VATSum: -1, Subject: 1, Method: 4}},
		Payments: fiscal.Payments{Cash: 100}, Correction: &fiscal.Correction{Name: "Акт", Date: t0}}
	corr, err := r.AppendTLV(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Receipt(ctx, fn.ReceiptDoc{Time: t0, Correction: true, Sign: 1, Total: 100, TLV: corr}); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s, addr := newServer(t, t.TempDir())
	for fd := uint32(1); fd <= 4; fd++ {
		msg, err := d.NextMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := sim.CodeAccepted
		if fd >= 3 {
			want = sim.CodeBadFormat
		}
		_, ack, err := exchange(t, addr, session(t, msg, ofd.RegisterFlags))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ack, buildAck(t, d.DriveNumber(), fd, want)) {
			t.Fatalf("FD %d: the ack is not code %d", fd, want)
		}
		// Acknowledge by hand so the next message comes up.
		if err := d.Acknowledge(ctx, buildAck(t, d.DriveNumber(), fd, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Count() != 2 {
		t.Fatalf("the OFD stored %d documents, want the registration and the shift open", s.Count())
	}
}
