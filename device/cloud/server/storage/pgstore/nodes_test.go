package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

// The tests here are of what the conformance suite cannot see from one
// store: several nodes (stores) on one database.

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// nodes opens n stores on one fresh database, closed when t ends.
func nodes(t *testing.T, n int) []*Store {
	t.Helper()
	dsn := pgtest.DSN(t)
	out := make([]*Store, n)
	for i := range out {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out
}

func post(t *testing.T, s *Store, pointID, id, responseURL string) {
	t.Helper()
	_, created, err := s.PostDocument(context.Background(), storage.NewDocument{PointID: pointID, ID: id, Hash: "h-" + id,
		Body: []byte(`{"docType":"SALE"}`), ResponseURL: responseURL, Message: "queued", At: t0})
	if err != nil || !created {
		t.Fatalf("post %s: created %v, %v", id, created, err)
	}
}

func woken(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not wake the other node's waiter", what)
	}
}

// A post, a re-queue or a Notify on one node wakes the other node's
// waiters, through NOTIFY.
func TestWakeAcrossNodes(t *testing.T) {
	ns := nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := context.Background()

	w := b.Wait("p1")
	post(t, a, "p1", "d1", "")
	woken(t, w, "a post")

	w = b.Wait("p1")
	if err := a.Notify(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "Notify")

	if _, err := a.Lease(ctx, storage.LeaseRequest{PointID: "p1", Owner: "r", Max: 1, Now: t0, Until: t0.Add(time.Minute)}, "taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Report(ctx, "p1", []string{"d1"}, t0, func(_ int, d *storage.Document) { d.State = cloud.Failed }); err != nil {
		t.Fatal(err)
	}
	w = b.Wait("p1")
	if _, err := a.Requeue(ctx, "p1", "d1", t0, "again"); err != nil {
		t.Fatal(err)
	}
	woken(t, w, "a re-queue")

	// Another point's waiter sleeps on.
	other := b.Wait("p2")
	post(t, a, "p1", "d2", "")
	select {
	case <-other:
		t.Fatal("a post to p1 woke p2's waiter")
	case <-time.After(100 * time.Millisecond):
	}
}

// A node whose listening connection is cut wakes all its waiters once it
// has listened again (what was posted meanwhile was not heard), and hears
// the other nodes' wake-ups after that.
func TestListenerReconnects(t *testing.T) {
	ns := nodes(t, 2)
	a, b := ns[0], ns[1]
	ctx := context.Background()
	w := b.Wait("p1")
	var cut int
	if err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN '||$1`, wakeChannel).Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut != 2 {
		t.Fatalf("%d listening connections cut, want 2", cut)
	}
	woken(t, w, "the reconnection")

	// Until b listens again a wake-up may go unheard: ask until one is heard.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := b.Wait("p1")
		if err := a.Notify(ctx, "p1"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("after the reconnection, b hears no Notify of a")
		}
	}
}

// Registers' leases through several nodes at once never hand out one
// document twice (SKIP LOCKED, and the re-check of a locked row).
func TestLeaseAcrossNodes(t *testing.T) {
	ns := nodes(t, 3)
	const docs = 90
	for i := range docs {
		post(t, ns[i%len(ns)], "p1", fmt.Sprintf("d%03d", i), "")
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 6 {
		s := ns[w%len(ns)]
		wg.Go(func() {
			<-start
			for {
				l, err := s.Lease(context.Background(), storage.LeaseRequest{PointID: "p1", Owner: "reg", Max: 4,
					Now: t0, Until: t0.Add(time.Minute)}, "taken")
				if err != nil {
					t.Error(err)
					return
				}
				if len(l.Documents) == 0 {
					return
				}
				mu.Lock()
				for _, d := range l.Documents {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(seen) != docs {
		t.Errorf("%d documents leased, want %d", len(seen), docs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s leased %d times", id, n)
		}
	}
}

// Nodes taking callbacks at once each get their own jobs; a job held by a
// node that stopped falls to another once the hold ends.
func TestCallbacksAcrossNodes(t *testing.T) {
	ns := nodes(t, 3)
	ctx := context.Background()
	const docs = 60
	var ids []string
	for i := range docs {
		id := fmt.Sprintf("d%03d", i)
		post(t, ns[0], "p1", id, "http://shop.example/cb")
		ids = append(ids, id)
	}
	if _, err := ns[0].Lease(ctx, storage.LeaseRequest{PointID: "p1", Owner: "reg", Max: docs, Now: t0, Until: t0.Add(time.Minute)}, "taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := ns[0].Report(ctx, "p1", ids, t0, func(_ int, d *storage.Document) { d.State = cloud.WaitForCallback }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	held := map[string]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 6 {
		s, node := ns[w%len(ns)], fmt.Sprintf("node%d", w)
		wg.Go(func() {
			<-start
			for {
				jobs, err := s.TakeCallbacks(ctx, node, t0, t0, t0.Add(time.Minute), 5)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if other, ok := held[j.ID]; ok {
						t.Errorf("%s held by %s and %s", j.ID, other, node)
					}
					held[j.ID] = node
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(held) != docs {
		t.Fatalf("%d jobs taken, want %d", len(held), docs)
	}
	// The holds end: another node takes them all again.
	later := t0.Add(2 * time.Minute)
	jobs, err := ns[2].TakeCallbacks(ctx, "late", later, later, later.Add(time.Minute), docs)
	if err != nil || len(jobs) != docs {
		t.Fatalf("after the holds ended: %d jobs, %v; want %d", len(jobs), err, docs)
	}
}

// One destination's alerts go to one node at a time, in Seq order, even
// with the entries appended while nodes claim.
func TestAlertsAcrossNodes(t *testing.T) {
	ns := nodes(t, 2)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			in := storage.Incident{PointID: "p1", Kind: "silent", DocumentID: fmt.Sprint(i), Message: "m", Since: t0}
			e := storage.AlertEntry{Alert: storage.Alert{PointID: "p1", Kind: "silent", Open: true}, Channel: "email", To: "o@example.com", Changed: t0}
			if _, err := ns[i%2].OpenIncident(ctx, in, []storage.AlertEntry{e}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var mu sync.Mutex
	var sent []uint64
	for w := range 2 {
		s, node := ns[w], fmt.Sprintf("node%d", w)
		wg.Go(func() {
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				done := len(sent) == n
				mu.Unlock()
				if done {
					return
				}
				e, err := s.ClaimAlert(ctx, node, "", "", t0, t0.Add(time.Minute))
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				// The holder sends the destination's entries one by one.
				for err == nil {
					mu.Lock()
					sent = append(sent, e.Seq)
					mu.Unlock()
					e.Done, e.Sent = true, true
					if err := s.SaveAlert(ctx, e); err != nil {
						t.Error(err)
						return
					}
					e, err = s.ClaimAlert(ctx, node, "email", "o@example.com", t0, t0.Add(time.Minute))
				}
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s: %v", node, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(sent) != n {
		t.Fatalf("%d alerts sent, want %d", len(sent), n)
	}
	for i := 1; i < len(sent); i++ {
		if sent[i] <= sent[i-1] {
			t.Fatalf("sent out of order: %v", sent)
		}
	}
}
