package device

import (
	"context"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// ensureShift opens a shift for the next document, first closing one that has
// reached the configured age. The ledger mirrors the drive's shift, so an open,
// not yet due shift costs no exchange with the drive (a real one answers over a
// UART); should the two disagree, the drive refuses the receipt and signReceipt
// opens the shift then. Callers hold opMu.
func (r *Runtime) ensureShift(ctx context.Context) error {
	if ledger, err := r.ledgerLocked(); err == nil && ledger.ShiftOpen && !r.shiftDue(ledger.OpenedAt) {
		return nil
	}
	driveState, err := r.drive.State(ctx)
	if err != nil {
		return err
	}
	if driveState.ShiftOpen && r.shiftDue(driveState.ShiftOpenedAt) {
		if _, err := r.closeShiftLocked(ctx); err != nil {
			return err
		}
		driveState.ShiftOpen = false
	}
	if !driveState.ShiftOpen {
		_, err := r.openShiftLocked(ctx)
		return err
	}
	return nil
}

// shiftDue says whether the shift opened at openedAt (the drive's wall clock)
// must close now: at ShiftMaxAge, or at the configured time of day once the shift
// began before it.
func (r *Runtime) shiftDue(openedAt time.Time) bool {
	now := r.now()
	opened := r.wallToLocal(openedAt)
	if now.Sub(opened) >= r.cfg.ShiftMaxAge {
		return true
	}
	if r.cfg.CloseAt == "" {
		return false
	}
	at, err := time.ParseInLocation("15:04", r.cfg.CloseAt, r.cfg.Location)
	if err != nil {
		return false
	}
	closeAt := time.Date(now.Year(), now.Month(), now.Day(), at.Hour(), at.Minute(), 0, 0, r.cfg.Location)
	return !now.Before(closeAt) && opened.Before(closeAt)
}

// shiftLoop closes a shift when it is due, even when no documents come.
func (r *Runtime) shiftLoop(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.CloseDueShift(ctx)
	}
}

// CloseDueShift closes the open shift if it is due; it reports whether it did.
func (r *Runtime) CloseDueShift(ctx context.Context) bool {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	driveState, err := r.drive.State(ctx)
	if err != nil || !driveState.ShiftOpen || !r.shiftDue(driveState.ShiftOpenedAt) {
		return false
	}
	if _, err := r.closeShiftLocked(ctx); err != nil {
		r.log.Error("closing the due shift", "err", err)
		return false
	}
	return true
}

// OpenShift opens a shift by hand.
func (r *Runtime) OpenShift(ctx context.Context) (fn.Signed, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	return r.openShiftLocked(ctx)
}

// CloseShift closes the shift by hand: the Z report.
func (r *Runtime) CloseShift(ctx context.Context) (fn.Signed, store.Ledger, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	ledger, err := r.store.Ledger()
	if err != nil {
		return fn.Signed{}, ledger, err
	}
	s, err := r.closeShiftLocked(ctx)
	return s, ledger, err
}

func (r *Runtime) openShiftLocked(ctx context.Context) (fn.Signed, error) {
	if err := r.settleLocked(ctx); err != nil {
		return fn.Signed{}, err
	}
	tlv, err := r.reportTLV(fiscal.DocShiftOpen)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := r.drive.OpenShift(ctx, fn.Doc{Time: r.now(), TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("device: open shift: %w", err)
	}
	ledger, err := r.store.Ledger()
	if err != nil {
		return s, err
	}
	r.startShift(&ledger, s.Shift, s.Time)
	ledger.LastFD = s.FD
	if err := r.store.SetLedger(ledger); err != nil {
		return s, err
	}
	r.event("shift", "shift %d opened (FD %d)", s.Shift, s.FD)
	r.printReport(s.FD)
	return s, nil
}

func (r *Runtime) closeShiftLocked(ctx context.Context) (fn.Signed, error) {
	if err := r.settleLocked(ctx); err != nil {
		return fn.Signed{}, err
	}
	tlv, err := r.reportTLV(fiscal.DocShiftClose)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := r.drive.CloseShift(ctx, fn.Doc{Time: r.now(), TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("device: close shift: %w", err)
	}
	ledger, err := r.store.Ledger()
	if err != nil {
		return s, err
	}
	ledger.ShiftOpen = false
	ledger.LastFD = s.FD
	if err := r.store.SetLedger(ledger); err != nil {
		return s, err
	}
	r.event("shift", "shift %d closed (FD %d); drawer %s", s.Shift, s.FD, rub(ledger.CashBalance))
	r.printReport(s.FD)
	if r.ofd != nil {
		r.ofd.Notify()
	}
	return s, nil
}

// startShift starts a new shift in the ledger: the shift's counters start from
// zero, the cumulative counters carry forward, and so does the drawer's cash
// unless the point's owner does not carry balances (forced on for shop documents).
func (r *Runtime) startShift(l *store.Ledger, shift uint32, at time.Time) {
	l.Shift, l.ShiftOpen, l.OpenedAt = shift, true, at
	l.ShiftTotals = store.Totals{}
	l.CashIn, l.CashOut = 0, 0
	if p := r.pt(); !p.CarryBalance && !p.ShopDocuments && l.CashBalance != 0 {
		r.event("cash", "drawer of %s not carried to shift %d (the point's setting)", rub(l.CashBalance), shift)
		l.CashBalance = 0
	}
}

// Cash puts money into the drawer (in) or takes it out; the drawer never goes below zero.
func (r *Runtime) Cash(in bool, sum int64) (store.Ledger, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	ledger, err := r.store.Ledger()
	if err != nil {
		return ledger, err
	}
	if sum <= 0 {
		return ledger, fmt.Errorf("device: cash sum must be positive, got %s", rub(sum))
	}
	if in {
		ledger.CashBalance += sum
		ledger.CashIn += sum
	} else {
		if sum > ledger.CashBalance {
			return ledger, fmt.Errorf("device: cash out of %s exceeds the drawer's balance of %s", rub(sum), rub(ledger.CashBalance))
		}
		ledger.CashBalance -= sum
		ledger.CashOut += sum
	}
	if err := r.store.SetLedger(ledger); err != nil {
		return ledger, err
	}
	word := map[bool]string{true: "in", false: "out"}[in]
	r.event("cash", "cash %s %s; drawer %s", word, rub(sum), rub(ledger.CashBalance))
	return ledger, nil
}
