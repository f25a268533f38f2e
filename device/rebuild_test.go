package device

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/store"
)

// TestRebuildLedgerFromDrive: a register whose kassa.db was moved aside (the
// way back from a damaged one, docs/recovery.md) reads every document back from
// the drive's archive and ends with the ledger it had.
func TestRebuildLedgerFromDrive(t *testing.T) {
	g := newRig(t, Config{})
	for _, id := range []string{"r1", "r2", "r3"} {
		if code := g.post(devicetest.Sale(id, "SALE", "CARD", 100, 50.5)); code != 200 {
			t.Fatalf("post %s: %d", id, code)
		}
	}
	g.cycle()
	// One more the drive signs whose result never reaches the cloud: the
	// register dies between the two.
	if code := g.post(devicetest.Sale("r4", "SALE", "CARD", 10)); code != 200 {
		t.Fatalf("post r4: %d", code)
	}
	leases, err := g.client.Lease(g.ctx, 0, 16)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease r4: %v, %d", err, len(leases))
	}
	if err := g.rt.Accept(g.ctx, leases); err != nil {
		t.Fatal(err)
	}
	g.rt.drain(g.ctx)
	want := g.ledger()
	if want.LastFD < 4 {
		t.Fatalf("ledger before %+v: want the receipts in it", want)
	}
	if err := g.st.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(g.dir, "kassa.db")
	if err := os.Rename(path, path+".damaged"); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	g.st = st
	t.Cleanup(func() { st.Close() })
	g.rt = New(Config{Location: msk, Serial: SandboxSerial, Version: "0.1.0"}, g.em, st, g.client, nil, g.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.rt.loadPoint(g.ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.rt.reconcile(g.ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.ledger(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt ledger\n got %+v\nwant %+v", got, want)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	// r4's result goes to the cloud; leased again, it is not signed twice.
	g.cycle()
	if s := g.status("r4"); s.Status != "PRINTED" && s.Status != "COMPLETED" || s.FiscalInfo == nil || s.FiscalInfo.FNDocNumber != int(want.LastFD) {
		t.Fatalf("r4 after the rebuild: %+v", s)
	}
	g.advance(time.Hour) // past any lease
	g.cycle()
	if got := g.ledger(); got.LastFD != want.LastFD {
		t.Fatalf("after the rebuild the drive signed again: last FD %d, was %d", got.LastFD, want.LastFD)
	}
}
