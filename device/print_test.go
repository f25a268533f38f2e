package device

import (
	"context"
	"strings"
	"testing"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
	"github.com/openkassa/kassa/store"
)

// withPrinter serves an emulated printer on a pty and opens the other end as the
// register opens a real printer's serial port.
func withPrinter(t *testing.T) (Config, *emu.Printer) {
	prof, _ := printer.ProfileByName("emu-58")
	pe := emu.New(emu.Config{Profile: prof})
	pt, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pe.Serve(ctx, pt.Master()); close(done) }()
	port, err := board.OpenSerial(board.SerialConfig{Path: pt.Path, Baud: prof.Baud})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close(); cancel(); <-done; pt.Close() })
	return Config{Printer: printer.New(port, prof, printer.Options{}), PrinterProfile: prof, OFDName: "ОФД-эмулятор", OFDSite: "ofd.example"}, pe
}

func printed(pe *emu.Printer) string {
	var b strings.Builder
	for _, p := range pe.Pages() {
		b.WriteString(p.Text)
	}
	return b.String()
}

func TestPaperOutHoldsPrintedReceiptsOnly(t *testing.T) {
	cfg, pe := withPrinter(t)
	g := newRig(t, cfg)
	pe.SetPaperOut(true)
	paperDoc := devicetest.Sale("paper", "SALE", "CARD", 10)
	paperDoc["printReceipt"] = true
	g.post(paperDoc)
	g.post(devicetest.Sale("email", "SALE", "CARD", 20))
	g.cycle()
	if d, _ := g.st.Get("paper"); d.State != store.Accepted {
		t.Fatalf("a receipt to print was %s while the paper is out", d.State)
	}
	if d, _ := g.st.Get("email"); d.State != store.Fiscalized {
		t.Fatalf("an electronic receipt waited for the printer: %s", d.State)
	}
	if h := g.rt.Health(g.ctx); h.Printer.Paper != "out" {
		t.Fatalf("health does not say the paper is out: %+v", h.Printer)
	}
	pe.SetPaperOut(false)
	g.cycle()
	g.rt.printQueued(g.ctx)
	if d, _ := g.st.Get("paper"); d.State != store.Fiscalized {
		t.Fatalf("after the paper came back: %s", d.State)
	}
	text := printed(pe)
	if !strings.Contains(text, "КАССОВЫЙ ЧЕК") || !strings.Contains(text, "Товар 1") {
		t.Fatalf("the receipt was not printed:\n%s", text)
	}
	if n := strings.Count(text, "КАССОВЫЙ ЧЕК"); n != 1 {
		t.Fatalf("%d receipts printed, want only the one that asked for it", n)
	}
}

func TestPrintFailingAfterSigningIsRequeuedAcrossRestart(t *testing.T) {
	cfg, pe := withPrinter(t)
	g := newRig(t, cfg)
	// The shift report and the receipt are signed and queued; the paper runs out
	// before they print.
	d := devicetest.Sale("late-paper", "SALE", "CARD", 10)
	d["printReceipt"] = true
	g.post(d)
	leases, _ := g.client.Lease(g.ctx, 0, 16)
	g.rt.Accept(g.ctx, leases)
	g.rt.drain(g.ctx)
	pe.SetPaperOut(true)
	g.rt.printQueued(g.ctx)
	queue, _ := g.st.Prints()
	if len(queue) != 2 {
		t.Fatalf("print queue %v, want the shift open report and the receipt", queue)
	}
	// A restart: a new runtime on the same store, a new connection to the printer.
	cfg2, pe2 := withPrinter(t)
	cfg2.Location, cfg2.Serial, cfg2.Version = msk, SandboxSerial, "0.1.0"
	rt2 := New(cfg2, g.em, g.st, g.client, nil, g.clock, nil)
	if err := rt2.reconcile(g.ctx); err != nil {
		t.Fatal(err)
	}
	rt2.printQueued(g.ctx)
	if q, _ := g.st.Prints(); len(q) != 0 {
		t.Fatalf("still queued after the restart: %v", q)
	}
	text := printed(pe2)
	if !strings.Contains(text, "ОТКРЫТИИ СМЕНЫ") || !strings.Contains(text, "КАССОВЫЙ ЧЕК") {
		t.Fatalf("printed after the restart:\n%s", text)
	}
	// A reprint is marked as a copy.
	st, _ := g.em.State(g.ctx)
	if err := rt2.Reprint(st.LastFD); err != nil {
		t.Fatal(err)
	}
	rt2.printQueued(g.ctx)
	if !strings.Contains(printed(pe2), "КОПИЯ") {
		t.Fatal("the reprint is not marked as a copy")
	}
}
