package device

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/store"
)

// The board's GPIO, on periph's test pins: the paper sensor holds a receipt to be
// printed, the service button prints the self-test, and the LED follows health.
func TestBoardSensorsButtonAndLED(t *testing.T) {
	line := func(pin string) board.Line {
		return board.Line{Pin: pin, Active: gpio.Low, Pull: gpio.PullUp, Debounce: 10 * time.Millisecond}
	}
	prof := board.Profile{Name: "test", LongPress: 2 * time.Second, DrawerPulse: 100 * time.Millisecond, Lines: map[board.Role]board.Line{
		board.Button:   line("BTN"),
		board.Paper:    line("PAPER"),
		board.LEDGreen: {Pin: "G", Active: gpio.High},
		board.LEDRed:   {Pin: "R", Active: gpio.High},
	}}
	btn := &gpiotest.Pin{N: "BTN", EdgesChan: make(chan gpio.Level)}
	paper := &gpiotest.Pin{N: "PAPER", EdgesChan: make(chan gpio.Level)}
	hw, err := board.OpenPins(prof, map[board.Role]gpio.PinIO{
		board.Button: btn, board.Paper: paper, board.LEDGreen: &gpiotest.Pin{N: "G"}, board.LEDRed: &gpiotest.Pin{N: "R"},
	}, clockwork.NewRealClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	cfg, pe := withPrinter(t)
	cfg.Board = hw
	g := newRig(t, cfg)
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	go g.rt.boardLoop(ctx)

	// The sensor says no paper (the line rests high): a receipt to print waits.
	d := devicetest.Sale("paper", "SALE", "CARD", 10)
	d["printReceipt"] = true
	g.post(d)
	g.cycle()
	if doc, _ := g.st.Get("paper"); doc.State != store.Accepted {
		t.Fatalf("signed with the paper sensor reading empty: %s", doc.State)
	}
	if h := g.rt.Health(g.ctx); h.Printer.Paper != "out" {
		t.Fatalf("health: %+v", h.Printer)
	}
	paper.EdgesChan <- gpio.Low
	devicetest.WaitFor(t, "the paper sensor", 5*time.Second, func() bool { p, _ := hw.PaperPresent(); return p })
	g.cycle()
	if doc, _ := g.st.Get("paper"); doc.State != store.Fiscalized {
		t.Fatalf("with paper: %s", doc.State)
	}

	// A short press of the service button prints the self-test.
	btn.EdgesChan <- gpio.Low
	time.Sleep(50 * time.Millisecond)
	btn.EdgesChan <- gpio.High
	devicetest.WaitFor(t, "the self-test page", 10*time.Second, func() bool { return strings.Contains(printed(pe), "ТЕСТ ПЕЧАТИ") })

	// The LED: documents wait for the OFD (this rig has none), then a stop turns it red.
	devicetest.WaitFor(t, "the waiting pattern", 5*time.Second, func() bool { return hw.LED().Pattern() == board.Waiting })
	for _, id := range []string{"b1", "b2", "b3", "b4"} {
		g.rt.Accept(g.ctx, []cloud.Lease{badLease(id)})
		g.rt.drain(g.ctx)
	}
	devicetest.WaitFor(t, "the stopped pattern", 5*time.Second, func() bool { return hw.LED().Pattern() == board.Stopped })
}
