package board

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"

	// The drivers of the profiles' SoCs, and the kernel's GPIO interfaces:
	// periph.io/x/host/v3 would bring every board it knows.
	_ "periph.io/x/host/v3/allwinner"
	_ "periph.io/x/host/v3/bcm283x"
	_ "periph.io/x/host/v3/gpioioctl"
	_ "periph.io/x/host/v3/sysfs"
)

// ErrNotWired reports a role the board's profile does not wire.
var ErrNotWired = errors.New("board: role not wired")

// ErrNoPin reports a profile pin the host does not have: the wrong profile,
// or a machine without GPIO.
var ErrNoPin = errors.New("pin not found")

// Board is the register's GPIO, opened from one profile. Its methods are safe
// for concurrent use.
type Board struct {
	profile Profile
	clock   clockwork.Clock
	log     *slog.Logger
	outputs map[Role]gpio.PinIO
	inputs  map[Role]*input
	led     *StatusLED
	presses chan Press

	drawerMu sync.Mutex
	stop     chan struct{}
	wg       sync.WaitGroup
	close    sync.Once
}

// Open opens a built-in profile by name. "none" (or "") opens a board with
// nothing wired and never touches periph.io, so it works on any machine.
func Open(profile string, log *slog.Logger) (*Board, error) {
	p, err := LookupProfile(profile)
	if err != nil {
		return nil, err
	}
	return OpenProfile(p, log)
}

// OpenProfile initialises the periph.io host drivers and opens p's pins on
// this machine.
func OpenProfile(p Profile, log *slog.Logger) (*Board, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pins := map[Role]gpio.PinIO{}
	if len(p.Lines) > 0 {
		st, err := driverreg.Init()
		logDrivers(log, st)
		if err != nil {
			return nil, fmt.Errorf("board: profile %s: periph host init: %w", p.Name, err)
		}
		for _, r := range p.sortedRoles() {
			name := p.Lines[r].Pin
			pin := gpioreg.ByName(name)
			if pin == nil {
				return nil, fmt.Errorf("board: profile %s: pin %s (%s): %w", p.Name, name, r, ErrNoPin)
			}
			pins[r] = pin
		}
	}
	return OpenPins(p, pins, clockwork.NewRealClock(), log)
}

func logDrivers(log *slog.Logger, st *driverreg.State) {
	if st == nil {
		return
	}
	for _, d := range st.Loaded {
		log.Debug("board: periph driver loaded", "driver", d.String())
	}
	for _, f := range st.Failed {
		log.Warn("board: periph driver failed", "driver", f.D.String(), "err", f.Err)
	}
}

// OpenPins opens a board on the given pins, one per role of p: tests pass
// gpiotest pins and a fake clock. The clock times debounce, long presses, the
// drawer pulse and the LED blinking; the pins time their own WaitForEdge.
func OpenPins(p Profile, pins map[Role]gpio.PinIO, clock clockwork.Clock, log *slog.Logger) (*Board, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for r := range pins {
		if _, ok := p.Lines[r]; !ok {
			return nil, fmt.Errorf("board: profile %s: pin given for role %s, which it does not wire", p.Name, r)
		}
	}
	b := &Board{
		profile: p, clock: clock, log: log,
		outputs: map[Role]gpio.PinIO{},
		inputs:  map[Role]*input{},
		presses: make(chan Press, 8),
		stop:    make(chan struct{}),
	}
	for _, r := range p.sortedRoles() {
		l, pin := p.Lines[r], pins[r]
		if pin == nil {
			return nil, fmt.Errorf("board: profile %s: no pin for role %s (%s)", p.Name, r, l.Pin)
		}
		if err := b.setup(r, l, pin); err != nil {
			b.halt()
			return nil, err
		}
	}
	b.led = &StatusLED{log: log, nudge: make(chan struct{}, 1),
		greenOn: p.Lines[LEDGreen].Active, redOn: p.Lines[LEDRed].Active}
	if pin, ok := b.outputs[LEDGreen]; ok {
		b.led.green = pin
	}
	if pin, ok := b.outputs[LEDRed]; ok {
		b.led.red = pin
	}
	if b.led.wired() {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.led.run(clock, b.stop) }()
	}
	for _, in := range b.inputs {
		var presses chan<- Press
		if in.role == Button {
			presses = b.presses
		}
		b.wg.Add(1)
		go func() { defer b.wg.Done(); in.run(b.stop, presses) }()
	}
	log.Info("board: opened", "profile", p.Name, "wired", len(p.Lines))
	return b, nil
}

// setup configures one pin for its role: inputs with their pull and both
// edges, outputs at rest (printer power on: a register prints).
func (b *Board) setup(r Role, l Line, pin gpio.PinIO) error {
	if r.IsInput() {
		if err := pin.In(l.Pull, gpio.BothEdges); err != nil {
			return fmt.Errorf("board: pin %s (%s): input with edges: %w", l.Pin, r, err)
		}
		long := b.profile.LongPress
		if r != Button {
			long = 0 // sensors are read, never pressed
		}
		b.inputs[r] = &input{role: r, pin: pin, clock: b.clock, log: b.log,
			d: newDebouncer(pin.Read(), l.Active, l.Debounce, long)}
		return nil
	}
	if err := drive(pin, l.Active, r == PrinterPower); err != nil {
		return fmt.Errorf("board: %s: %w", r, err)
	}
	b.outputs[r] = pin
	return nil
}

// Profile is the profile the board was opened with.
func (b *Board) Profile() Profile { return b.profile }

// LED is the status LED; on a board without one, Show only records the
// pattern.
func (b *Board) LED() *StatusLED { return b.led }

// Button delivers debounced presses of the service button. It is closed by
// Close; on a board without a button it only closes.
func (b *Board) Button() <-chan Press { return b.presses }

// PaperPresent reports the debounced paper sensor, and whether it is wired.
func (b *Board) PaperPresent() (present, wired bool) { return b.read(Paper) }

// CoverClosed reports the debounced cover switch, and whether it is wired.
func (b *Board) CoverClosed() (closed, wired bool) { return b.read(Cover) }

func (b *Board) read(r Role) (bool, bool) {
	in, ok := b.inputs[r]
	if !ok {
		return false, false
	}
	return in.active(), true
}

// KickDrawer pulses the drawer solenoid for the profile's DrawerPulse. Kicks
// do not overlap; the line returns to rest even when ctx ends mid-pulse.
func (b *Board) KickDrawer(ctx context.Context) error {
	pin, ok := b.outputs[Drawer]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotWired, Drawer)
	}
	active := b.profile.Lines[Drawer].Active
	b.drawerMu.Lock()
	defer b.drawerMu.Unlock()
	if err := drive(pin, active, true); err != nil {
		return fmt.Errorf("board: drawer kick: %w", err)
	}
	var cut error
	select {
	case <-b.clock.After(b.profile.DrawerPulse):
	case <-ctx.Done():
		cut = ctx.Err()
	}
	if err := drive(pin, active, false); err != nil {
		return fmt.Errorf("board: drawer kick: release: %w", err)
	}
	if cut != nil {
		return fmt.Errorf("board: drawer kick cut short: %w", cut)
	}
	return nil
}

// SetPrinterPower switches the printer's supply, e.g. to recover a printer
// that no longer answers.
func (b *Board) SetPrinterPower(on bool) error {
	pin, ok := b.outputs[PrinterPower]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotWired, PrinterPower)
	}
	if err := drive(pin, b.profile.Lines[PrinterPower].Active, on); err != nil {
		return fmt.Errorf("board: printer power: %w", err)
	}
	return nil
}

// Close stops the board's goroutines, turns the LED off, leaves the drawer at
// rest and the printer's power as it is, and closes Button's channel.
func (b *Board) Close() error {
	b.close.Do(func() {
		close(b.stop)
		b.halt()
		b.wg.Wait()
		close(b.presses)
	})
	return nil
}

// halt stops edge detection, which also wakes WaitForEdge on real drivers.
func (b *Board) halt() {
	for _, in := range b.inputs {
		if err := in.pin.Halt(); err != nil {
			b.log.Warn("board: halt", "role", in.role, "err", err)
		}
	}
}
