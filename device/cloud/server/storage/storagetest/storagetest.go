// Package storagetest checks an implementation of storage.Store against the
// contracts written on the interface. Each implementation's tests call Run
// with a function that opens an empty store.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// Run runs the conformance subtests; open returns an empty store for one
// subtest (closing it is Run's, and Close may be called on it twice).
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, e *env)
	}{
		{"PostIdempotent", testPostIdempotent},
		{"PostConcurrent", testPostConcurrent},
		{"LeaseOrder", testLeaseOrder},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"LeaseExpiry", testLeaseExpiry},
		{"ResumePages", testResumePages},
		{"ReportIdempotent", testReportIdempotent},
		{"Requeue", testRequeue},
		{"Delivery", testDelivery},
		{"DeliveredBeforeResult", testDeliveredBeforeResult},
		{"CallbackTakenOnce", testCallbackTakenOnce},
		{"CallbackRefuseSettle", testCallbackRefuseSettle},
		{"CallbackMadeAnew", testCallbackMadeAnew},
		{"Heartbeat", testHeartbeat},
		{"Commands", testCommands},
		{"Accounts", testAccounts},
		{"CreateAccount", testCreateAccount},
		{"CreateAccountConcurrent", testCreateAccountConcurrent},
		{"CreatePoint", testCreatePoint},
		{"CreatePointConcurrent", testCreatePointConcurrent},
		{"ShopLogins", testShopLogins},
		{"Sessions", testSessions},
		{"Sandbox", testSandbox},
		{"Incidents", testIncidents},
		{"IncidentOpenedOnce", testIncidentOpenedOnce},
		{"AlertOutbox", testAlertOutbox},
		{"ReleaseHolds", testReleaseHolds},
		{"ListFilters", testListFilters},
		{"ListPagesWhilePosting", testListPagesWhilePosting},
		{"Totals", testTotals},
		{"NotifierWakes", testNotifierWakes},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.f(t, &env{t: t, s: s, ctx: context.Background(), now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)})
		})
	}
}

// env is one subtest's store and clock.
type env struct {
	t   *testing.T
	s   storage.Store
	ctx context.Context
	now time.Time
}

func (e *env) advance(d time.Duration) time.Time {
	e.now = e.now.Add(d)
	return e.now
}

// body is a shop document's normalized body with a type and one payment.
func body(id, docType, payment string, kopecks int64) []byte {
	return fmt.Appendf(nil, `{"id":%q,"docType":%q,"moneyPositions":[{"paymentType":%q,"sum":%s}]}`,
		id, docType, payment, cloud.Money(kopecks))
}

// post posts a SALE of 10.00 by card, wanting it created.
func (e *env) post(pointID, id string) storage.Document {
	e.t.Helper()
	return e.postDoc(storage.NewDocument{PointID: pointID, ID: id, Hash: "h-" + id, Body: body(id, "SALE", "CARD", 1000), Message: "queued", At: e.now})
}

func (e *env) postDoc(n storage.NewDocument) storage.Document {
	e.t.Helper()
	d, created, err := e.s.PostDocument(e.ctx, n)
	if err != nil || !created {
		e.t.Fatalf("post %s/%s: created %v, %v", n.PointID, n.ID, created, err)
	}
	return d
}

// point stores a point with a register, whose id it returns.
func (e *env) point(id string) string {
	e.t.Helper()
	if err := e.s.PutPoint(e.ctx, storage.Point{Point: cloud.Point{ID: id, Name: "Point " + id}, Account: "owner", Settings: true}); err != nil {
		e.t.Fatal(err)
	}
	reg := "reg-" + id
	if err := e.s.BindRegister(e.ctx, storage.Register{ID: reg, PointID: id, BoundAt: e.now}); err != nil {
		e.t.Fatal(err)
	}
	return reg
}

func (e *env) lease(pointID, owner string, max int, resume bool, after string) storage.Leased {
	e.t.Helper()
	l, err := e.s.Lease(e.ctx, storage.LeaseRequest{PointID: pointID, Owner: owner, Max: max, Now: e.now,
		Until: e.now.Add(2 * time.Minute), Resume: resume, After: after}, "taken")
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func ids(docs []storage.Document) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

func (e *env) doc(pointID, id string) storage.Document {
	e.t.Helper()
	d, err := e.s.Document(e.ctx, pointID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// fiscal is a fiscalInfo of drive "D1", FD n, shift 1, SALE of 10.00 on the given day.
func fiscal(n int, date time.Time) *cloud.FiscalInfo {
	return &cloud.FiscalInfo{ShiftNumber: 1, CheckNumber: n, FNNumber: "D1", FNDocNumber: n, Date: date, Sum: 1000, CheckType: "SALE"}
}

// printed reports the documents fiscalized (FD numbers from first on), as the server does.
func (e *env) printed(pointID string, first int, docIDs ...string) storage.Reported {
	e.t.Helper()
	out, err := e.s.Report(e.ctx, pointID, docIDs, e.now, func(i int, d *storage.Document) {
		d.State, d.FiscalInfo, d.Message, d.Changed, d.Fiscalized = cloud.Printed, fiscal(first+i, e.now), "printed", e.now, e.now
		if d.ResponseURL == "" {
			d.State = cloud.Completed
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) failed(pointID string, docIDs ...string) {
	e.t.Helper()
	_, err := e.s.Report(e.ctx, pointID, docIDs, e.now, func(i int, d *storage.Document) {
		d.State, d.FailureInfo, d.Message, d.Changed = cloud.Failed, &cloud.FailureInfo{Type: cloud.FailureNonFN, Message: "bad"}, "bad", e.now
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
