package server

import (
	"context"
	"net/http"
	"testing"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// TestRepostAfterCompletedKeepsTheReceipt: a shop that posts an id again after
// its receipt is done (a retry after a lost answer, a replayed queue) gets the
// finished document back; nothing is queued for the register again.
func TestRepostAfterCompletedKeepsTheReceipt(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	body := withID("paid-once")
	f.post(body)
	leases, err := f.client().Lease(ctx, 0, 10)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v, %d documents", err, len(leases))
	}
	if err := f.client().Report(ctx, []cloud.Result{{ID: "paid-once", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	if st := f.status("paid-once"); st.Status != cloud.Completed {
		t.Fatalf("after the report: %s, want COMPLETED", st.Status)
	}

	again := f.post(body)
	if again.Status != cloud.Completed || again.FiscalInfo == nil || again.FiscalInfo.FNDocNumber != fiscalInfo(1).FNDocNumber {
		t.Fatalf("the re-post answered %s %+v, want COMPLETED with FD %d", again.Status, again.FiscalInfo, fiscalInfo(1).FNDocNumber)
	}
	if leases, err := f.client().Lease(ctx, 0, 10); err != nil || len(leases) != 0 {
		t.Fatalf("after the re-post the register leases %d documents (%v), want none", len(leases), err)
	}
	if st := f.status("paid-once"); st.Status != cloud.Completed || st.FiscalInfo == nil {
		t.Fatalf("after the re-post: %s %+v, want COMPLETED with its fiscal data", st.Status, st.FiscalInfo)
	}
	// The same id with other content is a conflict, not a second receipt.
	other := cloudtest.Doc(func(m map[string]any) { m["id"] = "paid-once"; m["email"] = "other@example.com" })
	if code, data := f.shop("POST", "/api/fn/v2/doc", other); code != http.StatusConflict {
		t.Fatalf("the id with other content: HTTP %d %s, want 409", code, data)
	}
}

// TestRepostWhileQueuedLeasesOnce: an id posted twice before the register takes
// it is one document in the queue, leased once.
func TestRepostWhileQueuedLeasesOnce(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	body := withID("twice")
	first, second := f.post(body), f.post(body)
	if first.Status != cloud.Queued || second.Status != cloud.Queued {
		t.Fatalf("posts answered %s and %s, want QUEUED", first.Status, second.Status)
	}
	leases, err := f.client().Lease(ctx, 0, 10)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v, %d documents, want one", err, len(leases))
	}
	// The register reports it; a third post must not put it back in the queue.
	if err := f.client().Report(ctx, []cloud.Result{{ID: "twice", Status: cloud.Printed, FiscalInfo: fiscalInfo(2)}}); err != nil {
		t.Fatal(err)
	}
	f.post(body)
	if leases, err := f.client().Lease(ctx, 0, 10); err != nil || len(leases) != 0 {
		t.Fatalf("after the report and a third post: %d leased (%v), want none", len(leases), err)
	}
}
