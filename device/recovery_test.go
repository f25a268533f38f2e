package device

import (
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// Each test below stops the register at one instant of a receipt's way, then
// starts a new runtime on the same store and drive, as a restart after a power
// cut would, and checks that recovery takes the branch meant for that instant:
// nothing lost, nothing signed twice.

// restart is a new runtime on the rig's store and drive, reconciled.
func (g *rig) restart() *Runtime {
	g.t.Helper()
	cfg := Config{Location: msk, Serial: SandboxSerial, Version: "0.1.0"}
	rt := New(cfg, g.em, g.st, g.client, nil, g.clock, nil)
	if err := rt.loadPoint(g.ctx); err != nil {
		g.t.Fatal(err)
	}
	if err := rt.reconcile(g.ctx); err != nil {
		g.t.Fatal(err)
	}
	g.rt = rt
	return rt
}

func (g *rig) lastFD() uint32 {
	g.t.Helper()
	st, err := g.em.State(g.ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	return st.LastFD
}

// completed checks that the shop sees id COMPLETED with the drive's FD.
func (g *rig) completed(id string, fd uint32) {
	g.t.Helper()
	st := g.status(id)
	if st.Status != cloud.Completed || st.FiscalInfo == nil || st.FiscalInfo.FNDocNumber != int(fd) {
		g.t.Fatalf("%s: %s %+v, want COMPLETED with FD %d", id, st.Status, st.FiscalInfo, fd)
	}
}

// TestRecoverSignedNotRecorded: the drive signed the receipt and the register
// went down before its store recorded it. Recovery finds the receipt in the
// drive's archive by its shop id and records it; nothing is signed again.
func TestRecoverSignedNotRecorded(t *testing.T) {
	g := newRig(t, Config{})
	g.post(devicetest.Sale("before", "SALE", "CASH", 10)) // opens the shift
	g.cycle()
	g.post(devicetest.Sale("crash", "SALE", "CARD", 250.50))
	leases, err := g.client.Lease(g.ctx, 0, 16)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v, %d documents", err, len(leases))
	}
	if err := g.rt.Accept(g.ctx, leases); err != nil {
		t.Fatal(err)
	}
	accepted, err := g.st.Accepted() // durable, as Accepted is before any signing
	if err != nil || len(accepted) != 1 {
		t.Fatalf("accepted: %v, %d documents", err, len(accepted))
	}
	// What the pipeline sends the drive, signed there; the store never hears of it.
	body, err := g.st.Get("crash")
	if err != nil {
		t.Fatal(err)
	}
	var doc cloud.Document
	if err := json.Unmarshal(body.Body, &doc); err != nil {
		t.Fatal(err)
	}
	rc, err := doc.ReceiptAt(g.rt.pt(), g.clock())
	if err != nil {
		t.Fatal(err)
	}
	tlv, err := rc.AppendTLV(nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := g.em.Receipt(g.ctx, fn.ReceiptDoc{Time: g.clock(), Sign: rc.Sign, Total: uint64(rc.Total()), TLV: tlv})
	if err != nil {
		t.Fatal(err)
	}
	cardBefore := g.ledger().ShiftTotals.Electronic[0]

	g.restart()
	d, err := g.st.Get("crash")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != store.Fiscalized || d.Fiscal == nil || d.Fiscal.FD != signed.FD || d.Fiscal.FPD != signed.FPD {
		t.Fatalf("after recovery: %v, want fiscalized as FD %d", d.State, signed.FD)
	}
	if got := g.ledger().ShiftTotals.Electronic[0] - cardBefore; got != 25050 {
		t.Fatalf("the shift's card income grew by %d kopecks, want 25050", got)
	}
	g.cycle()
	if fd := g.lastFD(); fd != signed.FD {
		t.Fatalf("the drive's last document is FD %d after recovery, want FD %d: signed twice", fd, signed.FD)
	}
	g.completed("crash", signed.FD)
}

// TestRecoverRecordedNotReported: the store recorded the signed receipt and the
// register went down before the cloud confirmed the result. After the restart
// the result is reported from the store; the drive signs nothing.
func TestRecoverRecordedNotReported(t *testing.T) {
	g := newRig(t, Config{})
	g.post(devicetest.Sale("unreported", "SALE", "CASH", 99.90))
	leases, err := g.client.Lease(g.ctx, 0, 16)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v, %d documents", err, len(leases))
	}
	if err := g.rt.Accept(g.ctx, leases); err != nil {
		t.Fatal(err)
	}
	g.rt.drain(g.ctx)
	d, err := g.st.Get("unreported")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != store.Fiscalized || d.Reported {
		t.Fatalf("before the restart: %v, reported %v; want fiscalized and not reported", d.State, d.Reported)
	}
	fd := d.Fiscal.FD
	if st := g.status("unreported"); st.Status != cloud.Pending {
		t.Fatalf("the cloud has %s before the report, want PENDING", st.Status)
	}

	g.restart()
	res, err := g.rt.Unreported(g.ctx)
	if err != nil || len(res) != 1 || res[0].ID != "unreported" {
		t.Fatalf("unreported after the restart: %+v (%v), want the receipt", res, err)
	}
	g.cycle()
	g.completed("unreported", fd)
	if last := g.lastFD(); last != fd {
		t.Fatalf("the drive's last document is FD %d, want FD %d", last, fd)
	}
	if res, err := g.rt.Unreported(g.ctx); err != nil || len(res) != 0 {
		t.Fatalf("still unreported after the cloud took it: %+v (%v)", res, err)
	}
}

// TestRecoverReportedNotDelivered: the shop has its receipts and the register
// went down before the OFD acknowledged them. The drive keeps its unsent queue
// across the restart, and the sender then delivers every document once, in
// order.
func TestRecoverReportedNotDelivered(t *testing.T) {
	g := newRig(t, Config{})
	for _, id := range []string{"r1", "r2", "r3"} {
		g.post(devicetest.Sale(id, "SALE", "CARD", 10))
		g.cycle()
		if st := g.status(id); st.Status != cloud.Completed {
			t.Fatalf("%s: %s before the restart", id, st.Status)
		}
	}
	last := g.lastFD()
	st, err := g.em.State(g.ctx)
	if err != nil || st.Unsent != last {
		t.Fatalf("before the restart: %d unsent of %d (%v), want all", st.Unsent, last, err)
	}

	// The drive powers down with the register and comes back from its own files.
	if err := g.em.Close(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g.em, err = fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(g.dir, "fn"), CheckTables: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.em.Close() })
	g.restart()
	if st, err := g.em.State(g.ctx); err != nil || st.Unsent != last || st.LastFD != last {
		t.Fatalf("after the restart: FD %d, %d unsent (%v); want FD %d, %d unsent", st.LastFD, st.Unsent, err, last, last)
	}

	docs := g.deliverAll()
	if uint32(len(docs)) != last {
		t.Fatalf("the OFD holds %d documents, want %d", len(docs), last)
	}
	for i, d := range docs {
		if d.FD != uint32(i+1) {
			t.Fatalf("the OFD got FD %d in place %d", d.FD, i+1)
		}
	}
}
