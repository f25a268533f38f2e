package fn_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// noise spoils frames at random, in both directions: a flipped byte, a frame
// lost whole, a frame cut short. One generator, seeded, under a lock.
type noise struct {
	mu  sync.Mutex
	rng *rand.Rand
	log map[string]int
}

func (n *noise) spoil(_ int, b []byte) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch r := n.rng.IntN(100); {
	case r < 4:
		n.log["flipped"]++
		b[n.rng.IntN(len(b))] ^= byte(1 + n.rng.IntN(255))
	case r < 7:
		n.log["lost"]++
		return nil
	case r < 9:
		n.log["cut"]++
		return b[:n.rng.IntN(len(b))]
	}
	return b
}

// TestNoisyLineNeverSignsTwice signs receipts over a line that spoils about
// one frame in ten either way. Whatever the client reports holds: a receipt
// it says was signed is in the archive at that FD with its own total, and no
// receipt is in the archive twice. KASSA_SEED replays a run.
func TestNoisyLineNeverSignsTwice(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KASSA_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("KASSA_SEED %q: %v", s, err)
		}
	}
	t.Logf("seed %d (KASSA_SEED=%d replays it)", seed, seed)
	nz := &noise{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), log: map[string]int{}}
	ctx := context.Background()
	e := shiftOpen(t, fn.EmulatorConfig{})
	answers := &line{spoil: nz.spoil}
	asks := &line{spoil: nz.spoil}
	_, port := serveOnPTY(t, e, func(rw ptyRW) ptyRW { answers.ptyRW = rw; return answers }, fn.ClientOptions{})
	c := fn.NewClient(noisyPort{port, asks}, fn.ClientOptions{Timeout: 250 * time.Millisecond, SignTimeout: 250 * time.Millisecond, Retries: 3})

	const n = 24
	signed := map[uint32]uint64{} // FD → total, as the client reported
	failed := 0
	for i := range n {
		total := uint64(1000 + i)
		s, err := c.Receipt(ctx, receipt(t, t0.Add(time.Minute), total))
		if err != nil {
			failed++
			t.Logf("receipt %d (total %d): %v", i, total, err)
			continue
		}
		if prev, dup := signed[s.FD]; dup {
			t.Fatalf("FD %d reported for totals %d and %d", s.FD, prev, total)
		}
		signed[s.FD] = total
	}
	st := must(e.State(ctx)).ok(t)
	seen := map[uint64]uint32{}
	for fd := uint32(3); fd <= st.LastFD; fd++ {
		a := must(e.Document(ctx, fd)).ok(t)
		typ, els := elements(t, a.TLV)
		if typ != fiscal.DocReceipt {
			t.Fatalf("FD %d is of type %d, not a receipt", fd, typ)
		}
		total, err := fiscal.VLN(els[1020])
		if err != nil {
			t.Fatalf("FD %d: 1020: %v", fd, err)
		}
		if prev, twice := seen[total]; twice {
			t.Fatalf("the receipt of total %d signed twice: FD %d and %d", total, prev, fd)
		}
		seen[total] = fd
		if want, ok := signed[fd]; ok && want != total {
			t.Fatalf("FD %d holds total %d, the client reported it for %d", fd, total, want)
		}
	}
	if int(st.LastFD)-2 < len(signed) {
		t.Fatalf("%d receipts reported signed, the drive has %d", len(signed), st.LastFD-2)
	}
	t.Logf("noise %v; %d signed, %d failed, the drive holds %d", nz.log, len(signed), failed, st.LastFD-2)
	if failed > n/2 {
		t.Fatalf("%d of %d receipts failed: the client does not get through the noise", failed, n)
	}
}
