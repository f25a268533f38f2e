package board

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Pattern is what the status LED shows. docs/board.md is the reference a
// technician reads; PatternFor is the mapping from the register's health.
type Pattern int

const (
	// Off: the register is not running.
	Off Pattern = iota
	// Ready: steady green, taking documents, nothing waiting for the OFD.
	Ready
	// Waiting: blinking green (1 Hz), working, but documents wait for the OFD.
	Waiting
	// Stopped: steady red, the register stopped taking documents.
	Stopped
	// Fault: blinking red (2 Hz), the fiscal drive reports an error.
	Fault
)

func (p Pattern) String() string {
	switch p {
	case Off:
		return "off"
	case Ready:
		return "ready"
	case Waiting:
		return "waiting"
	case Stopped:
		return "stopped"
	case Fault:
		return "fault"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// BlinkStep is the LED's time base: Fault toggles every step, Waiting every
// two.
const BlinkStep = 250 * time.Millisecond

// lit says which colours are on at blink step n.
func (p Pattern) lit(step int) (green, red bool) {
	switch p {
	case Ready:
		return true, false
	case Waiting:
		return step%4 < 2, false
	case Stopped:
		return false, true
	case Fault:
		return false, step%2 == 0
	}
	return false, false
}

// PatternFor maps the register's health to the LED: a drive fault outranks a
// stop (a drive error stops the register too, and the technician must see
// which), a stop outranks an OFD backlog, and an OFD backlog outranks ready.
func PatternFor(stopped, driveFault bool, waitingForOFD int) Pattern {
	switch {
	case driveFault:
		return Fault
	case stopped:
		return Stopped
	case waitingForOFD > 0:
		return Waiting
	}
	return Ready
}

// StatusLED drives the green and red LED lines. Show never blocks; the
// pattern is rendered by the board's own goroutine on its clock.
type StatusLED struct {
	green, red     gpio.PinOut // nil: not wired
	greenOn, redOn gpio.Level
	log            *slog.Logger

	mu      sync.Mutex
	pattern Pattern
	lastErr string
	nudge   chan struct{}
}

// Show switches to pattern p from its first step.
func (l *StatusLED) Show(p Pattern) {
	l.mu.Lock()
	l.pattern = p
	l.mu.Unlock()
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// Pattern is the pattern last shown.
func (l *StatusLED) Pattern() Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pattern
}

func (l *StatusLED) wired() bool { return l.green != nil || l.red != nil }

// run renders the pattern on clock's ticks until stop closes, then turns the
// LED off.
func (l *StatusLED) run(clock clockwork.Clock, stop <-chan struct{}) {
	t := clock.NewTicker(BlinkStep)
	defer t.Stop()
	step := 0
	for {
		l.apply(step)
		select {
		case <-stop:
			l.set(false, false)
			return
		case <-l.nudge:
			step = 0
		case <-t.Chan():
			step++
		}
	}
}

func (l *StatusLED) apply(step int) {
	g, r := l.Pattern().lit(step)
	l.set(g, r)
}

func (l *StatusLED) set(green, red bool) {
	err := drive(l.green, l.greenOn, green)
	if e := drive(l.red, l.redOn, red); err == nil {
		err = e
	}
	// A broken LED must not flood the log at 4 Hz: report changes only.
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	l.mu.Lock()
	changed := msg != l.lastErr
	l.lastErr = msg
	l.mu.Unlock()
	if changed && err != nil {
		l.log.Warn("board: status LED", "err", err)
	}
}

// drive sets an output to its active level when on, else to the other level.
func drive(p gpio.PinOut, active gpio.Level, on bool) error {
	if p == nil {
		return nil
	}
	l := active
	if !on {
		l = !active
	}
	if err := p.Out(l); err != nil {
		return fmt.Errorf("board: pin %s: %w", p.Name(), err)
	}
	return nil
}
