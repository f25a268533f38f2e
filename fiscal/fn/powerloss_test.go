package fn_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
)

// lossyFile is the journal's file as the disk sees it through a power cut: the
// writes reach the page cache at once and the platter only at Sync. At cut it
// gives the file as it could be found after the power came back — what the
// last Sync covered, plus any of the later writes, each whole, torn or lost,
// as a disk writing back its cache in its own order leaves them.
type lossyFile struct {
	*os.File
	mu      sync.Mutex
	synced  []byte // the file's bytes as of the last Sync
	pending []lossyWrite
	dead    bool // the power is off: nothing more reaches the file
}

type lossyWrite struct {
	off int64
	b   []byte
}

func openLossy(path string) (*lossyFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	synced, err := os.ReadFile(path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &lossyFile{File: f, synced: synced}, nil
}

func (l *lossyFile) WriteAt(b []byte, off int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return len(b), nil
	}
	l.pending = append(l.pending, lossyWrite{off, bytes.Clone(b)})
	return l.File.WriteAt(b, off)
}

func (l *lossyFile) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return nil
	}
	for _, w := range l.pending {
		l.synced = overlay(l.synced, w.off, w.b)
	}
	l.pending = nil
	return l.File.Sync()
}

// cut turns the power off and returns the file's bytes as found afterwards.
func (l *lossyFile) cut(rng *rand.Rand) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dead = true
	img := bytes.Clone(l.synced)
	for _, w := range l.pending {
		switch rng.IntN(3) {
		case 0: // never written back
		case 1:
			img = overlay(img, w.off, w.b)
		case 2: // torn: a prefix made it
			img = overlay(img, w.off, w.b[:rng.IntN(len(w.b)+1)])
		}
	}
	return img
}

func overlay(img []byte, off int64, b []byte) []byte {
	if end := int(off) + len(b); end > len(img) {
		img = append(img, make([]byte, end-len(img))...)
	}
	copy(img[off:], b)
	return img
}

// seed is the seed of a randomized test: $KASSA_SEED replays one, else a new one.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("KASSA_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("KASSA_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (replay with KASSA_SEED=%d)", s, s)
	return s
}

// TestPowerLoss signs documents and takes acknowledgements on a drive whose
// journal loses every write it did not sync, cuts the power at random points
// and reopens the drive from the files a cut leaves. Everything the drive
// said was durable must be there: the documents that sync before they return,
// and receipts and acknowledgements once Sync returned after them, each
// acknowledgement kept by its FD for 41h; nothing the drive never returned may
// appear. bbolt syncs each commit before it
// returns, so the drive's bbolt file is taken as it is on disk.
func TestPowerLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 0))
	cycles := 40
	if testing.Short() {
		cycles = 15
	}
	var (
		mu    sync.Mutex
		files = map[string]*lossyFile{}
	)
	defer fn.SetOpenJournalFile(func(path string) (fn.JournalFile, error) {
		l, err := openLossy(path)
		if err == nil {
			mu.Lock()
			files[path] = l
			mu.Unlock()
		}
		return l, err
	})()
	ctx := context.Background()
	dir := t.TempDir()
	at := t0
	var durableFD, returnedFD, durableAck, returnedAck uint32
	kept := keptAcks{}
	for cycle := range cycles {
		e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: dir, Key: powerCutKey})
		if err != nil {
			t.Fatalf("cycle %d: reopening after the cut: %v", cycle, err)
		}
		if err := e.Check(); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		st := must(e.State(ctx)).ok(t)
		acked := st.LastFD - st.Unsent
		if st.LastFD < durableFD || st.LastFD > returnedFD {
			t.Fatalf("cycle %d: last FD %d after the cut; durable %d, returned %d", cycle, st.LastFD, durableFD, returnedFD)
		}
		if acked < durableAck || acked > returnedAck {
			t.Fatalf("cycle %d: acknowledged through %d after the cut; durable %d, returned %d", cycle, acked, durableAck, returnedAck)
		}
		durableFD, returnedFD, durableAck, returnedAck = st.LastFD, st.LastFD, acked, acked
		for fd := range kept {
			if fd > acked { // taken back by the cut
				delete(kept, fd)
			}
		}
		kept.check(t, fmt.Sprintf("cycle %d", cycle), e, st.LastFD+1)
		if st.LastFDTime.After(at) {
			at = st.LastFDTime
		}
		if st.Phase == fn.PhaseNotRegistered {
			s := must(e.Register(ctx, fn.Doc{Time: at, TLV: registrationTLV(t, regNumber)})).ok(t)
			durableFD, returnedFD = s.FD, s.FD
		}
		for range 1 + rng.IntN(40) {
			st := must(e.State(ctx)).ok(t)
			switch r := rng.IntN(10); {
			case !st.ShiftOpen:
				s := must(e.OpenShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "open")})).ok(t)
				// Synced before it returned, with everything before it.
				durableFD, returnedFD, durableAck = s.FD, s.FD, returnedAck
			case st.ReceiptsInShift >= 20:
				s := must(e.CloseShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "close")})).ok(t)
				durableFD, returnedFD, durableAck = s.FD, s.FD, returnedAck
			case r < 2 && st.Unsent > 0:
				c, err := ofd.ParseContainer(must(e.NextMessage(ctx)).ok(t))
				if err != nil {
					t.Fatal(err)
				}
				kept.take(t, e, c.FD)
				returnedAck = c.FD
			case r < 4:
				if err := e.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				durableFD, durableAck = returnedFD, returnedAck
			default:
				returnedFD = must(e.Receipt(ctx, receipt(t, at, uint64(100+rng.IntN(1000))))).ok(t).FD
			}
		}
		// The cut: the journal as the disk keeps it, the rest of the drive's
		// files as they are, in a directory of their own.
		next := t.TempDir()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range entries {
			path := filepath.Join(dir, de.Name())
			mu.Lock()
			l := files[path]
			mu.Unlock()
			var b []byte
			if l != nil {
				b = l.cut(rng)
			} else if b, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(next, de.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e.Close() // what it writes now goes nowhere that counts
		dir = next
	}
	if durableFD < uint32(cycles) {
		t.Fatalf("only %d durable documents in %d cycles", durableFD, cycles)
	}
	t.Logf("%d cycles, %d documents durable, %d acknowledged", cycles, durableFD, durableAck)
}
