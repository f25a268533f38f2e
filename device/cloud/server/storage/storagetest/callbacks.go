package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// withCallback posts, leases and reports documents that have a responseURL,
// so that their callbacks are due.
func (e *env) withCallback(pointID string, docIDs ...string) {
	e.t.Helper()
	for _, id := range docIDs {
		e.postDoc(storage.NewDocument{PointID: pointID, ID: id, Hash: "h", Body: body(id, "SALE", "CARD", 1000), ResponseURL: "http://shop.example/" + id, At: e.now})
	}
	e.lease(pointID, "reg-"+pointID, len(docIDs), false, "")
	e.printed(pointID, 1, docIDs...)
}

func testCallbackTakenOnce(t *testing.T, e *env) {
	e.point("p1")
	var docIDs []string
	for i := range 10 {
		docIDs = append(docIDs, fmt.Sprintf("cb%d", i))
	}
	e.withCallback("p1", docIDs...)
	var mu sync.Mutex
	taken := map[string]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, node := range []string{"n1", "n2"} {
		wg.Go(func() {
			<-start
			for range len(docIDs) { // a store that hands out held jobs would loop forever
				jobs, err := e.s.TakeCallbacks(e.ctx, node, e.now, e.now, e.now.Add(time.Minute), 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if prev, ok := taken[j.ID]; ok {
						t.Errorf("%s taken by %s and by %s", j.ID, prev, node)
					}
					taken[j.ID] = node
					if j.Owner != node || !j.Until.Equal(e.now.Add(time.Minute)) || j.PointID != "p1" {
						t.Errorf("job %+v", j)
					}
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(taken) != len(docIDs) {
		t.Fatalf("%d jobs taken, want %d", len(taken), len(docIDs))
	}
	// Held: nobody takes them again until the hold ends.
	if jobs, err := e.s.TakeCallbacks(e.ctx, "n3", e.now, e.now, e.now.Add(time.Minute), 100); err != nil || len(jobs) != 0 {
		t.Fatalf("held jobs taken again: %d, %v", len(jobs), err)
	}
	e.advance(time.Minute)
	if jobs, err := e.s.TakeCallbacks(e.ctx, "n3", e.now, e.now, e.now.Add(time.Minute), 100); err != nil || len(jobs) != len(docIDs) {
		t.Fatalf("after the holds ended: %d jobs, %v", len(jobs), err)
	}
}

func testCallbackRefuseSettle(t *testing.T, e *env) {
	e.point("p1")
	e.withCallback("p1", "cb", "other")
	e.advance(time.Second)
	jobs, err := e.s.TakeCallbacks(e.ctx, "n1", e.now, e.now, e.now.Add(time.Minute), 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("take: %+v, %v", jobs, err)
	}
	j := jobs[0]
	if _, err := e.s.CallbackDocument(e.ctx, j); err != nil {
		t.Fatal(err)
	}
	next := e.now.Add(time.Second)
	for n := 1; n <= 3; n++ {
		d, err := e.s.RefuseCallback(e.ctx, j, storage.Refusal{Reason: fmt.Sprintf("503 #%d", n), Next: next, Hold: next.Add(time.Minute)}, func(d *storage.Document) {
			if d.State == cloud.Printed {
				d.State = cloud.WaitForCallback
			}
		})
		if err != nil || d.CallbackAttempts != n || d.CallbackError != fmt.Sprintf("503 #%d", n) || d.State != cloud.WaitForCallback || !d.CallbackDue {
			t.Fatalf("refusal %d: %+v, %v", n, d, err)
		}
	}
	refused, err := e.s.RefusedCallbacks(e.ctx, "p1", 3)
	if err != nil || len(refused) != 1 || refused[0].ID != j.ID || refused[0].CallbackAttempts != 3 {
		t.Fatalf("refused 3 times: %v, %v", ids(refused), err)
	}
	if refused, _ := e.s.RefusedCallbacks(e.ctx, "p1", 4); len(refused) != 0 {
		t.Fatalf("refused 4 times: %v", ids(refused))
	}
	// Not due before Next, whoever asks once the hold ended.
	if jobs, _ := e.s.TakeCallbacks(e.ctx, "n2", e.now, next.Add(2*time.Minute), next.Add(3*time.Minute), 5); len(jobs) != 1 || jobs[0].ID == j.ID {
		t.Fatalf("taken before its next attempt: %+v", jobs)
	}
	n, err := e.s.SettleCallback(e.ctx, j, true, func(d *storage.Document) { d.State = cloud.Completed })
	if err != nil || n != 3 {
		t.Fatalf("settle: %d refusals, %v", n, err)
	}
	d := e.doc("p1", j.ID)
	if d.State != cloud.Completed || d.CallbackAttempts != 4 || d.CallbackError != "" || d.CallbackDue {
		t.Fatalf("settled: %+v", d)
	}
	_, err = e.s.SettleCallback(e.ctx, j, true, nil)
	wantErr(t, "a second settle", err, storage.ErrNotFound)
	_, err = e.s.RefuseCallback(e.ctx, j, storage.Refusal{Reason: "late"}, nil)
	wantErr(t, "a refusal after the settle", err, storage.ErrNotFound)
	if d := e.doc("p1", j.ID); d.CallbackAttempts != 4 {
		t.Fatalf("a refusal after the settle was counted: %+v", d)
	}
	_, err = e.s.CallbackDocument(e.ctx, j)
	wantErr(t, "the document of a settled job", err, storage.ErrNotFound)
}

func testCallbackMadeAnew(t *testing.T, e *env) {
	e.point("p1")
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "f", Hash: "h", Body: body("f", "SALE", "CARD", 1000), ResponseURL: "http://shop.example/f", At: e.now})
	e.lease("p1", "reg-p1", 1, false, "")
	e.failed("p1", "f")
	jobs, err := e.s.TakeCallbacks(e.ctx, "n1", e.now, e.now, e.now.Add(time.Minute), 5)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("take: %+v, %v", jobs, err)
	}
	old := jobs[0]
	// The shop re-queues the failure and the register prints it: a new job.
	if _, err := e.s.Requeue(e.ctx, "p1", "f", e.now, "again"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CallbackDocument(e.ctx, old)
	wantErr(t, "the job dropped by a re-queue", err, storage.ErrNotFound)
	e.lease("p1", "reg-p1", 1, false, "")
	e.printed("p1", 1, "f")
	_, err = e.s.SettleCallback(e.ctx, old, false, func(d *storage.Document) { d.Message = "stale" })
	wantErr(t, "a settle of the old job", err, storage.ErrNotFound)
	if d := e.doc("p1", "f"); !d.CallbackDue || d.Message == "stale" || d.State != cloud.Printed {
		t.Fatalf("the new job's document after the old job's settle: %+v", d)
	}
	e.advance(time.Minute)
	jobs, err = e.s.TakeCallbacks(e.ctx, "n1", e.now, e.now, e.now.Add(time.Minute), 5)
	if err != nil || len(jobs) != 1 || jobs[0].Seq == old.Seq {
		t.Fatalf("the new job: %+v (old %+v), %v", jobs, old, err)
	}
}
