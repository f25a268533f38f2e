package device

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/ofd/sim/simtest"
)

// TestOFDOutageOf30Days: documents pile up unsent while the OFD is away; from 25
// days the drive warns, at 30 days it refuses new documents and the register
// stops saying why; once the OFD is back everything is delivered in order and
// the register resumes.
func TestOFDOutageOf30Days(t *testing.T) {
	g := newRig(t, Config{ShiftMaxAge: 23 * time.Hour})
	g.post(devicetest.Sale("d0", "SALE", "CARD", 10))
	g.cycle()
	for day := 1; day <= 29; day++ {
		g.advance(24 * time.Hour)
		g.post(devicetest.Sale(fmt.Sprint("d", day), "SALE", "CARD", 10))
		g.cycle()
		h := g.rt.Health(g.ctx)
		if h.Stopped {
			t.Fatalf("day %d: stopped: %s", day, h.StopReason)
		}
		warned := slices.Contains(h.Drive.Warnings, "OFD timeout near")
		if warned != (day >= 25) {
			t.Fatalf("day %d: OFD warning %v (warnings %v)", day, warned, h.Drive.Warnings)
		}
	}
	g.advance(24*time.Hour + time.Hour)
	g.post(devicetest.Sale("late", "SALE", "CARD", 10))
	g.cycle()
	h := g.rt.Health(g.ctx)
	if !h.Stopped || !strings.Contains(h.StopReason, "OFD") {
		t.Fatalf("at 30 days: stopped %v, reason %q", h.Stopped, h.StopReason)
	}
	if h.WaitingForOFD == 0 || h.OldestUnsentAt.IsZero() || h.At.Sub(h.OldestUnsentAt) < 30*24*time.Hour {
		t.Fatalf("health does not show the backlog: %d waiting, oldest %v", h.WaitingForOFD, h.OldestUnsentAt)
	}

	// The OFD comes back: the sender catches up, in the drive's order.
	docs := g.deliverAll()
	for i, d := range docs {
		if d.FD != uint32(i+1) {
			t.Fatalf("the OFD got FD %d in place %d", d.FD, i+1)
		}
	}
	g.rt.liftOFDStop(g.ctx)
	if h := g.rt.Health(g.ctx); h.Stopped {
		t.Fatalf("the OFD stop did not lift after the catch-up: %s", h.StopReason)
	}
	g.cycle()
	if s := g.status("late"); s.Status != "COMPLETED" {
		t.Fatalf("after the catch-up the waiting document is %s: %s", s.Status, s.Message)
	}
}

// deliverAll runs an OFD emulator and a sender on the rig's drive until the
// drive has nothing unsent, and returns what the OFD holds.
func (g *rig) deliverAll() []sim.Document {
	g.t.Helper()
	o, addr := simtest.Start(g.t, sim.Config{OFDKey: []byte("the OFD emulator's key"), DriveKeys: simtest.DriveKeys(g.em)}, "")
	sender := ofd.NewSender(g.em, ofd.SenderConfig{Addr: addr, Backoff: &backoff.ZeroBackOff{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan struct{})
	go func() { sender.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	devicetest.WaitFor(g.t, "the drive's queue delivered", 20*time.Second, func() bool {
		st, err := g.em.State(g.ctx)
		return err == nil && st.Unsent == 0
	})
	docs, err := o.Documents()
	if err != nil {
		g.t.Fatal(err)
	}
	return docs
}
