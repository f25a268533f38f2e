package board

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// out is one level written to a recorded pin.
type out struct {
	pin   string
	level gpio.Level
}

// recPin is a gpiotest pin that also reports every Out, in order, so a test
// sees each step of a blink or a kick rather than sampling the pin and hoping.
type recPin struct {
	*gpiotest.Pin
	outs chan<- out
}

func (p *recPin) Out(l gpio.Level) error {
	if err := p.Pin.Out(l); err != nil {
		return err
	}
	p.outs <- out{p.N, l}
	return nil
}

func nextOut(t *testing.T, outs <-chan out) out {
	t.Helper()
	select {
	case o := <-outs:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("no pin was written within 5s")
	}
	return out{}
}

func noOut(t *testing.T, outs <-chan out, within time.Duration) {
	t.Helper()
	select {
	case o := <-outs:
		t.Fatalf("unexpected write %s=%v", o.pin, o.level)
	case <-time.After(within):
	}
}

func inputPin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level)}
}

func TestOpenNoneWorksWithoutGPIO(t *testing.T) {
	b, err := Open(None, quiet())
	if err != nil {
		t.Fatalf("Open(none): %v", err)
	}
	if _, wired := b.PaperPresent(); wired {
		t.Error("profile none reports a paper sensor")
	}
	if _, wired := b.CoverClosed(); wired {
		t.Error("profile none reports a cover switch")
	}
	if err := b.KickDrawer(context.Background()); !errors.Is(err, ErrNotWired) {
		t.Errorf("KickDrawer on none = %v; want ErrNotWired", err)
	}
	if err := b.SetPrinterPower(true); !errors.Is(err, ErrNotWired) {
		t.Errorf("SetPrinterPower on none = %v; want ErrNotWired", err)
	}
	b.LED().Show(Fault)
	if got := b.LED().Pattern(); got != Fault {
		t.Errorf("LED pattern = %v; want fault recorded even with no LED", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-b.Button(); open {
		t.Error("Button channel still open after Close")
	}
}

// On a machine without the profile's GPIO (a PC, qemu-user) opening a real
// profile initialises periph.io and fails on the first missing pin, naming it.
func TestOpenRealProfileWithoutItsPins(t *testing.T) {
	p, err := LookupProfile("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenProfile(p, quiet())
	if gpioreg.ByName(p.Lines[Button].Pin) != nil {
		if err == nil {
			b.Close()
		}
		t.Skip("this machine has the Raspberry Pi's GPIO")
	}
	if !errors.Is(err, ErrNoPin) {
		t.Fatalf("OpenProfile(rpi4) here = %v; want ErrNoPin", err)
	}
	if want := "pin " + p.Lines[Button].Pin + " (button)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

func TestOpenPinsRejectsMissingAndStrayPins(t *testing.T) {
	p := Profile{Name: "t", Lines: map[Role]Line{LEDGreen: {Pin: "P1", Active: gpio.High}}}
	if _, err := OpenPins(p, nil, clockwork.NewFakeClock(), quiet()); err == nil || !strings.Contains(err.Error(), "no pin for role led-green") {
		t.Errorf("missing pin: err = %v", err)
	}
	pins := map[Role]gpio.PinIO{LEDGreen: &gpiotest.Pin{N: "P1"}, LEDRed: &gpiotest.Pin{N: "P2"}}
	if _, err := OpenPins(p, pins, clockwork.NewFakeClock(), quiet()); err == nil || !strings.Contains(err.Error(), "led-red") {
		t.Errorf("stray pin: err = %v", err)
	}
}

func buttonProfile() Profile {
	return Profile{Name: "t", LongPress: 300 * time.Millisecond, Lines: map[Role]Line{
		Button: {Pin: "BTN", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 10 * time.Millisecond},
		Paper:  {Pin: "PAPER", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 10 * time.Millisecond},
	}}
}

func openButton(t *testing.T) (*Board, *gpiotest.Pin, *gpiotest.Pin) {
	t.Helper()
	btn, paper := inputPin("BTN"), inputPin("PAPER")
	b, err := OpenPins(buttonProfile(), map[Role]gpio.PinIO{Button: btn, Paper: paper}, clockwork.NewRealClock(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, btn, paper
}

func nextPress(t *testing.T, b *Board, within time.Duration) (Press, bool) {
	t.Helper()
	select {
	case p := <-b.Button():
		return p, true
	case <-time.After(within):
		return 0, false
	}
}

// The button tests run on the real clock, on the pins' own edge waits, with
// timings wide enough for a loaded machine; the exact timing rules are
// TestDebouncer's.
func TestButtonBouncyPressIsOneShort(t *testing.T) {
	b, btn, _ := openButton(t)
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		btn.EdgesChan <- l
	}
	time.Sleep(60 * time.Millisecond)
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High} {
		btn.EdgesChan <- l
	}
	if p, ok := nextPress(t, b, 2*time.Second); !ok || p != Short {
		t.Fatalf("press = %v (%v); want short", p, ok)
	}
	if p, ok := nextPress(t, b, 500*time.Millisecond); ok {
		t.Errorf("a second press %v from one bouncy press", p)
	}
}

func TestButtonHoldIsLong(t *testing.T) {
	b, btn, _ := openButton(t)
	start := time.Now()
	btn.EdgesChan <- gpio.Low
	p, ok := nextPress(t, b, 3*time.Second)
	if !ok || p != Long {
		t.Fatalf("press = %v (%v); want long", p, ok)
	}
	if held := time.Since(start); held < b.Profile().LongPress {
		t.Errorf("long press after %v; before the %v hold", held, b.Profile().LongPress)
	}
	btn.EdgesChan <- gpio.High
	if p, ok := nextPress(t, b, 300*time.Millisecond); ok {
		t.Errorf("release after a long press gave %v", p)
	}
}

func TestPaperSensorDebounced(t *testing.T) {
	b, _, paper := openButton(t)
	if present, wired := b.PaperPresent(); present || !wired {
		t.Fatalf("at rest (pulled up): present %v wired %v; want false true", present, wired)
	}
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
		paper.EdgesChan <- l
	}
	deadline := time.Now().Add(3 * time.Second)
	for present, _ := b.PaperPresent(); !present; present, _ = b.PaperPresent() {
		if time.Now().After(deadline) {
			t.Fatal("paper never read as present")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p, ok := nextPress(t, b, 100*time.Millisecond); ok {
		t.Errorf("the paper sensor made a button press %v", p)
	}
}

type rgb struct{ green, red bool }

func TestStatusLEDFollowsPatternOnTicker(t *testing.T) {
	outs := make(chan out, 64)
	green := &recPin{&gpiotest.Pin{N: "G"}, outs}
	red := &recPin{&gpiotest.Pin{N: "R"}, outs}
	p := Profile{Name: "t", Lines: map[Role]Line{
		LEDGreen: {Pin: "G", Active: gpio.High},
		LEDRed:   {Pin: "R", Active: gpio.Low}, // a common-anode leg: lit when low
	}}
	clock := clockwork.NewFakeClock()
	b, err := OpenPins(p, map[Role]gpio.PinIO{LEDGreen: green, LEDRed: red}, clock, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// next reads one render: green is written before red, as levels that
	// mean lit or dark after each line's active level.
	next := func() rgb {
		t.Helper()
		g, r := nextOut(t, outs), nextOut(t, outs)
		if g.pin != "G" || r.pin != "R" {
			t.Fatalf("render wrote %s then %s; want G then R", g.pin, r.pin)
		}
		return rgb{g.level == gpio.High, r.level == gpio.Low}
	}
	dark := rgb{}
	for i, what := range []string{"rest at open", "first render"} {
		if got := next(); got != dark {
			t.Fatalf("%s (%d) = %+v; want dark", what, i, got)
		}
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	// expect shows pattern, then checks its first render and the next ones,
	// each one blink step of the clock apart.
	expect := func(pattern Pattern, steps ...rgb) {
		t.Helper()
		b.LED().Show(pattern)
		for i, want := range steps {
			if i > 0 {
				clock.Advance(BlinkStep)
			}
			if got := next(); got != want {
				t.Fatalf("%v step %d = %+v; want %+v", pattern, i, got, want)
			}
		}
	}
	g, r := rgb{green: true}, rgb{red: true}
	cases := []struct {
		stopped, fault bool
		waiting        int
		steps          []rgb
	}{
		{false, false, 0, []rgb{g, g, g}},                // Ready: steady green
		{false, false, 3, []rgb{g, g, dark, dark, g, g}}, // Waiting: green at 1 Hz
		{true, false, 3, []rgb{r, r, r}},                 // Stopped: steady red
		{true, true, 3, []rgb{r, dark, r, dark}},         // Fault: red at 2 Hz
	}
	for _, c := range cases {
		expect(PatternFor(c.stopped, c.fault, c.waiting), c.steps...)
	}
	expect(Off, dark, dark)
	b.Close()
	if got := next(); got != dark {
		t.Errorf("after Close the LED is %+v; want dark", got)
	}
}

func TestPatternFor(t *testing.T) {
	cases := []struct {
		stopped, fault bool
		waiting        int
		want           Pattern
	}{
		{false, false, 0, Ready},
		{false, false, 1, Waiting},
		{true, false, 0, Stopped},
		{true, false, 10, Stopped},
		{false, true, 0, Fault},
		{true, true, 10, Fault},
	}
	for _, c := range cases {
		if got := PatternFor(c.stopped, c.fault, c.waiting); got != c.want {
			t.Errorf("PatternFor(stopped %v, fault %v, waiting %d) = %v; want %v", c.stopped, c.fault, c.waiting, got, c.want)
		}
	}
}

func drawerBoard(t *testing.T) (*Board, *clockwork.FakeClock, <-chan out) {
	t.Helper()
	outs := make(chan out, 16)
	p := Profile{Name: "t", DrawerPulse: 150 * time.Millisecond, Lines: map[Role]Line{
		Drawer:       {Pin: "D", Active: gpio.High},
		PrinterPower: {Pin: "PWR", Active: gpio.Low},
	}}
	clock := clockwork.NewFakeClock()
	b, err := OpenPins(p, map[Role]gpio.PinIO{
		Drawer:       &recPin{&gpiotest.Pin{N: "D"}, outs},
		PrinterPower: &recPin{&gpiotest.Pin{N: "PWR"}, outs},
	}, clock, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// At open: the drawer at rest, the printer powered (active low).
	for _, want := range []out{{"D", gpio.Low}, {"PWR", gpio.Low}} {
		if got := nextOut(t, outs); got != want {
			t.Fatalf("at open wrote %v; want %v", got, want)
		}
	}
	return b, clock, outs
}

func TestKickDrawerPulses(t *testing.T) {
	b, clock, outs := drawerBoard(t)
	done := make(chan error, 1)
	go func() { done <- b.KickDrawer(context.Background()) }()
	if got := nextOut(t, outs); got != (out{"D", gpio.High}) {
		t.Fatalf("kick wrote %v; want D high", got)
	}
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(b.Profile().DrawerPulse - time.Millisecond)
	noOut(t, outs, 50*time.Millisecond)
	clock.Advance(time.Millisecond)
	if got := nextOut(t, outs); got != (out{"D", gpio.Low}) {
		t.Fatalf("after the pulse wrote %v; want D low", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("KickDrawer: %v", err)
	}
}

func TestKickDrawerCancelledReleases(t *testing.T) {
	b, _, outs := drawerBoard(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.KickDrawer(ctx) }()
	if got := nextOut(t, outs); got != (out{"D", gpio.High}) {
		t.Fatalf("kick wrote %v; want D high", got)
	}
	cancel()
	if got := nextOut(t, outs); got != (out{"D", gpio.Low}) {
		t.Fatalf("after cancel wrote %v; want D low", got)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("KickDrawer = %v; want context.Canceled", err)
	}
}

func TestPrinterPower(t *testing.T) {
	b, _, outs := drawerBoard(t)
	if err := b.SetPrinterPower(false); err != nil {
		t.Fatal(err)
	}
	if got := nextOut(t, outs); got != (out{"PWR", gpio.High}) {
		t.Errorf("power off wrote %v; want PWR high (active low)", got)
	}
}
