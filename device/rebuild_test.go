package device

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/openkassa/kassa/store"
)

// TestRebuildLedgerFromDrive: a register whose kassa.db was moved aside (the
// way back from a damaged one, docs/recovery.md) reads every document back from
// the drive's archive and ends with the ledger it had.
func TestRebuildLedgerFromDrive(t *testing.T) {
	g := newRig(t, Config{})
	for _, id := range []string{"r1", "r2", "r3"} {
		if code := g.post(sale(id, "SALE", "CARD", 100, 50.5)); code != 200 {
			t.Fatalf("post %s: %d", id, code)
		}
	}
	g.cycle()
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
	// The shop documents of the open shift are not in the new file (the cloud
	// holds them), so store.Check's count of the shift's receipts differs from
	// the ledger's until the shift closes.
}
