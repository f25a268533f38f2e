package device

import (
	"context"
	"time"

	"github.com/openkassa/kassa/board"
)

// Board is what the runtime needs of the hardware: the status LED, the service
// button and the printer's sensors on GPIO.
type Board interface {
	LED() *board.StatusLED
	Button() <-chan board.Press
	PaperPresent() (present, wired bool)
	CoverClosed() (closed, wired bool)
}

// boardLoop keeps the status LED on the register's health and answers the
// service button: a short press prints the self-test, a long one the X report.
func (r *Runtime) boardLoop(ctx context.Context) {
	if r.board == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		h := r.Health(ctx)
		r.board.LED().Show(board.PatternFor(h.Stopped, h.Drive.Error != "", h.WaitingForOFD))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case p, ok := <-r.board.Button():
			if !ok {
				return
			}
			cmd := map[board.Press][]string{board.Short: {"selftest"}, board.Long: {"report", "x"}}[p]
			ans := r.Console(ctx, cmd)
			r.event("button", "service button (%v): %s %s", p, cmd[0], ans.Error)
		}
	}
}

// sensors folds the printer's GPIO sensors, where wired, into its status: a
// paper sensor or cover switch on the board is believed over a printer that
// cannot say.
func (r *Runtime) sensors(paperOut, coverOpen bool) (bool, bool) {
	if r.board == nil {
		return paperOut, coverOpen
	}
	if present, wired := r.board.PaperPresent(); wired && !present {
		paperOut = true
	}
	if closed, wired := r.board.CoverClosed(); wired && !closed {
		coverOpen = true
	}
	return paperOut, coverOpen
}
