//go:build linux

package nodes

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// balancer is the load balancer in front of the nodes: each connection goes
// to the first node, or to the second when the first refuses it — what a
// load balancer with a passive health check does. Connections are kept and
// reused, as a balancer's are.
type balancer struct {
	*httptest.Server
	transport *http.Transport

	mu            sync.Mutex
	first, second string         // host:port
	dials         map[string]int // connections made, by node host:port

	// trap, when set, sees each answer to a lease with the node that gave it
	// (host:port); an error it returns is what the register gets instead: 502.
	trap atomic.Pointer[func(node string, resp *http.Response) error]
}

// servedBy is where the proxy notes the node a request went to.
type servedBy struct{ node atomic.Value }

type servedByKey struct{}

func newBalancer(t *testing.T, first, second string) *balancer {
	t.Helper()
	lb := &balancer{first: hostPort(t, first), second: hostPort(t, second), dials: map[string]int{}}
	var d net.Dialer
	lb.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			lb.mu.Lock()
			first, second := lb.first, lb.second
			lb.mu.Unlock()
			c, err := d.DialContext(ctx, network, first)
			if errors.Is(err, syscall.ECONNREFUSED) {
				c, err = d.DialContext(ctx, network, second)
			}
			if err == nil {
				lb.mu.Lock()
				lb.dials[c.RemoteAddr().String()]++
				lb.mu.Unlock()
			}
			return c, err
		},
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "nodes"})
			sb := &servedBy{}
			ctx := context.WithValue(r.Out.Context(), servedByKey{}, sb)
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				sb.node.Store(info.Conn.RemoteAddr().String())
			}})
			r.Out = r.Out.WithContext(ctx)
		},
		ModifyResponse: func(resp *http.Response) error {
			trap := lb.trap.Load()
			if trap == nil || resp.Request.URL.Path != "/api/device/v1/lease" {
				return nil
			}
			node, _ := resp.Request.Context().Value(servedByKey{}).(*servedBy).node.Load().(string)
			return (*trap)(node, resp)
		},
		Transport: lb.transport,
		// A node killed under a request answers the register 502, as a real
		// balancer would; the register tries again.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	lb.Server = httptest.NewServer(proxy)
	t.Cleanup(func() {
		lb.Server.CloseClientConnections()
		lb.Server.Close()
		lb.transport.CloseIdleConnections()
	})
	return lb
}

// setFirst makes the node at url the one new connections go to first.
func (lb *balancer) setFirst(t *testing.T, url string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.first = hostPort(t, url)
}

// dialsTo is how many connections the balancer has made to the node at url.
func (lb *balancer) dialsTo(t *testing.T, url string) int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.dials[hostPort(t, url)]
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("node URL %q: %v", raw, err)
	}
	return u.Host
}

// shop is a shop's client of the shop API, with the sandbox's integration pair.
type shop struct {
	login, password string
	hc              *http.Client
}

func newShop(login, password string) *shop {
	return &shop{login: login, password: password, hc: &http.Client{Timeout: 15 * time.Second}}
}

// docBody is a valid shop document with the id and the edits given.
func docBody(id string, edit func(m map[string]any)) []byte {
	return cloudtest.Doc(func(m map[string]any) {
		m["id"] = id
		if edit != nil {
			edit(m)
		}
	})
}

// post sends a document to the node at base; the answer's code and body.
func (s *shop) post(base string, body []byte) (int, cloud.DocumentStatus, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/fn/v2/doc", bytes.NewReader(body))
	if err != nil {
		return 0, cloud.DocumentStatus{}, err
	}
	req.SetBasicAuth(s.login, s.password)
	req.Header.Set("Content-Type", "application/json")
	return s.do(req)
}

// postRetrying posts until a node answers 200, as a shop behind a balancer
// does: a document's id makes a post safe to repeat. A connection that fails
// or a 502 or 503 is tried again for up to 15 s; any other answer fails t.
func (s *shop) postRetrying(t *testing.T, base string, body []byte) (cloud.DocumentStatus, int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for tries := 1; ; tries++ {
		code, st, err := s.post(base, body)
		switch {
		case err == nil:
			return st, tries
		case code != 0 && code != http.StatusBadGateway && code != http.StatusServiceUnavailable:
			t.Fatal(err)
		case time.Now().After(deadline):
			t.Fatalf("no node took the post in 15 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// status asks the node at base where document id stands.
func (s *shop) status(base, id string) (int, cloud.DocumentStatus, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/fn/v1/doc/"+url.PathEscape(id)+"/status", nil)
	if err != nil {
		return 0, cloud.DocumentStatus{}, err
	}
	req.SetBasicAuth(s.login, s.password)
	return s.do(req)
}

func (s *shop) do(req *http.Request) (int, cloud.DocumentStatus, error) {
	var st cloud.DocumentStatus
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, st, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, st, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, st, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return resp.StatusCode, st, fmt.Errorf("%s %s: %v: %s", req.Method, req.URL.Path, err, b)
	}
	return resp.StatusCode, st, nil
}

// mustPost posts and fails t unless the node answers 200.
func (s *shop) mustPost(t *testing.T, base string, body []byte) cloud.DocumentStatus {
	t.Helper()
	_, st, err := s.post(base, body)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// awaitCompleted polls the node at base every 20 ms until each of ids is
// COMPLETED, for up to within. It returns the statuses of those COMPLETED
// and the last status of each of the others. A document that ends FAILED
// fails t at once.
func (s *shop) awaitCompleted(t *testing.T, base string, within time.Duration, ids ...string) (done, waiting map[string]cloud.DocumentStatus) {
	t.Helper()
	done, waiting = map[string]cloud.DocumentStatus{}, map[string]cloud.DocumentStatus{}
	deadline := time.Now().Add(within)
	for {
		for _, id := range ids {
			if _, ok := done[id]; ok {
				continue
			}
			_, st, err := s.status(base, id)
			switch {
			case err != nil:
				waiting[id] = cloud.DocumentStatus{Message: err.Error()}
			case st.Status == cloud.Completed:
				done[id] = st
				delete(waiting, id)
			case st.Status == cloud.Failed:
				t.Fatalf("document %s FAILED: %s (%+v)", id, st.Message, st.FailureInfo)
			default:
				waiting[id] = st
			}
		}
		if len(done) == len(ids) || time.Now().After(deadline) {
			return done, waiting
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cabinet is the owner's cabinet, logged in; its session is in the shared
// store, so it works on every node.
type cabinet struct {
	hc *http.Client
}

// loginCabinet logs in to the cabinet at base as a browser would: the log-in
// page sets the form's CSRF cookie, the form posts it back.
func loginCabinet(t *testing.T, base, login, password string) *cabinet {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := hc.Get(base + "/cabinet/login")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	page, _ := url.Parse(base + "/cabinet/login")
	var csrf string
	for _, c := range jar.Cookies(page) {
		if c.Name == "kassa_login_csrf" {
			csrf = c.Value
		}
	}
	if csrf == "" {
		t.Fatalf("GET /cabinet/login: %d, no CSRF cookie", resp.StatusCode)
	}
	resp, err = hc.PostForm(base+"/cabinet/login", url.Values{"login": {login}, "password": {password}, "csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/cabinet/registers") {
		t.Fatalf("cabinet log-in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, tail(string(b), 2000))
	}
	return &cabinet{hc: hc}
}

// csvDoc is one row of the cabinet's documents.csv.
type csvDoc struct {
	ID, State, FD string
}

// documents is the cabinet's list of every document (documents.csv), read
// from the node at base.
func (c *cabinet) documents(t *testing.T, base string) []csvDoc {
	t.Helper()
	resp, err := c.hc.Get(base + "/cabinet/documents.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /cabinet/documents.csv: %d\n%s", resp.StatusCode, tail(string(b), 2000))
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("documents.csv: %v\n%s", err, tail(string(b), 2000))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	iID, ok1 := col["ID магазина"]
	iState, ok2 := col["Состояние"]
	iFD, ok3 := col["ФД"]
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("documents.csv: no ID, state or FD column in %q", rows[0])
	}
	var out []csvDoc
	for _, row := range rows[1:] {
		if len(row) <= max(iID, iState, iFD) {
			t.Fatalf("documents.csv: short row %q", row)
		}
		out = append(out, csvDoc{ID: strings.TrimPrefix(row[iID], "'"), State: row[iState], FD: row[iFD]})
	}
	return out
}

// callbackSink is the shop's endpoint for responseURL: it counts the calls
// per document id and answers 200, after hold for the ids held.
type callbackSink struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]callbackCall
	hold  map[string]chan struct{} // a call for this id is answered once the channel closes
}

type callbackCall struct {
	at     time.Time
	status cloud.DocumentStatus
}

func newCallbackSink(t *testing.T) *callbackSink {
	s := &callbackSink{calls: map[string][]callbackCall{}, hold: map[string]chan struct{}{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st cloud.DocumentStatus
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &st); err != nil || st.ID == "" {
			t.Errorf("callback with a body that is not a DocumentStatus with an id: %v: %s", err, b)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.calls[st.ID] = append(s.calls[st.ID], callbackCall{at: time.Now(), status: st})
		hold := s.hold[st.ID]
		s.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// holdCalls has the calls for id wait for release before their answer.
func (s *callbackSink) holdCalls(id string, release chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold[id] = release
}

// callsFor returns the calls for id so far.
func (s *callbackSink) callsFor(id string) []callbackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]callbackCall(nil), s.calls[id]...)
}
