package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"golang.org/x/crypto/bcrypt"
)

// newClock is the tests' clock of the cloud, at a fixed date until a test moves it.
func newClock() *clockwork.FakeClock {
	return clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

type fixture struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	sb    Sandbox
	clock *clockwork.FakeClock
	dir   string
}

// newFixture runs a real server on loopback with its sandbox; cfg.Dir and Clock are set here.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), dir: t.TempDir()}
	cfg.Dir = f.dir
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.MinCost // the sandbox's account is hashed at it: keep tests fast
	}
	if cfg.Clock == nil {
		cfg.Clock = f.clock.Now
	}
	f.open(cfg)
	return f
}

func (f *fixture) open(cfg Config) {
	f.t.Helper()
	cfg.AllowPrivateTargets = true // the tests' shops listen on loopback
	srv, err := Open(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
	f.sb, err = srv.Sandbox()
	if err != nil {
		f.t.Fatal(err)
	}
	f.http = httptest.NewServer(srv.Handler())
	f.t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.http != nil {
		f.http.Close()
		f.srv.Close()
		f.http = nil
	}
}

// call makes one request with Basic auth (user != "") and returns the code and body.
func (f *fixture) call(method, path, user, pass string, body []byte) (int, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, data
}

// shop calls as the first point's integration pair.
func (f *fixture) shop(method, path string, body []byte) (int, []byte) {
	f.t.Helper()
	return f.call(method, path, f.sb.Login, f.sb.Password, body)
}

func (f *fixture) post(body []byte) cloud.DocumentStatus {
	f.t.Helper()
	code, data := f.shop("POST", "/api/fn/v2/doc", body)
	if code != http.StatusOK {
		f.t.Fatalf("post: HTTP %d %s", code, data)
	}
	return decode[cloud.DocumentStatus](f.t, data)
}

func (f *fixture) status(id string) cloud.DocumentStatus {
	f.t.Helper()
	code, data := f.shop("GET", "/api/fn/v1/doc/"+id+"/status", nil)
	if code != http.StatusOK {
		f.t.Fatalf("status %s: HTTP %d %s", id, code, data)
	}
	return decode[cloud.DocumentStatus](f.t, data)
}

func (f *fixture) pointStatus() cloud.PointStatus {
	f.t.Helper()
	code, data := f.shop("GET", "/api/fn/v1/status", nil)
	if code != http.StatusOK {
		f.t.Fatalf("status: HTTP %d %s", code, data)
	}
	return decode[cloud.PointStatus](f.t, data)
}

func (f *fixture) client() *cloud.Client { return cloud.NewClient(f.http.URL, f.sb.RegisterToken, nil) }

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, data, err)
	}
	return v
}

func apiError(t *testing.T, data []byte) cloud.APIError { return decode[cloud.APIError](t, data) }

func withID(id string) []byte { return cloudtest.Doc(func(m map[string]any) { m["id"] = id }) }

func fiscalInfo(n int) *cloud.FiscalInfo {
	return &cloud.FiscalInfo{ShiftNumber: 1, CheckNumber: n, KKTNumber: "0000000001", FNNumber: "9999078900001234",
		FNDocNumber: 10 + n, FNDocMark: 1234567890, Date: time.Date(2026, 11, 23, 13, 0, 0, 0, time.UTC),
		Sum: 203500, CheckType: "SALE", QR: "t=20261123T1300&s=2035.00&fn=9999078900001234&i=11&fp=1234567890&n=1",
		ECRRegistrationNumber: "0000000001012345"}
}

func TestShopAuth(t *testing.T) {
	f := newFixture(t, Config{})
	cases := []struct {
		name, user, pass string
	}{
		{"none", "", ""},
		{"wrong password", f.sb.Login, f.sb.Password + "x"},
		{"unknown login", "nobody", f.sb.Password},
		{"cabinet pair", f.sb.CabinetLogin, f.sb.CabinetPassword},
	}
	for _, c := range cases {
		for _, ep := range []struct{ method, path string }{
			{"GET", "/api/fn/v1/status"}, {"POST", "/api/fn/v2/doc"}, {"POST", "/api/fn/v1/doc"},
			{"GET", "/api/fn/v1/doc/x/status"}, {"PUT", "/api/fn/v1/doc/x/re-queue"}, {"DELETE", "/api/fn/v1/associate"},
		} {
			code, data := f.call(ep.method, ep.path, c.user, c.pass, cloudtest.Doc(nil))
			if code != http.StatusUnauthorized || apiError(t, data).Message == "" {
				t.Errorf("%s %s as %s: HTTP %d %s, want 401 with a message", ep.method, ep.path, c.name, code, data)
			}
		}
	}
	// The register's token is not a shop credential, nor the reverse.
	req, _ := http.NewRequest("GET", f.http.URL+"/api/fn/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+f.sb.RegisterToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bearer on the shop API: %v %v", resp.StatusCode, err)
	}
	bad := cloud.NewClient(f.http.URL, "nope", nil)
	if _, err := bad.Point(context.Background()); !errors.Is(err, cloud.ErrUnauthorized) {
		t.Errorf("bad token: %v, want ErrUnauthorized", err)
	}
	shopAsRegister := cloud.NewClient(f.http.URL, f.sb.Password, nil)
	if _, err := shopAsRegister.Lease(context.Background(), 0, 1); !errors.Is(err, cloud.ErrUnauthorized) {
		t.Errorf("shop password as token: %v, want ErrUnauthorized", err)
	}
}

func TestAssociate(t *testing.T) {
	f := newFixture(t, Config{})
	path := "/api/fn/v1/associate/" + f.sb.RetailPointID
	if code, _ := f.call("POST", path, f.sb.CabinetLogin, "wrong", nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong cabinet password: HTTP %d", code)
	}
	if code, _ := f.call("POST", path, f.sb.Login, f.sb.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("integration pair as cabinet: HTTP %d", code)
	}
	if code, data := f.call("POST", "/api/fn/v1/associate/no-such-point", f.sb.CabinetLogin, f.sb.CabinetPassword, nil); code != http.StatusNotFound || apiError(t, data).Field != "retailPointId" {
		t.Fatalf("unknown point: HTTP %d %s", code, data)
	}
	code, data := f.call("POST", path+"?clientId=crm", f.sb.CabinetLogin, f.sb.CabinetPassword, nil)
	if code != http.StatusOK {
		t.Fatalf("associate: HTTP %d %s", code, data)
	}
	a1 := decode[cloud.Association](t, data)
	if a1.UserName == "" || a1.Password == "" || a1.Name != f.sb.RetailPoints[0].Name || !strings.Contains(a1.Address, "Тверская") {
		t.Fatalf("association %+v", a1)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", a1.UserName, a1.Password, nil); code != http.StatusOK {
		t.Fatalf("new pair: HTTP %d", code)
	}
	// Again: same login, new password; the old one stops working.
	_, data = f.call("POST", path+"?clientId=crm", f.sb.CabinetLogin, f.sb.CabinetPassword, nil)
	a2 := decode[cloud.Association](t, data)
	if a2.UserName != a1.UserName || a2.Password == a1.Password {
		t.Fatalf("re-associate %+v after %+v", a2, a1)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", a1.UserName, a1.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("old password: HTTP %d, want 401", code)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", a2.UserName, a2.Password, nil); code != http.StatusOK {
		t.Fatalf("new password: HTTP %d", code)
	}
	// Another clientId has its own pair; the sandbox's pair is untouched.
	_, data = f.call("POST", path, f.sb.CabinetLogin, f.sb.CabinetPassword, nil)
	if a3 := decode[cloud.Association](t, data); a3.UserName == a2.UserName || a3.UserName == f.sb.Login {
		t.Fatalf("no clientId reused login %s", a3.UserName)
	}
	if code, _ := f.shop("GET", "/api/fn/v1/status", nil); code != http.StatusOK {
		t.Fatalf("sandbox pair after associate: HTTP %d", code)
	}
	// Revoke.
	if code, data := f.call("DELETE", "/api/fn/v1/associate", a2.UserName, a2.Password, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: HTTP %d %s", code, data)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", a2.UserName, a2.Password, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked pair: HTTP %d, want 401", code)
	}
	if code, _ := f.shop("GET", "/api/fn/v1/status", nil); code != http.StatusOK {
		t.Fatalf("other pair after revoke: HTTP %d", code)
	}
}

func TestPostDocument(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.post(cloudtest.Doc(nil))
	if st.Status != cloud.Queued || st.FNState != cloud.Associated || st.Message == "" || !st.TimeStatusChanged.Equal(f.clock.Now()) || st.FiscalInfo != nil {
		t.Fatalf("posted %+v", st)
	}
	// The same document again, as v1, with float noise and other whitespace: the same document.
	f.clock.Advance(time.Minute)
	again := cloudtest.Doc(func(m map[string]any) { cloudtest.Pos(m, 0)["price"] = 1990.0000000000002 })
	code, data := f.shop("POST", "/api/fn/v1/doc", again)
	if st2 := decode[cloud.DocumentStatus](t, data); code != http.StatusOK || st2.Status != cloud.Queued || !st2.TimeStatusChanged.Equal(st.TimeStatusChanged) {
		t.Fatalf("re-post: HTTP %d %s", code, data)
	}
	// The same id with other content.
	code, data = f.shop("POST", "/api/fn/v2/doc", cloudtest.Doc(func(m map[string]any) { m["email"] = "other@example.com" }))
	if code != http.StatusConflict || apiError(t, data).Field != "id" {
		t.Fatalf("conflict: HTTP %d %s", code, data)
	}
	if got := f.status(withIDString(cloudtest.Doc(nil))); got.Status != cloud.Queued {
		t.Fatalf("status %+v", got)
	}
	// Unknown id; another point's pair never sees this point's document.
	if code, _ := f.shop("GET", "/api/fn/v1/doc/nope/status", nil); code != http.StatusNotFound {
		t.Fatalf("unknown id: HTTP %d", code)
	}
	other := f.sb.RetailPoints[1]
	id := withIDString(cloudtest.Doc(nil))
	for _, ep := range []struct{ method, path string }{{"GET", "/api/fn/v1/doc/" + id + "/status"}, {"PUT", "/api/fn/v1/doc/" + id + "/re-queue"}} {
		if code, data := f.call(ep.method, ep.path, other.Login, other.Password, nil); code != http.StatusNotFound {
			t.Fatalf("%s as the other point: HTTP %d %s", ep.path, code, data)
		}
	}
	// The other point may use the same id for its own document, taxed its own way.
	code, data = f.call("POST", "/api/fn/v2/doc", other.Login, other.Password, cloudtest.Doc(func(m map[string]any) { m["taxMode"] = "COMMON" }))
	if code != http.StatusBadRequest || apiError(t, data).Field != "taxMode" {
		t.Fatalf("other point, a tax system it lacks: HTTP %d %s", code, data)
	}
	code, data = f.call("POST", "/api/fn/v2/doc", other.Login, other.Password, cloudtest.Doc(nil))
	if code != http.StatusOK {
		t.Fatalf("other point, its own tax system by default: HTTP %d %s", code, data)
	}
	// Re-queue is only for FAILED documents.
	if code, data := f.shop("PUT", "/api/fn/v1/doc/"+id+"/re-queue", nil); code != http.StatusConflict {
		t.Fatalf("re-queue QUEUED: HTTP %d %s", code, data)
	}
}

func withIDString(b []byte) string {
	var m struct{ ID string }
	json.Unmarshal(b, &m)
	return m.ID
}

func TestPostRefusals(t *testing.T) {
	f := newFixture(t, Config{})
	cases := []struct {
		name  string
		body  []byte
		code  int
		field string
	}{
		{"float noise accepted", cloudtest.Doc(func(m map[string]any) {
			m["id"] = "noise"
			cloudtest.Pos(m, 0)["price"] = 19.900000000000002
			m["moneyPositions"].([]any)[0].(map[string]any)["sum"] = 19.9
		}), 200, ""},
		{"third decimal", cloudtest.Doc(func(m map[string]any) { m["id"] = "d3"; cloudtest.Pos(m, 0)["price"] = 1.005 }), 400, "inventPositions[0].price"},
		{"malformed", []byte(`{"id": "x", `), 400, ""},
		{"empty", nil, 400, ""},
		{"wrong total", cloudtest.Doc(func(m map[string]any) { m["id"] = "t"; cloudtest.Pos(m, 0)["price"] = 1000 }), 400, "moneyPositions"},
		{"bad cashier inn", cloudtest.Doc(func(m map[string]any) { m["id"] = "c"; m["cashierInn"] = "123" }), 400, "cashierInn"},
		{"oversized", cloudtest.Doc(func(m map[string]any) { m["id"] = "big"; m["padding"] = strings.Repeat("x", maxBody) }), 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, data := f.shop("POST", "/api/fn/v2/doc", c.body)
			if code != c.code {
				t.Fatalf("HTTP %d %s, want %d", code, data, c.code)
			}
			if code != 200 {
				e := apiError(t, data)
				if e.Field != c.field || e.Message == "" {
					t.Fatalf("error %+v, want field %q", e, c.field)
				}
			}
		})
	}
	if code, _ := f.shop("GET", "/api/fn/v2/doc", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET doc: HTTP %d", code)
	}
	if code, _ := f.shop("GET", "/api/fn/v3/doc", nil); code != http.StatusNotFound {
		t.Errorf("unknown path: HTTP %d", code)
	}
}

func TestConcurrentPostsMakeOneDocument(t *testing.T) {
	f := newFixture(t, Config{})
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", f.http.URL+"/api/fn/v2/doc", bytes.NewReader(withID("same")))
			req.SetBasicAuth(f.sb.Login, f.sb.Password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("post %d: HTTP %d", i, c)
		}
	}
	leases, err := f.client().Lease(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != 1 || leases[0].ID != "same" {
		t.Fatalf("leases %+v, want one document", leases)
	}
}

func TestLifecycleAndCallbacks(t *testing.T) {
	var hits atomic.Int32
	got := make(chan cloud.DocumentStatus, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "t1" {
			t.Errorf("callback query %q", r.URL.RawQuery)
		}
		if hits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var st cloud.DocumentStatus
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
			t.Error(err)
		}
		got <- st
	}))
	defer receiver.Close()
	f := newFixture(t, Config{CallbackInitial: 20 * time.Millisecond, CallbackMax: 50 * time.Millisecond, CallbackFor: 10 * time.Second})
	ctx := context.Background()
	c := f.client()

	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "cb"; m["responseURL"] = receiver.URL + "/cb?token=t1" }))
	f.post(withID("plain"))
	f.post(withID("bad"))
	leases, err := c.Lease(ctx, 0, 2)
	if err != nil || len(leases) != 2 || leases[0].ID != "cb" || leases[1].ID != "plain" {
		t.Fatalf("lease: %+v %v", leases, err)
	}
	var d cloud.Document
	if err := json.Unmarshal(leases[0].Document, &d); err != nil || d.ResponseURL == "" || d.InventPositions[0].Price != 199000 {
		t.Fatalf("leased document %s: %v", leases[0].Document, err)
	}
	if !leases[0].LeasedUntil.Equal(f.clock.Now().Add(2 * time.Minute)) {
		t.Errorf("leasedUntil %v", leases[0].LeasedUntil)
	}
	if st := f.status("cb"); st.Status != cloud.Pending {
		t.Fatalf("leased: %+v", st)
	}
	if st := f.status("bad"); st.Status != cloud.Queued {
		t.Fatalf("not leased: %+v", st)
	}

	res := []cloud.Result{{ID: "cb", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}, {ID: "plain", Status: cloud.Printed, FiscalInfo: fiscalInfo(2)}, {ID: "ghost", Status: cloud.Printed, FiscalInfo: fiscalInfo(3)}}
	if err := c.Report(ctx, res); err != nil {
		t.Fatal(err)
	}
	if st := f.status("plain"); st.Status != cloud.Completed || st.FiscalInfo == nil || st.FiscalInfo.FNDocNumber != 12 {
		t.Fatalf("without responseURL: %+v", st)
	}
	var cb cloud.DocumentStatus
	select {
	case cb = <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("no callback accepted after %d attempts", hits.Load())
	}
	if cb.ID != "cb" || cb.Status != cloud.Completed || cb.FiscalInfo == nil || cb.FiscalInfo.QR == "" || cb.FiscalInfo.Sum != 203500 {
		t.Fatalf("callback body %+v", cb)
	}
	cloudtest.WaitFor(t, func() bool { return f.status("cb").Status == cloud.Completed })
	if n := hits.Load(); n != 3 {
		t.Fatalf("callback attempts %d, want 3", n)
	}
	// A result again changes nothing, and is accepted.
	before := f.status("cb")
	f.clock.Advance(time.Minute)
	if err := c.Report(ctx, []cloud.Result{{ID: "cb", Status: cloud.Failed, Message: "late"}}); err != nil {
		t.Fatal(err)
	}
	if after := f.status("cb"); after.Status != cloud.Completed || !after.TimeStatusChanged.Equal(before.TimeStatusChanged) {
		t.Fatalf("re-reported: %+v", after)
	}

	// A failure, re-queued, leased again under the same id.
	if _, err := c.Lease(ctx, 0, 5); err != nil {
		t.Fatal(err)
	}
	fail := &cloud.FailureInfo{Type: cloud.FailureFNGeneric, Message: "drive answered 03h"}
	if err := c.Report(ctx, []cloud.Result{{ID: "bad", Status: cloud.Failed, FailureInfo: fail, Message: "drive error"}}); err != nil {
		t.Fatal(err)
	}
	st := f.status("bad")
	if st.Status != cloud.Failed || st.FailureInfo == nil || *st.FailureInfo != *fail || st.Message != "drive error" {
		t.Fatalf("failed: %+v", st)
	}
	code, data := f.shop("PUT", "/api/fn/v1/doc/bad/re-queue", nil)
	if code != http.StatusOK || decode[cloud.DocumentStatus](t, data).Status != cloud.Requeued {
		t.Fatalf("re-queue: HTTP %d %s", code, data)
	}
	leases, err = c.Lease(ctx, 0, 5)
	if err != nil || len(leases) != 1 || leases[0].ID != "bad" {
		t.Fatalf("lease after re-queue: %+v %v", leases, err)
	}
	if st := f.status("bad"); st.Status != cloud.Pending || st.FailureInfo != nil {
		t.Fatalf("re-leased: %+v", st)
	}

	// Malformed results are refused whole.
	for _, bad := range []cloud.Result{{ID: "bad", Status: cloud.Printed}, {ID: "bad", Status: "DONE"}, {Status: cloud.Failed}} {
		err := c.Report(ctx, []cloud.Result{bad})
		var se *cloud.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.HasPrefix(se.Field, "results[0].") {
			t.Errorf("result %+v: %v", bad, err)
		}
	}
}

// TestCallbackGivesUp: the callbacks' window is the cloud's clock's. Each
// refusal here moves that clock 10 minutes, so a window of an hour ends after
// six attempts, however little real time passes.
func TestCallbackGivesUp(t *testing.T) {
	var hits atomic.Int32
	var f *fixture
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		f.clock.Advance(10 * time.Minute)
		http.Error(w, "gone", http.StatusInternalServerError)
	}))
	defer receiver.Close()
	f = newFixture(t, Config{CallbackInitial: 10 * time.Millisecond, CallbackMax: 20 * time.Millisecond, CallbackFor: time.Hour})
	f.post(cloudtest.Doc(func(m map[string]any) { m["responseURL"] = receiver.URL }))
	ctx := context.Background()
	leases, err := f.client().Lease(ctx, 0, 1)
	if err != nil || len(leases) != 1 {
		t.Fatal(leases, err)
	}
	if err := f.client().Report(ctx, []cloud.Result{{ID: leases[0].ID, Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	cloudtest.WaitFor(t, func() bool {
		return strings.HasPrefix(f.status(leases[0].ID).Message, "Callback not accepted after 6 attempts")
	})
	st := f.status(leases[0].ID)
	if st.Status != cloud.WaitForCallback || st.FiscalInfo == nil {
		t.Fatalf("abandoned callback: %+v", st)
	}
	if n := hits.Load(); n != 6 {
		t.Fatalf("%d attempts in an hour of the cloud's clock at 10 minutes each, want 6", n)
	}
	time.Sleep(100 * time.Millisecond)
	if n := hits.Load(); n != 6 {
		t.Fatalf("attempts went on after giving up: %d", n)
	}
}

// TestCallbackWindowSurvivesRestart: a cloud restarted after the window has
// passed makes one more attempt and gives up, rather than starting a new window.
func TestCallbackWindowSurvivesRestart(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer receiver.Close()
	cfg := Config{CallbackInitial: 10 * time.Millisecond, CallbackMax: 20 * time.Millisecond, CallbackFor: time.Hour}
	f := newFixture(t, cfg)
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "w1"; m["responseURL"] = receiver.URL }))
	c := f.client()
	if _, err := c.Lease(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(context.Background(), []cloud.Result{{ID: "w1", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	cloudtest.WaitFor(t, func() bool { return hits.Load() >= 2 })
	f.close()
	f.clock.Advance(2 * time.Hour)
	before := hits.Load()
	cfg.Dir, cfg.Clock = f.dir, f.clock.Now
	f.open(cfg)
	cloudtest.WaitFor(t, func() bool { return strings.HasPrefix(f.status("w1").Message, "Callback not accepted after") })
	if n := hits.Load() - before; n != 1 {
		t.Fatalf("%d attempts after the restart past the window, want 1", n)
	}
	if st := f.status("w1"); st.Status != cloud.WaitForCallback {
		t.Fatalf("after giving up: %s", st.Status)
	}
}

func TestCallbackResumesAfterRestart(t *testing.T) {
	receiver, up, done := shopReceiver(t)
	cfg := Config{CallbackInitial: 10 * time.Millisecond, CallbackMax: 20 * time.Millisecond, CallbackFor: time.Minute}
	f := newFixture(t, cfg)
	f.printedAwaitingCallback("r1", receiver)
	sb := f.sb
	f.close()
	up.Store(true)
	cfg.Dir, cfg.Clock = f.dir, f.clock.Now
	f.open(cfg)
	if !sameSandbox(f.sb, sb) {
		t.Fatalf("sandbox changed on restart:\n%+v\n%+v", f.sb, sb)
	}
	select {
	case id := <-done:
		if id != "r1" {
			t.Fatalf("callback for %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("callback not resumed after restart")
	}
	cloudtest.WaitFor(t, func() bool { return f.status("r1").Status == cloud.Completed })
}

// shopReceiver is a shop's responseURL: it refuses every callback (502) until
// up is set, then takes each, sending its document's id on got.
func shopReceiver(t *testing.T) (url string, up *atomic.Bool, got <-chan string) {
	up = new(atomic.Bool)
	ids := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var st cloud.DocumentStatus
		json.NewDecoder(r.Body).Decode(&st)
		ids <- st.ID
	}))
	t.Cleanup(receiver.Close)
	return receiver.URL, up, ids
}

// printedAwaitingCallback posts document id with responseURL url, has the
// register lease it and report it printed, and waits until its callback is due.
func (f *fixture) printedAwaitingCallback(id, url string) {
	f.t.Helper()
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = id; m["responseURL"] = url }))
	c := f.client()
	if _, err := c.Lease(context.Background(), 0, 1); err != nil {
		f.t.Fatal(err)
	}
	if err := c.Report(context.Background(), []cloud.Result{{ID: id, Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		f.t.Fatal(err)
	}
	cloudtest.WaitFor(f.t, func() bool { return f.status(id).Status == cloud.WaitForCallback })
}

func sameSandbox(a, b Sandbox) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestRegisterStatus(t *testing.T) {
	f := newFixture(t, Config{Stale: time.Minute})
	ctx := context.Background()
	c := f.client()
	if st := f.pointStatus(); st.Status != cloud.Associated {
		t.Fatalf("before heartbeats: %+v", st)
	}
	other := f.sb.RetailPoints[1]
	code, data := f.call("GET", "/api/fn/v1/status", other.Login, other.Password, nil)
	if st := decode[cloud.PointStatus](t, data); code != 200 || st.Status != cloud.Disabled || st.Message == "" {
		t.Fatalf("point without a register: %+v", st)
	}
	h := cloud.Health{At: f.clock.Now(), Version: "test", CloudReachable: true, Drive: cloud.DriveHealth{Phase: "fiscal", RegNumber: "0000000001012345"}}
	if err := c.Heartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	if st := f.pointStatus(); st.Status != cloud.Ready || !st.DateTime.Equal(f.clock.Now()) {
		t.Fatalf("after a heartbeat: %+v", st)
	}
	if st := f.post(cloudtest.Doc(nil)); st.FNState != cloud.Ready {
		t.Fatalf("fnState %s", st.FNState)
	}
	p, err := c.Point(ctx)
	if err != nil || p.RegNumber != "0000000001012345" || p.INN != "7707083893" || p.ID != f.sb.RetailPointID || p.TaxSystems == 0 || p.Place == "" {
		t.Fatalf("point %+v %v", p, err)
	}
	seen := f.clock.Now()
	f.clock.Advance(time.Minute)
	if st := f.pointStatus(); st.Status != cloud.Ready {
		t.Fatalf("a minute on: %+v", st)
	}
	f.clock.Advance(time.Second)
	st := f.pointStatus()
	if st.Status != cloud.RegFailed || !strings.Contains(st.Message, "no contact since "+seen.Format(time.RFC3339)) {
		t.Fatalf("stale: %+v", st)
	}
	// Documents are still accepted while FAILED.
	if st := f.post(withID("while-failed")); st.Status != cloud.Queued || st.FNState != cloud.RegFailed {
		t.Fatalf("post while failed: %+v", st)
	}
	h.Stopped, h.StopReason = true, "4 documents failed registration in a row"
	if err := c.Heartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	if st := f.pointStatus(); st.Status != cloud.RegFailed || st.Message != h.StopReason {
		t.Fatalf("stopped: %+v", st)
	}
	h.Stopped, h.StopReason = false, ""
	if err := c.Heartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	if st := f.pointStatus(); st.Status != cloud.Ready {
		t.Fatalf("resumed: %+v", st)
	}
}

func TestLeaseExpiry(t *testing.T) {
	f := newFixture(t, Config{LeaseFor: time.Minute})
	ctx := context.Background()
	c := f.client()
	f.post(withID("e1"))
	other := f.sb.RetailPoints[1]
	if code, data := f.call("POST", "/api/fn/v2/doc", other.Login, other.Password, cloudtest.Doc(func(m map[string]any) { m["id"] = "o1"; m["taxMode"] = "SIMPLIFIED" })); code != 200 {
		t.Fatalf("other point: %d %s", code, data)
	}
	first, err := c.Lease(ctx, 0, 10)
	if err != nil || len(first) != 1 || first[0].ID != "e1" {
		t.Fatalf("first lease %+v %v", first, err)
	}
	f.clock.Advance(59 * time.Second)
	if again, err := c.Lease(ctx, 0, 10); err != nil || len(again) != 0 {
		t.Fatalf("lease while leased: %+v %v", again, err)
	}
	f.clock.Advance(time.Second)
	again, err := c.Lease(ctx, 0, 10)
	if err != nil || len(again) != 1 || again[0].ID != "e1" || !again[0].LeasedUntil.After(first[0].LeasedUntil) || string(again[0].Document) != string(first[0].Document) {
		t.Fatalf("re-lease %+v %v", again, err)
	}
	if st := f.status("e1"); st.Status != cloud.Pending {
		t.Fatalf("re-leased: %+v", st)
	}
	// The other point's document stays QUEUED: it has no register.
	code, data := f.call("GET", "/api/fn/v1/doc/o1/status", other.Login, other.Password, nil)
	if st := decode[cloud.DocumentStatus](t, data); code != 200 || st.Status != cloud.Queued || st.FNState != cloud.Disabled {
		t.Fatalf("other point's document: %d %s", code, data)
	}
}

// A restarted register takes its open leases back page by page, each page
// after the last one's document; a normal lease passes running leases over.
func TestResumeLeasePages(t *testing.T) {
	f := newFixture(t, Config{LeaseFor: time.Minute})
	ctx := context.Background()
	c := f.client()
	for _, id := range []string{"r1", "r2", "r3", "r4", "r5"} {
		f.post(withID(id))
	}
	if got, err := c.Lease(ctx, 0, 10); err != nil || len(got) != 5 {
		t.Fatalf("first lease %+v %v", got, err)
	}
	f.post(withID("r6"))
	ids := func(ls []cloud.Lease) string {
		var out []string
		for _, l := range ls {
			out = append(out, l.ID)
		}
		return strings.Join(out, " ")
	}
	after := ""
	var pages []string
	for range 4 {
		page, err := c.Resume(ctx, 0, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, ids(page))
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if got := strings.Join(pages, " | "); got != "r1 r2 | r3 r4 | r5 r6 | " {
		t.Fatalf("resume pages %q, want \"r1 r2 | r3 r4 | r5 r6 | \"", got)
	}
	f.post(withID("r7"))
	if got, err := c.Lease(ctx, 0, 10); err != nil || ids(got) != "r7" {
		t.Fatalf("lease after the resume: %q %v, want r7 alone", ids(got), err)
	}
	f.clock.Advance(time.Minute)
	if got, err := c.Lease(ctx, 0, 10); err != nil || ids(got) != "r1 r2 r3 r4 r5 r6 r7" {
		t.Fatalf("lease once all expired: %q %v", ids(got), err)
	}
}

func TestLongPollWakesOnExpiry(t *testing.T) {
	f := newFixture(t, Config{LeaseFor: 300 * time.Millisecond, Clock: time.Now})
	ctx := context.Background()
	c := f.client()
	f.post(withID("x1"))
	first, err := c.Lease(ctx, 0, 10)
	if err != nil || len(first) != 1 {
		t.Fatalf("lease %+v %v", first, err)
	}
	start := time.Now()
	again, err := c.Lease(ctx, 10*time.Second, 10)
	d := time.Since(start)
	if err != nil || len(again) != 1 || again[0].ID != "x1" {
		t.Fatalf("long-poll over an expiring lease: %+v %v", again, err)
	}
	if d < 200*time.Millisecond || d > 3*time.Second {
		t.Fatalf("re-leased after %v, want about 300 ms", d)
	}
}

func TestLongPoll(t *testing.T) {
	f := newFixture(t, Config{MaxWait: 400 * time.Millisecond})
	ctx := context.Background()
	c := f.client()
	start := time.Now()
	if l, err := c.Lease(ctx, 30*time.Second, 16); err != nil || len(l) != 0 {
		t.Fatalf("idle long-poll: %+v %v", l, err)
	}
	if d := time.Since(start); d < 350*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle long-poll took %v, want MaxWait 400 ms", d)
	}
	f2 := newFixture(t, Config{})
	c2 := f2.client()
	done := make(chan []cloud.Lease, 1)
	start = time.Now()
	go func() {
		l, err := c2.Lease(ctx, 20*time.Second, 16)
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	time.Sleep(100 * time.Millisecond)
	f2.post(withID("wake"))
	select {
	case l := <-done:
		if len(l) != 1 || l[0].ID != "wake" {
			t.Fatalf("woken lease %+v", l)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("woke after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll not woken by a post")
	}
	var se *cloud.StatusError
	if _, err := c2.Lease(ctx, -time.Second, 1); !errors.As(err, &se) || se.Code != 400 || se.Field != "wait" {
		t.Fatalf("negative wait: %v", err)
	}
}

func TestDeviceBodies(t *testing.T) {
	f := newFixture(t, Config{})
	for _, path := range []string{"/api/device/v1/results", "/api/device/v1/heartbeat"} {
		for _, c := range []struct {
			body []byte
			code int
		}{{[]byte("{"), 400}, {[]byte(`{"results": 5}`), 400}, {bytes.Repeat([]byte(" "), maxBody+1), 413}} {
			req, _ := http.NewRequest("POST", f.http.URL+path, bytes.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+f.sb.RegisterToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.code && !(path == "/api/device/v1/heartbeat" && c.code == 400 && resp.StatusCode == 200) {
				t.Errorf("%s with %.10q: HTTP %d, want %d", path, c.body, resp.StatusCode, c.code)
			}
		}
	}
}

func TestSandboxIdempotent(t *testing.T) {
	f := newFixture(t, Config{})
	sb, err := f.srv.Sandbox()
	if err != nil || !sameSandbox(sb, f.sb) {
		t.Fatalf("second Sandbox differs: %+v %v", sb, err)
	}
	if len(sb.RetailPoints) != 2 || sb.RetailPoints[0].ID != sb.RetailPointID || sb.RetailPoints[0].Login != sb.Login ||
		sb.RetailPoints[0].ID == sb.RetailPoints[1].ID || sb.RegisterToken == "" || sb.CabinetPassword == "" {
		t.Fatalf("sandbox %+v", sb)
	}
	b, _ := json.Marshal(sb)
	for _, k := range []string{`"login"`, `"password"`, `"retailPointId"`, `"cabinetLogin"`, `"cabinetPassword"`, `"retailPoints"`, `"registerToken"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("sandbox JSON lacks %s: %s", k, b)
		}
	}
}

func TestPrintedWhileCallbackInFlight(t *testing.T) {
	release := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer receiver.Close()
	f := newFixture(t, Config{CallbackInitial: 10 * time.Millisecond})
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "p1"; m["responseURL"] = receiver.URL }))
	c := f.client()
	if _, err := c.Lease(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(context.Background(), []cloud.Result{{ID: "p1", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	if st := f.status("p1"); st.Status != cloud.Printed || st.FiscalInfo == nil {
		t.Fatalf("while the first callback is in flight: %+v", st)
	}
	close(release)
	cloudtest.WaitFor(t, func() bool { return f.status("p1").Status == cloud.Completed })
}

// Callbacks to one shop that run side by side keep their connections for the
// next ones, rather than each dialling anew.
func TestCallbacksKeepConnections(t *testing.T) {
	const side = 16
	var mu sync.Mutex
	arrived, conns := 0, 0
	round := make(chan struct{})
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Each round's callbacks are answered together, so that all are in flight at once.
		mu.Lock()
		if arrived++; arrived%side == 0 {
			close(round)
			round = make(chan struct{})
			mu.Unlock()
			return
		}
		wait := round
		mu.Unlock()
		select {
		case <-wait:
		case <-time.After(5 * time.Second):
		}
	}))
	receiver.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	receiver.Start()
	defer receiver.Close()
	f := newFixture(t, Config{})
	c := f.client()
	ctx := context.Background()
	for r := range 3 {
		var res []cloud.Result
		for i := range side {
			id := fmt.Sprintf("r%d-%d", r, i)
			f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = id; m["responseURL"] = receiver.URL }))
			res = append(res, cloud.Result{ID: id, Status: cloud.Printed, FiscalInfo: fiscalInfo(r*side + i + 1)})
		}
		if leases, err := c.Lease(ctx, 0, side); err != nil || len(leases) != side {
			t.Fatalf("round %d: %d leases, %v", r, len(leases), err)
		}
		if err := c.Report(ctx, res); err != nil {
			t.Fatal(err)
		}
		for _, x := range res {
			cloudtest.WaitFor(t, func() bool { return f.status(x.ID).Status == cloud.Completed })
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != side {
		t.Fatalf("%d connections for 3 rounds of %d callbacks side by side, want %d", conns, side, side)
	}
}
