package device

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/devicetest"
)

// beat is one turn of the heartbeat loop: the register's health goes to the
// cloud, and a command in the answer runs.
func (g *rig) beat() cloud.HeartbeatResponse {
	g.t.Helper()
	resp, err := g.client.SendHeartbeat(g.ctx, g.rt.Health(g.ctx))
	if err != nil {
		g.t.Fatal(err)
	}
	if resp.Command != nil {
		g.rt.runCommand(g.ctx, *resp.Command)
	}
	return resp
}

// TestCabinetCommands: an X report and a shift close asked in the cabinet
// reach the register in a heartbeat's answer; it prints the X report, closes
// the shift on the drive, and the cloud gets the outcomes and the totals.
func TestCabinetCommands(t *testing.T) {
	cfg, pe := withPrinter(t)
	g := newRig(t, cfg)
	g.post(devicetest.Sale("s1", "SALE", "CARD", 100, 50))
	g.post(devicetest.Sale("s2", "SALE", "CASH", 30))
	g.post(devicetest.Sale("r1", "RETURN", "CASH", 10))
	g.cycle()
	point := g.sb.RetailPointID
	g.beat()

	x, err := g.server.RequestCommand(point, cloud.CommandXReport, "owner")
	if err != nil {
		t.Fatal(err)
	}
	if resp := g.beat(); resp.Command == nil || resp.Command.ID != x.ID {
		t.Fatalf("the X report did not come: %+v", resp)
	}
	if text := printed(pe); !strings.Contains(text, "X-ОТЧЕТ") {
		t.Fatalf("no X report printed: %q", text)
	}
	g.beat() // carries the outcome
	pc, found, err := g.server.LastCommand(point)
	if err != nil || !found || pc.Outcome == nil {
		t.Fatalf("X report's outcome: %+v %v %v", pc, found, err)
	}
	o := pc.Outcome
	if o.Error != "" || o.PrintError != "" || o.Totals == nil || !o.Totals.Open || o.Totals.Shift != 1 {
		t.Fatalf("X report's outcome %+v", o)
	}
	if in, ret := o.Totals.Income, o.Totals.IncomeReturn; in.Count != 2 || in.Sum != 18000 || in.Electronic != 15000 || in.Cash != 3000 ||
		ret.Count != 1 || ret.Sum != 1000 || ret.Cash != 1000 {
		t.Fatalf("X report's totals %+v", o.Totals)
	}
	fdBefore := g.ledger().LastFD

	z, err := g.server.RequestCommand(point, cloud.CommandCloseShift, "owner")
	if err != nil {
		t.Fatal(err)
	}
	resp := g.beat()
	if resp.Command == nil || resp.Command.ID != z.ID {
		t.Fatalf("the shift close did not come: %+v", resp)
	}
	if led := g.ledger(); led.ShiftOpen || led.LastFD != fdBefore+1 {
		t.Fatalf("after the shift close the ledger says open %v, FD %d (was %d)", led.ShiftOpen, led.LastFD, fdBefore)
	}
	// Sent again (an answer lost and replayed), it does not run again.
	g.rt.runCommand(g.ctx, *resp.Command)
	if led := g.ledger(); led.LastFD != fdBefore+1 {
		t.Fatalf("the shift close ran twice: FD %d", led.LastFD)
	}
	g.beat()
	pc, _, err = g.server.LastCommand(point)
	if err != nil || pc.Outcome == nil || pc.Outcome.ID != z.ID || pc.Outcome.Error != "" || pc.Outcome.FD != fdBefore+1 {
		t.Fatalf("shift close's outcome %+v %v", pc.Outcome, err)
	}
	if tt := pc.Outcome.Totals; tt.Open || tt.Shift != 1 || tt.Income.Count != 2 || tt.IncomeReturn.Sum != 1000 {
		t.Fatalf("shift close's totals %+v", tt)
	}
	if h := g.rt.Health(g.ctx); h.ShiftOpen {
		t.Fatal("the drive's shift is still open")
	}

	// Another close finds no shift open: the owner reads why.
	if _, err := g.server.RequestCommand(point, cloud.CommandCloseShift, "owner"); err != nil {
		t.Fatal(err)
	}
	g.beat()
	g.beat()
	if pc, _, _ := g.server.LastCommand(point); pc.Outcome == nil || pc.Outcome.Error == "" {
		t.Fatalf("a close without a shift: %+v", pc.Outcome)
	}
}

// TestCabinetCommandInHeartbeatLoop: the heartbeat loop itself runs the
// command that comes in its answer and sends the outcome in its next beat.
func TestCabinetCommandInHeartbeatLoop(t *testing.T) {
	g := newRig(t, Config{HeartbeatEvery: time.Hour}) // only the loop's own beats
	g.post(devicetest.Sale("s1", "SALE", "CASH", 100))
	g.cycle()
	point := g.sb.RetailPointID
	x, err := g.server.RequestCommand(point, cloud.CommandXReport, "owner")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan struct{})
	go func() { g.rt.heartbeatLoop(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var pc server.PointCommand
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pc, _, err = g.server.LastCommand(point); err != nil {
			t.Fatal(err)
		}
		if pc.Outcome != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no outcome of the X report from the heartbeat loop: %+v", pc)
		}
	}
	o := pc.Outcome
	if o.ID != x.ID || o.Error != "" || o.PrintError == "" || o.Totals == nil || o.Totals.Income.Count != 1 || o.Totals.Income.Cash != 10000 {
		t.Fatalf("X report's outcome %+v, totals %+v (no printer: a print error)", o, o.Totals)
	}
}
