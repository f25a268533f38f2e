package device

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

func TestShiftsCarryForwardOnInjectedClock(t *testing.T) {
	g := newRig(t, Config{ShiftMaxAge: 23*time.Hour + 30*time.Minute})
	if _, err := g.rt.Cash(true, 500_00); err != nil {
		t.Fatal(err)
	}
	g.post(devicetest.Sale("s1", "SALE", "CASH", 100.00, 50.50))
	g.post(devicetest.Sale("s2", "SALE", "CARD", 999.99))
	g.cycle()
	l := g.ledger()
	if !l.ShiftOpen || l.Shift != 1 {
		t.Fatalf("after the first documents: shift %d open %v, want shift 1 open", l.Shift, l.ShiftOpen)
	}
	if l.ShiftTotals.Count[0] != 2 || l.ShiftTotals.Sum[0] != 150_50+999_99 || l.CashBalance != 500_00+150_50 {
		t.Fatalf("shift 1 ledger: %+v", l)
	}

	// 23 h 31 min later the next document closes shift 1 first and opens shift 2.
	g.advance(23*time.Hour + 31*time.Minute)
	g.post(devicetest.Sale("r1", "RETURN", "CASH", 50.50))
	g.cycle()
	l = g.ledger()
	if l.Shift != 2 || !l.ShiftOpen {
		t.Fatalf("after 23h31m: shift %d open %v, want shift 2 open", l.Shift, l.ShiftOpen)
	}
	if l.ShiftTotals.Count[0] != 0 || l.ShiftTotals.Count[1] != 1 || l.ShiftTotals.Sum[1] != 50_50 {
		t.Fatalf("shift 2 counters should hold only the return: %+v", l.ShiftTotals)
	}
	if l.CashBalance != 500_00+150_50-50_50 {
		t.Fatalf("drawer carried forward = %d, want %d", l.CashBalance, 500_00+150_50-50_50)
	}
	if l.Cumulative.Sum[0] != 150_50+999_99 || l.Cumulative.Sum[1] != 50_50 {
		t.Fatalf("cumulative totals: %+v", l.Cumulative)
	}
	st, _ := g.em.State(g.ctx)
	if st.Shift != 2 || !st.ShiftOpen {
		t.Fatalf("drive: shift %d open %v", st.Shift, st.ShiftOpen)
	}
	// The drive holds the close report of shift 1 with its counters.
	var closes int
	for fd := uint32(1); fd <= st.LastFD; fd++ {
		a, err := g.em.Document(g.ctx, fd)
		if err != nil {
			t.Fatal(err)
		}
		if a.Type == fiscal.DocShiftClose {
			closes++
			doc, err := fiscal.Decode(a.TLV)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := doc.Elements.Uint(1118); n != 2 {
				t.Fatalf("shift 1 close report counts %d receipts, want 2", n)
			}
		}
	}
	if closes != 1 {
		t.Fatalf("%d shift close reports in the drive, want 1", closes)
	}
	for _, id := range []string{"s1", "s2", "r1"} {
		if s := g.status(id); s.Status != "COMPLETED" || s.FiscalInfo == nil {
			t.Fatalf("%s: %s %+v", id, s.Status, s.FiscalInfo)
		}
	}
	if err := g.st.Check(); err != nil {
		t.Fatal(err)
	}

	// X report: totals without a close; Z report: the close.
	x := g.rt.Console(g.ctx, []string{"report", "x"})
	if !x.OK || !strings.Contains(x.Output, "50.50") || !strings.Contains(x.Output, "drawer 600.00") {
		t.Fatalf("X report:\n%s %s", x.Output, x.Error)
	}
	z := g.rt.Console(g.ctx, []string{"report", "z"})
	if !z.OK || !strings.Contains(z.Output, "shift 2 closed") {
		t.Fatalf("Z report:\n%s %s", z.Output, z.Error)
	}
	if st, _ := g.em.State(g.ctx); st.ShiftOpen {
		t.Fatal("the Z report left the drive's shift open")
	}
}

func TestShiftClosesAtConfiguredTime(t *testing.T) {
	g := newRig(t, Config{CloseAt: "03:00"})
	g.post(devicetest.Sale("a", "SALE", "CARD", 10))
	g.cycle() // shift opened at 09:00
	if g.rt.CloseDueShift(g.ctx) {
		t.Fatal("closed before 03:00 came")
	}
	g.advance(17*time.Hour + 59*time.Minute) // 02:59 next day
	if g.rt.CloseDueShift(g.ctx) {
		t.Fatal("closed at 02:59")
	}
	g.advance(time.Minute) // 03:00
	if !g.rt.CloseDueShift(g.ctx) {
		t.Fatal("not closed at 03:00")
	}
	if st, _ := g.em.State(g.ctx); st.ShiftOpen {
		t.Fatal("the drive's shift is still open")
	}
}

func TestDriveShiftLimitRenewsShift(t *testing.T) {
	// Our own limit is set past the drive's 24 h: the drive refuses, the runtime
	// closes, opens and signs in the new shift instead of failing the document.
	g := newRig(t, Config{ShiftMaxAge: 48 * time.Hour})
	g.post(devicetest.Sale("a", "SALE", "CARD", 10))
	g.cycle()
	g.advance(24*time.Hour + time.Minute)
	if _, err := g.em.Receipt(g.ctx, fn.ReceiptDoc{Time: g.clock(), Sign: fiscal.Income, Total: 1}); !errors.Is(err, fn.ErrShiftExpired) {
		t.Fatalf("the drive should refuse after 24 h, got %v", err)
	}
	g.post(devicetest.Sale("b", "SALE", "CARD", 20))
	g.cycle()
	if s := g.status("b"); s.Status != "COMPLETED" || s.FiscalInfo.ShiftNumber != 2 {
		t.Fatalf("b: %s in shift %v, want COMPLETED in shift 2", s.Status, s.FiscalInfo)
	}
}

func TestCashOutNeverBelowZero(t *testing.T) {
	g := newRig(t, Config{})
	if _, err := g.rt.Cash(false, 1); err == nil {
		t.Fatal("cash out of an empty drawer succeeded")
	}
	g.rt.Cash(true, 100_00)
	if _, err := g.rt.Cash(false, 100_01); err == nil {
		t.Fatal("cash out beyond the balance succeeded")
	}
	l, err := g.rt.Cash(false, 100_00)
	if err != nil || l.CashBalance != 0 {
		t.Fatalf("cash out of the whole balance: %v, %+v", err, l)
	}
	// A cash refund larger than the drawer fails with no fiscal document.
	g.post(devicetest.Sale("s", "SALE", "CARD", 30))
	g.post(devicetest.Sale("r", "RETURN", "CASH", 30))
	g.cycle()
	s := g.status("r")
	if s.Status != "FAILED" || !strings.Contains(s.Message, "balance") {
		t.Fatalf("cash refund over the balance: %s %q", s.Status, s.Message)
	}
	st, _ := g.em.State(g.ctx)
	if st.LastFD != 3 { // registration, shift open, the sale
		t.Fatalf("drive's last FD = %d: the refused refund reached the drive", st.LastFD)
	}
}

// A point that does not carry balances (and takes no shop documents, which would
// force it on) starts each shift with an empty drawer.
func TestDrawerNotCarriedWhenThePointSaysSo(t *testing.T) {
	g := newRig(t, Config{})
	p := g.rt.pt()
	p.CarryBalance, p.ShopDocuments = false, false
	g.rt.point.Store(&p)
	g.post(devicetest.Sale("s1", "SALE", "CASH", 100))
	g.cycle()
	if l := g.ledger(); l.CashBalance != 100_00 {
		t.Fatalf("drawer in shift 1: %d", l.CashBalance)
	}
	g.rt.Console(g.ctx, []string{"report", "z"})
	g.post(devicetest.Sale("s2", "SALE", "CARD", 10))
	g.cycle()
	if l := g.ledger(); l.Shift != 2 || l.CashBalance != 0 {
		t.Fatalf("shift %d drawer %d, want shift 2 with an empty drawer", l.Shift, l.CashBalance)
	}
}

// The ledger spares the drive a state query per receipt; when the drive's shift
// was closed behind its back, the drive refuses and the register opens a new one.
func TestShiftClosedBehindTheLedger(t *testing.T) {
	g := newRig(t, Config{})
	g.post(devicetest.Sale("a", "SALE", "CARD", 10))
	g.cycle()
	tlv, err := g.rt.reportTLV(fiscal.DocShiftClose)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.em.CloseShift(g.ctx, fn.Doc{Time: g.clock(), TLV: tlv}); err != nil {
		t.Fatal(err)
	}
	g.post(devicetest.Sale("b", "SALE", "CARD", 10))
	g.cycle()
	if s := g.status("b"); s.Status != "COMPLETED" || s.FiscalInfo.ShiftNumber != 2 {
		t.Fatalf("b: %s %+v", s.Status, s.FiscalInfo)
	}
	if l := g.ledger(); l.Shift != 2 || !l.ShiftOpen {
		t.Fatalf("ledger: shift %d open %v", l.Shift, l.ShiftOpen)
	}
}
