package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func testPostIdempotent(t *testing.T, e *env) {
	e.point("p1")
	e.point("p2")
	first := e.post("p1", "a")
	if first.State != cloud.Queued || first.PointID != "p1" || !first.Created.Equal(e.now) || first.Message != "queued" {
		t.Fatalf("posted: %+v", first)
	}
	e.advance(time.Second)
	again, created, err := e.s.PostDocument(e.ctx, storage.NewDocument{PointID: "p1", ID: "a", Hash: "h-a", Body: body("a", "SALE", "CARD", 1000), At: e.now})
	if err != nil || created || again.Seq != first.Seq || !again.Created.Equal(first.Created) {
		t.Fatalf("posted again: %+v created %v, %v", again, created, err)
	}
	_, created, err = e.s.PostDocument(e.ctx, storage.NewDocument{PointID: "p1", ID: "a", Hash: "other", Body: body("a", "SALE", "CARD", 2000), At: e.now})
	wantErr(t, "a re-post with other content", err, storage.ErrConflict)
	if created {
		t.Fatal("a conflicting post created a document")
	}
	// Another point's id space is its own.
	if d := e.post("p2", "a"); d.PointID != "p2" {
		t.Fatalf("the other point's document: %+v", d)
	}
	if b, err := e.s.DocumentBody(e.ctx, "p1", "a"); err != nil || !bytes.Equal(b, body("a", "SALE", "CARD", 1000)) {
		t.Fatalf("body %s, %v", b, err)
	}
	_, err = e.s.Document(e.ctx, "p1", "nope")
	wantErr(t, "an unknown document", err, storage.ErrNotFound)
	_, err = e.s.DocumentBody(e.ctx, "p2", "nope")
	wantErr(t, "an unknown body", err, storage.ErrNotFound)
	if got := e.lease("p1", "reg-p1", 10, false, ""); len(got.Documents) != 1 {
		t.Fatalf("one document leasable, got %v", ids(got.Documents))
	}
}

func testPostConcurrent(t *testing.T, e *env) {
	e.point("p1")
	const n = 8
	var wg sync.WaitGroup
	docs := make([]storage.Document, n)
	made := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			docs[i], made[i], errs[i] = e.s.PostDocument(e.ctx, storage.NewDocument{PointID: "p1", ID: "same", Hash: "h", Body: body("same", "SALE", "CARD", 1000), At: e.now})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("post %d: %v", i, errs[i])
		}
		if made[i] {
			created++
		}
		if docs[i].Seq != docs[0].Seq || docs[i].ID != "same" {
			t.Fatalf("post %d answered %+v, post 0 %+v", i, docs[i], docs[0])
		}
	}
	if created != 1 {
		t.Fatalf("%d posts created the document, want 1", created)
	}
	if got := e.lease("p1", "reg-p1", 10, false, ""); len(got.Documents) != 1 {
		t.Fatalf("leased %v, want one document", ids(got.Documents))
	}
}

func testLeaseOrder(t *testing.T, e *env) {
	e.point("p1")
	e.point("p2")
	for _, id := range []string{"c", "a", "b"} {
		e.post("p1", id)
		e.advance(time.Millisecond)
	}
	e.post("p2", "other")
	got := e.lease("p1", "reg-p1", 2, false, "")
	if !slices.Equal(ids(got.Documents), []string{"c", "a"}) {
		t.Fatalf("first lease %v, want [c a] (queue order)", ids(got.Documents))
	}
	for _, d := range got.Documents {
		if d.State != cloud.Pending || d.LeaseOwner != "reg-p1" || !d.LeasedUntil.Equal(e.now.Add(2*time.Minute)) || d.Leases != 1 ||
			d.Message != "taken" || !bytes.Equal(d.Body, body(d.ID, "SALE", "CARD", 1000)) {
			t.Fatalf("leased %+v", d)
		}
	}
	if st := e.doc("p1", "c"); st.State != cloud.Pending || !st.Changed.Equal(e.now) {
		t.Fatalf("stored after the lease: %+v", st)
	}
	got = e.lease("p1", "reg-p1", 5, false, "")
	if !slices.Equal(ids(got.Documents), []string{"b"}) {
		t.Fatalf("second lease %v, want [b]", ids(got.Documents))
	}
	got = e.lease("p1", "reg-p1", 5, false, "")
	if len(got.Documents) != 0 || !got.NextExpiry.Equal(e.now.Add(2*time.Minute)) {
		t.Fatalf("third lease %v next %v, want none and the leases' end", ids(got.Documents), got.NextExpiry)
	}
}

func testLeaseConcurrent(t *testing.T, e *env) {
	e.point("p1")
	const docs = 40
	for i := range docs {
		e.post("p1", fmt.Sprintf("d%02d", i))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			<-start
			for range docs { // a store that hands out leased documents would loop forever
				l, err := e.s.Lease(e.ctx, storage.LeaseRequest{PointID: "p1", Owner: fmt.Sprintf("r%d", w), Max: 3, Now: e.now, Until: e.now.Add(time.Minute)}, "taken")
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
		t.Fatalf("%d documents leased, want %d", len(seen), docs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s leased %d times", id, n)
		}
	}
}

func testLeaseExpiry(t *testing.T, e *env) {
	e.point("p1")
	e.post("p1", "a")
	first := e.lease("p1", "reg-p1", 1, false, "")
	if len(first.Documents) != 1 {
		t.Fatal("not leased")
	}
	e.advance(time.Minute)
	if got := e.lease("p1", "reg-p1", 1, false, ""); len(got.Documents) != 0 {
		t.Fatalf("leased again before the lease ended: %v", ids(got.Documents))
	}
	e.advance(time.Minute) // exactly at the end
	again := e.lease("p1", "other", 1, false, "")
	if len(again.Documents) != 1 || again.Documents[0].ID != "a" || again.Documents[0].Leases != 2 || again.Documents[0].LeaseOwner != "other" ||
		!again.Documents[0].LeasedUntil.Equal(e.now.Add(2*time.Minute)) {
		t.Fatalf("after the lease ended: %+v", again.Documents)
	}
}

func testResumePages(t *testing.T, e *env) {
	e.point("p1")
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("r%d", i)
		e.post("p1", id)
		want = append(want, id)
	}
	if got := e.lease("p1", "reg-p1", 7, false, ""); len(got.Documents) != 7 {
		t.Fatalf("leased %d", len(got.Documents))
	}
	e.advance(10 * time.Second) // the register restarts within its leases
	if got := e.lease("p1", "stranger", 7, true, ""); len(got.Documents) != 0 {
		t.Fatalf("another register resumed %v", ids(got.Documents))
	}
	var got []string
	after := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("resume never ends: %v", got)
		}
		l := e.lease("p1", "reg-p1", 3, true, after)
		if len(l.Documents) == 0 {
			break
		}
		for _, d := range l.Documents {
			if d.Leases != 2 || !d.LeasedUntil.Equal(e.now.Add(2*time.Minute)) {
				t.Fatalf("resumed %+v", d)
			}
		}
		got = append(got, ids(l.Documents)...)
		after = l.Documents[len(l.Documents)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("resumed %v, want %v", got, want)
	}
}

func testReportIdempotent(t *testing.T, e *env) {
	e.point("p1")
	e.post("p1", "a")
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "cb", Hash: "h", Body: body("cb", "SALE", "CARD", 1000), ResponseURL: "http://shop.example/cb", At: e.now})
	e.post("p1", "never-leased")
	e.lease("p1", "reg-p1", 2, false, "")
	e.advance(time.Second)
	out := e.printed("p1", 1, "a", "cb", "ghost", "a")
	if !slices.Equal(out.Unknown, []string{"ghost"}) || !slices.Equal(ids(out.Changed), []string{"a", "cb"}) {
		t.Fatalf("report: unknown %v changed %v", out.Unknown, ids(out.Changed))
	}
	a := e.doc("p1", "a")
	if a.State != cloud.Completed || a.FiscalInfo == nil || a.FiscalInfo.FNDocNumber != 1 || !a.LeasedUntil.IsZero() || a.LeaseOwner != "" || a.CallbackDue {
		t.Fatalf("reported: %+v", a)
	}
	cb := e.doc("p1", "cb")
	if cb.State != cloud.Printed || !cb.CallbackDue {
		t.Fatalf("reported with a responseURL: %+v", cb)
	}
	// Again, or a failure now: nothing changes.
	e.advance(time.Second)
	calls := 0
	out, err := e.s.Report(e.ctx, "p1", []string{"a", "cb"}, e.now, func(int, *storage.Document) { calls++ })
	if err != nil || len(out.Changed) != 0 || calls != 0 {
		t.Fatalf("reported again: changed %v, apply called %d times, %v", ids(out.Changed), calls, err)
	}
	if again := e.doc("p1", "a"); !again.Changed.Equal(a.Changed) || again.State != cloud.Completed {
		t.Fatalf("after a second report: %+v", again)
	}
	// A reported document leaves the queue, even if its lease ran out.
	e.advance(time.Hour)
	if got := e.lease("p1", "reg-p1", 10, false, ""); !slices.Equal(ids(got.Documents), []string{"never-leased"}) {
		t.Fatalf("leasable after the results: %v", ids(got.Documents))
	}
	// A document reported without a lease is accepted too.
	if out := e.printed("p1", 3, "never-leased"); len(out.Changed) != 1 {
		t.Fatalf("report of a document leased again: %v", ids(out.Changed))
	}
}

func testRequeue(t *testing.T, e *env) {
	e.point("p1")
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "bad", Hash: "h", Body: body("bad", "SALE", "CARD", 1000), ResponseURL: "http://shop.example/cb", At: e.now})
	e.post("p1", "queued")
	_, err := e.s.Requeue(e.ctx, "p1", "queued", e.now, "again")
	wantErr(t, "re-queue of a QUEUED document", err, storage.ErrConflict)
	_, err = e.s.Requeue(e.ctx, "p1", "ghost", e.now, "again")
	wantErr(t, "re-queue of an unknown document", err, storage.ErrNotFound)
	e.lease("p1", "reg-p1", 2, false, "")
	e.failed("p1", "bad")
	if d := e.doc("p1", "bad"); d.State != cloud.Failed || !d.CallbackDue {
		t.Fatalf("failed: %+v", d)
	}
	e.advance(time.Second)
	d, err := e.s.Requeue(e.ctx, "p1", "bad", e.now, "again")
	if err != nil || d.State != cloud.Requeued || !d.Requeued || d.FailureInfo != nil || d.Message != "again" || !d.Changed.Equal(e.now) || d.CallbackDue {
		t.Fatalf("re-queued: %+v, %v", d, err)
	}
	if stored := e.doc("p1", "bad"); stored.CallbackDue || stored.State != cloud.Requeued {
		t.Fatalf("stored after the re-queue: %+v", stored)
	}
	again, err := e.s.Requeue(e.ctx, "p1", "bad", e.now.Add(time.Second), "twice")
	if err != nil || again.Seq != d.Seq || again.Message != "again" {
		t.Fatalf("re-queued twice: %+v, %v", again, err)
	}
	got := e.lease("p1", "reg-p1", 5, false, "")
	if !slices.Equal(ids(got.Documents), []string{"bad"}) || !got.Documents[0].Requeued {
		t.Fatalf("lease after the re-queue: %+v", got.Documents)
	}
}

func testDelivery(t *testing.T, e *env) {
	e.point("p1")
	for _, id := range []string{"a", "b", "c"} {
		e.post("p1", id)
	}
	e.lease("p1", "reg-p1", 3, false, "")
	e.printed("p1", 11, "a", "b", "c") // FD 11, 12, 13 of drive D1
	if n, err := e.s.MarkDelivered(e.ctx, "p1", "other-drive", 20, e.now); err != nil || n != 0 {
		t.Fatalf("another drive's acknowledgement: %d, %v", n, err)
	}
	e.advance(time.Minute)
	n, err := e.s.MarkDelivered(e.ctx, "p1", "D1", 12, e.now)
	if err != nil || n != 2 {
		t.Fatalf("acknowledged through 12: %d, %v", n, err)
	}
	for id, want := range map[string]bool{"a": true, "b": true, "c": false} {
		if d := e.doc("p1", id); d.OFDDeliveredAt.Equal(e.now) != want || !want && !d.OFDDeliveredAt.IsZero() {
			t.Errorf("%s: delivered at %v, want delivered %v", id, d.OFDDeliveredAt, want)
		}
	}
	at := e.now
	e.advance(time.Minute)
	if n, err := e.s.MarkDelivered(e.ctx, "p1", "D1", 12, e.now); err != nil || n != 0 {
		t.Fatalf("the same acknowledgement again: %d, %v", n, err)
	}
	if d := e.doc("p1", "a"); !d.OFDDeliveredAt.Equal(at) {
		t.Fatalf("delivery time moved: %v", d.OFDDeliveredAt)
	}
	if n, err := e.s.MarkDelivered(e.ctx, "p1", "D1", 13, e.now); err != nil || n != 1 {
		t.Fatalf("acknowledged through 13: %d, %v", n, err)
	}
}

func testDeliveredBeforeResult(t *testing.T, e *env) {
	reg := e.point("p1")
	e.post("p1", "late")
	e.lease("p1", reg, 1, false, "")
	// The register's heartbeat says the OFD acknowledged FD 5 before its result came.
	if _, _, err := e.s.RecordHeartbeat(e.ctx, storage.Heartbeat{RegisterID: reg, At: e.now, Stale: time.Minute,
		Health: cloud.Health{Drive: cloud.DriveHealth{Number: "D1"}, OFDAckedThrough: 5}}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	e.printed("p1", 5, "late")
	if d := e.doc("p1", "late"); !d.OFDDeliveredAt.Equal(e.now) {
		t.Fatalf("delivered at %v, want the result's time", d.OFDDeliveredAt)
	}
	if n, err := e.s.MarkDelivered(e.ctx, "p1", "D1", 5, e.now); err != nil || n != 0 {
		t.Fatalf("a delivered document still awaited the OFD: %d, %v", n, err)
	}
}

func testNotifierWakes(t *testing.T, e *env) {
	e.point("p1")
	e.point("p2")
	w1, w2 := e.s.Wait("p1"), e.s.Wait("p2")
	e.post("p1", "a")
	select {
	case <-w1:
	case <-time.After(5 * time.Second):
		t.Fatal("a post did not wake its point's waiter")
	}
	select {
	case <-w2:
		t.Fatal("a post woke another point's waiter")
	case <-time.After(50 * time.Millisecond):
	}
	w := e.s.Wait("p2")
	if err := e.s.Notify(e.ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not wake the waiter")
	}
	// A re-queue wakes too.
	e.lease("p1", "reg-p1", 1, false, "")
	e.failed("p1", "a")
	w = e.s.Wait("p1")
	if _, err := e.s.Requeue(e.ctx, "p1", "a", e.now, "again"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("a re-queue did not wake the waiter")
	}
}
