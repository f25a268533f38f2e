package device

import (
	"context"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/store"
)

// runCommand runs a command the owner gave in the cabinet, which came in the
// answer to a heartbeat: the X report (printed, its totals sent back) or the
// shift close. A command runs once per id, should the cloud send it again;
// its outcome is kept for the heartbeats to carry, and one goes at once.
func (r *Runtime) runCommand(ctx context.Context, c cloud.Command) {
	if last := r.commandOutcome(); last != nil && last.ID == c.ID {
		r.HeartbeatNow()
		return
	}
	out := &cloud.CommandOutcome{ID: c.ID, Kind: c.Kind}
	switch c.Kind {
	case cloud.CommandXReport:
		r.opMu.Lock()
		ledger, err := r.ledgerLocked()
		r.opMu.Unlock()
		if err != nil {
			out.Error = err.Error()
			break
		}
		out.Totals = r.shiftTotals(ledger)
		r.event("report", "X report for the cabinet, shift %d", ledger.Shift)
		switch {
		case r.printer == nil:
			out.PrintError = "принтер не подключён"
		default:
			if err := r.printXReport(ctx, ledger); err != nil {
				out.PrintError = err.Error()
			}
		}
	case cloud.CommandCloseShift:
		s, ledger, err := r.CloseShift(ctx)
		if err != nil {
			out.Error = err.Error()
			break
		}
		out.FD, out.Totals = s.FD, r.shiftTotals(ledger)
		out.Totals.Shift, out.Totals.Open = s.Shift, false
	default:
		out.Error = "unknown command " + c.Kind
	}
	if out.Error != "" {
		r.log.Error("command from the cabinet", "command", c.Kind, "err", out.Error)
	}
	out.At = r.now()
	if err := r.store.SetSetting(commandSetting, out); err != nil {
		r.log.Error("keeping the command's outcome", "command", c.Kind, "err", err)
	}
	r.HeartbeatNow()
}

// commandSetting keeps the last command's outcome in the store: a register
// restarted still reports it, and never runs the same command twice.
const commandSetting = "cabinetCommand"

// commandOutcome is the outcome of the last command from the cabinet, or nil.
func (r *Runtime) commandOutcome() *cloud.CommandOutcome {
	var out cloud.CommandOutcome
	if found, err := r.store.Setting(commandSetting, &out); err != nil || !found {
		return nil
	}
	return &out
}

// shiftTotals are the ledger's shift counters as the cloud takes them.
func (r *Runtime) shiftTotals(ledger store.Ledger) *cloud.ShiftTotals {
	t := ledger.ShiftTotals
	op := func(i int) cloud.OpTotals {
		return cloud.OpTotals{Count: t.Count[i], Sum: cloud.Money(t.Sum[i]), Cash: cloud.Money(t.Cash[i]),
			Electronic: cloud.Money(t.Electronic[i]), Other: cloud.Money(t.Prepaid[i] + t.Credit[i] + t.Other[i])}
	}
	out := &cloud.ShiftTotals{Shift: ledger.Shift, Open: ledger.ShiftOpen, Income: op(0), IncomeReturn: op(1),
		Expense: op(2), ExpenseReturn: op(3), CashBalance: cloud.Money(ledger.CashBalance)}
	if !ledger.OpenedAt.IsZero() {
		out.OpenedAt = r.wallToLocal(ledger.OpenedAt)
	}
	return out
}
