package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/device/cloud/server"
	"golang.org/x/crypto/bcrypt"
)

// testRegister is an in-memory Register: it fiscalizes nothing, but turns every
// accepted document into a receipt with the real conversion and reports a result.
type testRegister struct {
	t     *testing.T
	point cloud.Point
	hold  string // ids with this prefix get no result until release
	kick  func()

	mu         sync.Mutex
	accepted   map[string]int // id → times accepted
	held       []cloud.Result
	unreported []cloud.Result
	reported   map[string]int // id → times marked reported
}

func newTestRegister(t *testing.T, p cloud.Point) *testRegister {
	return &testRegister{t: t, point: p, accepted: map[string]int{}, reported: map[string]int{}}
}

func (r *testRegister) Accept(ctx context.Context, leases []cloud.Lease) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range leases {
		r.accepted[l.ID]++
		if r.accepted[l.ID] > 1 {
			continue // deduplicated by id
		}
		var d cloud.Document
		if err := json.Unmarshal(l.Document, &d); err != nil {
			return fmt.Errorf("lease %s: %w", l.ID, err)
		}
		rc, err := d.Receipt(r.point)
		if err != nil {
			return fmt.Errorf("lease %s: %w", l.ID, err)
		}
		var total int64
		for _, it := range rc.Items {
			total += it.Sum
		}
		res := cloud.Result{ID: l.ID, Status: cloud.Printed, FiscalInfo: &cloud.FiscalInfo{FNDocNumber: len(r.accepted), Sum: cloud.Money(total), CheckType: "SALE"}}
		if r.hold != "" && strings.HasPrefix(l.ID, r.hold) {
			r.held = append(r.held, res)
			continue
		}
		r.unreported = append(r.unreported, res)
	}
	if r.kick != nil && len(r.unreported) > 0 {
		r.kick()
	}
	return nil
}

func (r *testRegister) release() {
	r.mu.Lock()
	r.unreported = append(r.unreported, r.held...)
	r.held = nil
	r.mu.Unlock()
	r.kick()
}

func (r *testRegister) Unreported(ctx context.Context) ([]cloud.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cloud.Result(nil), r.unreported...), nil
}

func (r *testRegister) Taking() bool { return true }

func (r *testRegister) Reported(ctx context.Context, ids []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	done := map[string]bool{}
	for _, id := range ids {
		done[id] = true
		r.reported[id]++
	}
	kept := r.unreported[:0]
	for _, res := range r.unreported {
		if !done[res.ID] {
			kept = append(kept, res)
		}
	}
	r.unreported = kept
	return nil
}

func (r *testRegister) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.unreported)
}

// gate is the cloud as the register sees it: the real server behind a switch that
// can make it answer 503, counting requests and checking that no lease is asked
// for while results wait.
type gate struct {
	next       http.Handler
	reg        *testRegister
	down       atomic.Bool
	requests   atomic.Int64
	violations atomic.Int64
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	if g.down.Load() {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/lease") && g.reg.pending() > 0 {
		g.violations.Add(1)
	}
	g.next.ServeHTTP(w, r)
}

func startPoller(t *testing.T, f *cloudFixture, cfg cloud.PollerConfig) (*cloud.Poller, *testRegister, *gate) {
	t.Helper()
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegister(t, p)
	g := &gate{next: f.srv.Handler(), reg: reg}
	front := httptest.NewServer(g)
	cfg.Seed = 7
	poller := cloud.NewPoller(cloud.NewClient(front.URL, f.sb.RegisterToken, nil), reg, cfg)
	reg.kick = poller.Kick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- poller.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v", err)
		}
		front.Close()
	})
	return poller, reg, g
}

func TestPollerOutage(t *testing.T) {
	f := newCloud(t)
	poller, reg, g := startPoller(t, f, cloud.PollerConfig{Interval: 30 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	reg.mu.Lock()
	reg.hold = "slow"
	reg.mu.Unlock()

	ids := []string{"a1", "a2", "a3", "slow1"}
	for _, id := range ids {
		f.post(withID(id))
	}
	completed := func(ids ...string) func() bool {
		return func() bool {
			for _, id := range ids {
				if f.status(id).Status != cloud.Completed {
					return false
				}
			}
			return true
		}
	}
	cloudtest.WaitFor(t, completed("a1", "a2", "a3"))
	if !poller.Reachable() || poller.LastContact().IsZero() {
		t.Fatal("not reachable while the cloud answers")
	}
	cloudtest.WaitFor(t, func() bool { return f.status("slow1").Status == cloud.Pending }) // accepted, its result held

	// The cloud goes down; documents keep coming to it, and a result waits.
	g.down.Store(true)
	before := g.requests.Load()
	f.post(withID("b1"))
	f.post(withID("b2"))
	reg.release()
	time.Sleep(600 * time.Millisecond)
	during := g.requests.Load() - before
	if poller.Reachable() {
		t.Error("reachable while the cloud answers 503")
	}
	// 600 ms with pauses growing 20 → 100 ms (half of each jitter): at most ~12 tries.
	if during < 3 || during > 20 {
		t.Errorf("%d requests to a sick cloud in 600 ms", during)
	}

	g.down.Store(false)
	back := time.Now()
	cloudtest.WaitFor(t, completed("slow1", "b1", "b2"))
	if d := time.Since(back); d > 2*time.Second {
		t.Errorf("recovered after %v", d)
	}
	if !poller.Reachable() {
		t.Error("not reachable after recovery")
	}
	if n := g.violations.Load(); n != 0 {
		t.Errorf("%d leases asked for while results waited", n)
	}
	// The cloud has the results; the register hears so once the report returns.
	cloudtest.WaitFor(t, func() bool {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return reg.reported["b1"] > 0 && reg.reported["b2"] > 0
	})
	reg.mu.Lock()
	for _, id := range append(ids, "b1", "b2") {
		if reg.accepted[id] != 1 || reg.reported[id] != 1 {
			t.Errorf("%s accepted %d times, reported %d times", id, reg.accepted[id], reg.reported[id])
		}
	}
	reg.mu.Unlock()

	// Idle: polls at Interval, no busy loop.
	before = g.requests.Load()
	time.Sleep(300 * time.Millisecond)
	if idle := g.requests.Load() - before; idle < 2 || idle > 15 {
		t.Errorf("%d requests in 300 ms idle at a 30 ms interval", idle)
	}
}

func TestPollerLongPoll(t *testing.T) {
	f := newCloud(t)
	_, reg, g := startPoller(t, f, cloud.PollerConfig{LongPoll: true, Wait: 2 * time.Second, Interval: time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	before := g.requests.Load()
	time.Sleep(400 * time.Millisecond)
	if idle := g.requests.Load() - before; idle > 1 {
		t.Errorf("%d requests in 400 ms of a 2 s long-poll", idle)
	}
	start := time.Now()
	f.post(withID("lp1"))
	cloudtest.WaitFor(t, func() bool { return f.status("lp1").Status == cloud.Completed })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("long-poll took %v to fiscalize a posted document", d)
	}
	// A held result is reported as soon as it is released, not after the 2 s wait.
	reg.mu.Lock()
	reg.hold = "h"
	reg.mu.Unlock()
	f.post(withID("h1"))
	cloudtest.WaitFor(t, func() bool { return f.status("h1").Status == cloud.Pending })
	time.Sleep(50 * time.Millisecond) // the poller is back in its long-poll
	start = time.Now()
	reg.release()
	cloudtest.WaitFor(t, func() bool { return f.status("h1").Status == cloud.Completed })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a kicked result took %v", d)
	}
	if n := g.violations.Load(); n != 0 {
		t.Errorf("%d leases asked for while results waited", n)
	}
}

// Only the leases after a start take back open leases: a full batch of new
// documents is followed by an ordinary lease, not by one that hands this
// register's open leases back to it.
func TestPollerResumesOnlyAfterStart(t *testing.T) {
	f := newCloud(t)
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegister(t, p)
	reg.hold = "r" // no results: the documents stay leased
	var mu sync.Mutex
	var resumes []bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/lease") {
			mu.Lock()
			resumes = append(resumes, r.URL.Query().Get("resume") == "1")
			mu.Unlock()
		}
		f.srv.Handler().ServeHTTP(w, r)
	}))
	defer front.Close()
	poller := cloud.NewPoller(cloud.NewClient(front.URL, f.sb.RegisterToken, nil), reg, cloud.PollerConfig{MaxBatch: 2})
	cycle := func(want int) {
		t.Helper()
		if n, err := poller.Cycle(context.Background()); n != want || err != nil {
			t.Fatalf("cycle = %d, %v; want %d documents", n, err, want)
		}
	}
	cycle(0) // the start's lease, with nothing to take back
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		f.post(withID(id))
	}
	cycle(2)
	cycle(2)
	if want := []bool{true, false, false}; fmt.Sprint(resumes) != fmt.Sprint(want) {
		t.Errorf("leases asked with resume: %v, want %v", resumes, want)
	}
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		if n := reg.accepted[id]; n != 1 {
			t.Errorf("%s leased %d times, want once", id, n)
		}
	}
}

// slowReporter is a testRegister whose Reported blocks until released, then
// says it finished.
type slowReporter struct {
	*testRegister
	entered  chan struct{}
	release  chan struct{}
	finished atomic.Bool
}

func (r *slowReporter) Reported(ctx context.Context, ids []string) error {
	select {
	case r.entered <- struct{}{}:
	default:
	}
	<-r.release
	err := r.testRegister.Reported(ctx, ids)
	r.finished.Store(true)
	return err
}

// TestPollerWaitsForReport: Run returns only after the report under way when
// ctx ended has finished.
func TestPollerWaitsForReport(t *testing.T) {
	f := newCloud(t)
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := &slowReporter{testRegister: newTestRegister(t, p), entered: make(chan struct{}, 1), release: make(chan struct{})}
	poller := cloud.NewPoller(f.client(), reg, cloud.PollerConfig{Interval: 10 * time.Millisecond, Seed: 7})
	reg.kick = poller.Kick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- poller.Run(ctx) }()
	f.post(withID("w1"))
	<-reg.entered // the report is in Reported, blocked
	cancel()
	go func() {
		time.Sleep(100 * time.Millisecond) // Run must still be waiting then
		close(reg.release)
	}()
	<-done
	if !reg.finished.Load() {
		t.Fatal("Run returned while its report loop was still reporting")
	}
}

// cloudFixture is a real cloud server on loopback with its sandbox's point.
type cloudFixture struct {
	t    *testing.T
	srv  *server.Server
	http *httptest.Server
	sb   server.Sandbox
}

func newCloud(t *testing.T) *cloudFixture {
	t.Helper()
	srv, err := server.Open(server.Config{Dir: t.TempDir(), PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	f := &cloudFixture{t: t, srv: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() { f.http.Close(); srv.Close() })
	if f.sb, err = srv.Sandbox(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *cloudFixture) client() *cloud.Client {
	return cloud.NewClient(f.http.URL, f.sb.RegisterToken, nil)
}

// shop makes one request of the shop API with the sandbox's pair and decodes the status it answers.
func (f *cloudFixture) shop(method, path string, body []byte) cloud.DocumentStatus {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.SetBasicAuth(f.sb.Login, f.sb.Password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st cloud.DocumentStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		f.t.Fatalf("%s %s: HTTP %d, %v", method, path, resp.StatusCode, err)
	}
	return st
}

func (f *cloudFixture) post(body []byte) cloud.DocumentStatus {
	return f.shop("POST", "/api/fn/v2/doc", body)
}

func (f *cloudFixture) status(id string) cloud.DocumentStatus {
	return f.shop("GET", "/api/fn/v1/doc/"+id+"/status", nil)
}

func withID(id string) []byte { return cloudtest.Doc(func(m map[string]any) { m["id"] = id }) }

// A lease whose answer is lost on the way (the cloud leased the documents,
// the register never heard) is taken back by the next lease at once, not left
// to wait out the lease.
func TestPollerResumesAfterLostLease(t *testing.T) {
	f := newCloud(t)
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := newTestRegister(t, p)
	var lose atomic.Bool
	var resumes []bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/lease") {
			f.srv.Handler().ServeHTTP(w, r)
			return
		}
		resumes = append(resumes, r.URL.Query().Get("resume") == "1")
		if lose.Swap(false) {
			f.srv.Handler().ServeHTTP(httptest.NewRecorder(), r) // leased, and the answer dropped
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		f.srv.Handler().ServeHTTP(w, r)
	}))
	defer front.Close()
	poller := cloud.NewPoller(cloud.NewClient(front.URL, f.sb.RegisterToken, nil), reg, cloud.PollerConfig{MaxBatch: 8})
	if _, err := poller.Cycle(context.Background()); err != nil { // the start's lease
		t.Fatal(err)
	}
	f.post(withID("lost1"))
	lose.Store(true)
	if _, err := poller.Cycle(context.Background()); err == nil {
		t.Fatal("a lost lease answer did not fail the cycle")
	}
	if n, err := poller.Cycle(context.Background()); n != 1 || err != nil {
		t.Fatalf("the lease after the lost one: %d documents, %v; want lost1 back", n, err)
	}
	if want := []bool{true, false, true}; fmt.Sprint(resumes) != fmt.Sprint(want) {
		t.Errorf("leases asked with resume: %v, want %v", resumes, want)
	}
	if n := reg.accepted["lost1"]; n != 1 {
		t.Errorf("lost1 accepted %d times, want once", n)
	}
}
