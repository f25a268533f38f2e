package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"golang.org/x/crypto/bcrypt"
)

// attempt calls associate as login from the given X-Forwarded-For (none: "").
func (f *fixture) attempt(login, pass, forwardedFor string) (int, http.Header) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.http.URL+"/api/fn/v1/associate/"+f.sb.RetailPointID, nil)
	req.SetBasicAuth(login, pass)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// TestAssociateLimited: associate takes the cabinet's password and is limited
// as the log-in form is; the thirty-first guess, right or not, waits.
func TestAssociateLimited(t *testing.T) {
	f := newFixture(t, Config{})
	for i := range 30 {
		code, _ := f.attempt(f.sb.CabinetLogin, fmt.Sprint("guess", i), "")
		if want := http.StatusUnauthorized; i >= 5 {
			if code != http.StatusTooManyRequests {
				t.Fatalf("guess %d: HTTP %d, want 429", i, code)
			}
		} else if code != want {
			t.Fatalf("guess %d: HTTP %d, want %d", i, code, want)
		}
	}
	code, h := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, "")
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Fatalf("right password after 30 guesses: HTTP %d Retry-After %q, want 429 and 2", code, h.Get("Retry-After"))
	}
	f.clock.Advance(2 * time.Second)
	if code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, ""); code != http.StatusOK {
		t.Fatalf("right password after the delay: HTTP %d", code)
	}
}

// TestLoginBackoff: each failure past the free ones doubles the delay, up to
// the cap; a success clears it. Nothing locks for a fixed window.
func TestLoginBackoff(t *testing.T) {
	f := newFixture(t, Config{LoginAttempts: 2, LoginDelay: time.Second, LoginMaxDelay: 8 * time.Second})
	login := f.sb.CabinetLogin
	for i, want := range []string{"", "1", "2", "4", "8", "8"} {
		code, _ := f.attempt(login, "wrong", "")
		if code != http.StatusUnauthorized {
			t.Fatalf("failure %d: HTTP %d", i, code)
		}
		if want == "" {
			continue
		}
		code, h := f.attempt(login, f.sb.CabinetPassword, "")
		if code != http.StatusTooManyRequests || h.Get("Retry-After") != want {
			t.Fatalf("after failure %d: HTTP %d Retry-After %q, want 429 and %s", i, code, h.Get("Retry-After"), want)
		}
		d, _ := strconv.Atoi(want)
		f.clock.Advance(time.Duration(d) * time.Second)
	}
	if code, _ := f.attempt(login, f.sb.CabinetPassword, ""); code != http.StatusOK {
		t.Fatalf("right password after the delay: HTTP %d", code)
	}
	if code, _ := f.attempt(login, "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("a failure after a success: HTTP %d, want 401 (counting afresh)", code)
	}
}

// TestNoOwnerLockout: an attacker's failures on the owner's login, from
// elsewhere, never refuse the owner; behind a trusted proxy the client is
// X-Forwarded-For's, and from anyone else that header is not believed.
func TestNoOwnerLockout(t *testing.T) {
	f := newFixture(t, Config{TrustedProxies: loopbackProxy})
	for i := range 30 {
		if code, _ := f.attempt(f.sb.CabinetLogin, "guess", "203.0.113.7"); code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("guess %d: HTTP %d", i, code)
		}
	}
	if code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, "198.51.100.1"); code != http.StatusOK {
		t.Fatalf("owner from another address: HTTP %d, want 200", code)
	}
	// The cabinet's form: the same.
	o := f.owner()
	for range 10 {
		o.get("/cabinet/login")
		form := url.Values{"login": {f.sb.CabinetLogin}, "password": {"guess"}, "csrf": {o.csrf}}
		req, _ := http.NewRequest("POST", f.http.URL+"/cabinet/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "198.51.100.9, 203.0.113.7") // the client wrote the first
		o.do(req)
	}
	o.mustLogin() // from 127.0.0.1 itself
	// A proxy chain: the client is the right-most hop that is not a trusted proxy.
	for _, c := range []struct{ xff, want string }{
		{"", "127.0.0.1"}, {"203.0.113.7", "203.0.113.7"}, {"1.2.3.4, 203.0.113.7", "203.0.113.7"},
		{"203.0.113.7, 127.0.0.2", "203.0.113.7"}, {"garbage", "127.0.0.1"}, {"::ffff:203.0.113.7", "203.0.113.7"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := f.srv.clientAddr(r); got != c.want {
			t.Errorf("X-Forwarded-For %q: client %s, want %s", c.xff, got, c.want)
		}
	}

	// Without trusted proxies a client cannot pick its address.
	g := newFixture(t, Config{})
	for i := range 6 {
		code, _ := g.attempt(g.sb.CabinetLogin, "guess", fmt.Sprintf("203.0.113.%d", i))
		if want := http.StatusUnauthorized; i == 5 && code != http.StatusTooManyRequests || i < 5 && code != want {
			t.Fatalf("guess %d with a forged X-Forwarded-For: HTTP %d", i, code)
		}
	}
}

// TestLoginSourceBucket: one source trying many logins is slowed by its bucket.
func TestLoginSourceBucket(t *testing.T) {
	f := newFixture(t, Config{SourceBurst: 4, SourceEvery: 10 * time.Second})
	for i := range 4 {
		if code, _ := f.attempt(fmt.Sprint("login", i), "x", ""); code != http.StatusUnauthorized {
			t.Fatalf("login %d: HTTP %d", i, code)
		}
	}
	if code, h := f.attempt("login9", "x", ""); code != http.StatusTooManyRequests || h.Get("Retry-After") != "10" {
		t.Fatalf("fifth login from one source: HTTP %d Retry-After %q", code, h.Get("Retry-After"))
	}
	f.clock.Advance(10 * time.Second)
	if code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, ""); code != http.StatusOK {
		t.Fatalf("after the refill: HTTP %d", code)
	}
}

// TestDummyHashCost: an unknown login is compared against a hash of the same
// cost as the accounts', so it takes as long as a known login's wrong password;
// an account hashed at another cost is rehashed on its next log-in.
func TestDummyHashCost(t *testing.T) {
	const cost = bcrypt.MinCost + 1
	f := newFixture(t, Config{PasswordCost: cost})
	var a storage.Account
	read := func() {
		t.Helper()
		var err error
		if a, err = f.srv.store.Account(context.Background(), f.sb.CabinetLogin); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if c, _ := bcrypt.Cost(a.PasswordHash); c != cost {
		t.Fatalf("the sandbox account's cost %d, want %d", c, cost)
	}
	if c, _ := bcrypt.Cost(f.srv.dummyHash()); c != cost {
		t.Fatalf("the dummy hash's cost %d, want %d", c, cost)
	}
	// An account from an older file, hashed cheaper.
	a.PasswordHash, _ = bcrypt.GenerateFromPassword([]byte(f.sb.CabinetPassword), bcrypt.MinCost)
	if err := f.srv.store.PutAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.attempt(f.sb.CabinetLogin, "wrong", ""); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d", code)
	}
	if read(); !bytes.Equal(a.PasswordHash, a.PasswordHash) || mustCost(t, a.PasswordHash) != bcrypt.MinCost {
		t.Fatal("a wrong password rehashed the account")
	}
	if code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, ""); code != http.StatusOK {
		t.Fatalf("right password: HTTP %d", code)
	}
	if read(); mustCost(t, a.PasswordHash) != cost {
		t.Fatalf("after a log-in the account's cost is %d, want %d", mustCost(t, a.PasswordHash), cost)
	}
	if code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, ""); code != http.StatusOK {
		t.Fatalf("right password, rehashed: HTTP %d", code)
	}
}

func mustCost(t *testing.T, h []byte) int {
	t.Helper()
	c, err := bcrypt.Cost(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPasswordCheckHoldsNoWriter: while associate waits for or runs its bcrypt
// comparison, the cloud's writes to its store go on.
func TestPasswordCheckHoldsNoWriter(t *testing.T) {
	f := newFixture(t, Config{})
	for range cap(f.srv.hashing.slots) {
		f.srv.hashing.slots <- struct{}{} // every comparison slot taken: associate waits in its check
	}
	done := make(chan int)
	go func() {
		code, _ := f.attempt(f.sb.CabinetLogin, f.sb.CabinetPassword, "")
		done <- code
	}()
	cloudtest.WaitFor(t, func() bool { return f.srv.hashing.waiting.Load() == 1 })
	wrote := make(chan error)
	go func() {
		wrote <- f.srv.store.PutSession(context.Background(), "probe", storage.Session{Login: "nobody"})
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to the store waited for associate's password check")
	}
	f.post(withID("during-the-check"))
	for range cap(f.srv.hashing.slots) {
		<-f.srv.hashing.slots
	}
	if code := <-done; code != http.StatusOK {
		t.Fatalf("associate: HTTP %d", code)
	}
}

// BenchmarkShopPostDuringLoginFlood measures the shops' posts, alone and while
// four loops guess the cabinet's password, or unknown logins', from ever new addresses behind a
// trusted proxy (so that no limit refuses them before bcrypt does), at bcrypt's
// default cost. It reports the median post in ms (post-ms).
func BenchmarkShopPostDuringLoginFlood(b *testing.B) {
	for _, flood := range []bool{false, true} {
		b.Run(map[bool]string{false: "quiet", true: "flood"}[flood], func(b *testing.B) {
			f := newBenchFixture(b, Config{PasswordCost: bcrypt.DefaultCost, TrustedProxies: loopbackProxy})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			seed := uint64(time.Now().UnixNano())
			if s := os.Getenv("KASSA_SEED"); s != "" {
				seed, _ = strconv.ParseUint(s, 10, 64)
			}
			b.Logf("seed %d (KASSA_SEED replays it)", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			var rngMu sync.Mutex
			for range 4 {
				if !flood {
					break
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						rngMu.Lock()
						addr := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256))
						login := f.sb.CabinetLogin // half known with a wrong password, half unknown
						if rng.IntN(2) == 0 {
							login = "nobody-" + addr
						}
						rngMu.Unlock()
						req, _ := http.NewRequestWithContext(ctx, "POST", f.http.URL+"/api/fn/v1/associate/"+f.sb.RetailPointID, nil)
						req.SetBasicAuth(login, "guess")
						req.Header.Set("X-Forwarded-For", addr)
						if resp, err := http.DefaultClient.Do(req); err == nil {
							resp.Body.Close()
						}
					}
				}()
			}
			time.Sleep(100 * time.Millisecond)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				req, _ := http.NewRequest("POST", f.http.URL+"/api/fn/v2/doc", bytes.NewReader(withID(fmt.Sprint("bench-", i))))
				req.SetBasicAuth(f.sb.Login, f.sb.Password)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("post: HTTP %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "post-ms")
		})
	}
}

// newBenchFixture is newFixture for a benchmark: a server and its sandbox on loopback.
func newBenchFixture(b *testing.B, cfg Config) *fixture {
	b.Helper()
	f := &fixture{clock: newClock(), dir: b.TempDir()}
	cfg.Dir, cfg.Clock = f.dir, f.clock.Now
	srv, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if f.sb, err = srv.Sandbox(); err != nil {
		b.Fatal(err)
	}
	f.srv, f.http = srv, httptest.NewServer(srv.Handler())
	b.Cleanup(func() { f.http.Close(); srv.Close() })
	return f
}

// TestSecureBehindProxy: behind a trusted TLS proxy the cabinet's cookies are
// Secure; anyone else's X-Forwarded-Proto is not believed.
func TestSecureBehindProxy(t *testing.T) {
	secure := func(f *fixture, proto string) bool {
		t.Helper()
		req, _ := http.NewRequest("GET", f.http.URL+"/cabinet/login", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cs := resp.Cookies()
		if len(cs) == 0 {
			t.Fatal("no cookie")
		}
		return cs[0].Secure
	}
	behind := newFixture(t, Config{TrustedProxies: loopbackProxy})
	if !secure(behind, "https") || secure(behind, "http") || secure(behind, "") || !secure(behind, "http, https") {
		t.Fatal("behind a trusted proxy: Secure does not follow X-Forwarded-Proto")
	}
	direct := newFixture(t, Config{})
	if secure(direct, "https") {
		t.Fatal("an untrusted peer's X-Forwarded-Proto made the cookie Secure")
	}
}

// BenchmarkPasswordCheck times checkPassword at bcrypt's default cost for an
// unknown login and for a known one with a wrong password: the two must take
// the same time (ms/check), or timing tells which logins exist.
func BenchmarkPasswordCheck(b *testing.B) {
	f := newBenchFixture(b, Config{PasswordCost: bcrypt.DefaultCost})
	for _, c := range []struct{ name, login string }{{"unknown", "nobody"}, {"known-wrong", f.sb.CabinetLogin}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if _, ok, err := f.srv.checkPassword(context.Background(), c.login, "wrong"); ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/check")
		})
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7": "203.0.113.7", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::99": "2001:db8:1:2::/64",
		"::ffff:203.0.113.7": "::ffff:203.0.113.7", "garbage": "garbage",
	} {
		if got := sourceKey(in); got != want {
			t.Errorf("sourceKey(%s) = %s, want %s", in, got, want)
		}
	}
}
