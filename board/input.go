package board

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Press is one debounced press of the service button.
type Press int

const (
	// Short is a press released before the profile's LongPress.
	Short Press = iota + 1
	// Long is a press held for LongPress; it is reported while still held, so
	// the technician sees the register react without letting go.
	Long
)

func (p Press) String() string {
	switch p {
	case Short:
		return "short"
	case Long:
		return "long"
	}
	return fmt.Sprintf("Press(%d)", int(p))
}

// debouncer turns raw levels into a stable level and, when long > 0, into
// presses. It is pure: time is handed in, so it is tested without sleeping.
type debouncer struct {
	debounce time.Duration
	long     time.Duration // 0: an input that is only read, never pressed
	active   gpio.Level

	stable    gpio.Level
	raw       gpio.Level
	rawAt     time.Time // when raw last changed
	settling  bool
	pressedAt time.Time
	longSent  bool
}

func newDebouncer(initial, active gpio.Level, debounce, long time.Duration) *debouncer {
	return &debouncer{debounce: debounce, long: long, active: active, stable: initial, raw: initial}
}

// edge records the level read after an edge at now. Every edge restarts the
// settling time, even one that reads the level already seen: the line moved
// and came back faster than it was read, which is bounce too.
func (d *debouncer) edge(l gpio.Level, now time.Time) {
	d.raw, d.rawAt, d.settling = l, now, true
}

// deadline is when fire must next be called, if anything is pending.
func (d *debouncer) deadline() (time.Time, bool) {
	if d.settling {
		return d.rawAt.Add(d.debounce), true
	}
	if d.long > 0 && d.stable == d.active && !d.longSent {
		return d.pressedAt.Add(d.long), true
	}
	return time.Time{}, false
}

// fire brings the state up to now and returns the press that completes, if any.
func (d *debouncer) fire(now time.Time) (Press, bool) {
	if d.settling && !now.Before(d.rawAt.Add(d.debounce)) {
		d.settling = false
		if d.raw != d.stable {
			d.stable = d.raw
			if d.stable == d.active {
				d.pressedAt, d.longSent = d.rawAt, false
			} else if d.long > 0 && !d.longSent {
				return Short, true
			}
		}
	}
	// A release still settling is not yet a release, nor is it still a hold:
	// wait for it to settle before calling the press Long.
	releasing := d.settling && d.raw != d.active
	if d.long > 0 && d.stable == d.active && !d.longSent && !releasing && !now.Before(d.pressedAt.Add(d.long)) {
		d.longSent = true
		return Long, true
	}
	return 0, false
}

// idlePoll bounds each wait for an edge so that Close is noticed even by pin
// drivers whose Halt does not interrupt WaitForEdge.
const idlePoll = 200 * time.Millisecond

// input is one edge-detected, debounced input line.
type input struct {
	role  Role
	pin   gpio.PinIO
	clock clockwork.Clock
	log   *slog.Logger

	mu sync.Mutex
	d  *debouncer
}

// active reports the debounced state: whether the line is at its active level.
func (in *input) active() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.d.stable == in.d.active
}

// run waits for edges until stop closes, sending presses (for the button) to
// presses without ever blocking on a slow reader.
func (in *input) run(stop <-chan struct{}, presses chan<- Press) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		wait := idlePoll
		in.mu.Lock()
		if dl, ok := in.d.deadline(); ok {
			wait = max(min(dl.Sub(in.clock.Now()), idlePoll), 0)
		}
		in.mu.Unlock()
		edged := in.pin.WaitForEdge(wait)
		var level gpio.Level
		if edged {
			level = in.pin.Read()
		}
		in.mu.Lock()
		now := in.clock.Now()
		if edged {
			in.d.edge(level, now)
		}
		p, ok := in.d.fire(now)
		in.mu.Unlock()
		if !ok || presses == nil {
			continue
		}
		select {
		case presses <- p:
			in.log.Debug("board: button press", "press", p)
		default:
			in.log.Warn("board: button press dropped, nobody is reading", "press", p)
		}
	}
}
