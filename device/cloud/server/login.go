package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// loginGuard slows down password guessing on the cabinet's log-in form and on
// associate without locking the owner out. Each login and source (client
// address) pair gets LoginAttempts failures free, then must wait a delay that
// doubles with each further failure; a success clears it. Each source also
// draws every attempt, whatever its login, from a token bucket, so that trying
// many logins from one address is slow too. There is no budget per login
// alone: an attacker elsewhere could spend it and lock the owner out.
type loginGuard struct {
	free     int           // failures per pair before the delays start
	delay    time.Duration // the first delay; doubled per failure
	maxDelay time.Duration
	window   time.Duration // a pair's failures are forgotten this long after its last
	every    rate.Limit    // a source's attempts refill at this rate
	burst    int

	mu      sync.Mutex
	pairs   map[string]*pairFailures
	sources map[string]*rate.Limiter
}

type pairFailures struct {
	failures int
	last     time.Time // the last failure
	until    time.Time // no attempt before
}

// maxGuarded bounds the pairs and the sources the guard remembers; past it
// the oldest state is dropped by sweep, and, until then, new keys start afresh.
const maxGuarded = 100_000

func newLoginGuard(cfg Config) *loginGuard {
	return &loginGuard{free: cfg.LoginAttempts, delay: cfg.LoginDelay, maxDelay: cfg.LoginMaxDelay,
		window: cfg.LoginWindow, every: rate.Every(cfg.SourceEvery), burst: cfg.SourceBurst,
		pairs: map[string]*pairFailures{}, sources: map[string]*rate.Limiter{}}
}

func pairKey(login, source string) string { return login + "\x00" + source }

// allow reports how long the attempt must wait (0: go ahead, and the
// source's bucket has paid for it).
func (g *loginGuard) allow(now time.Time, login, source string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.pairs[pairKey(login, source)]; b != nil && now.Before(b.until) {
		return b.until.Sub(now)
	}
	src := sourceKey(source)
	lim := g.sources[src]
	if lim == nil {
		if len(g.sources) >= maxGuarded {
			src = "" // past the bound, the newcomers share one bucket until sweep
			lim = g.sources[src]
		}
		if lim == nil {
			lim = rate.NewLimiter(g.every, g.burst)
			g.sources[src] = lim
		}
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// fail counts a wrong password and returns the delay it starts (0: none yet).
func (g *loginGuard) fail(now time.Time, login, source string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := pairKey(login, source)
	b := g.pairs[k]
	if b == nil || now.Sub(b.last) > g.window {
		b = &pairFailures{}
		if len(g.pairs) < maxGuarded {
			g.pairs[k] = b
		}
	}
	b.failures++
	b.last = now
	if b.failures < g.free {
		return 0
	}
	d := g.delay
	for i := g.free; i < b.failures && d < g.maxDelay; i++ {
		d *= 2
	}
	d = min(d, g.maxDelay)
	b.until = now.Add(d)
	return d
}

// succeed forgets the pair's failures.
func (g *loginGuard) succeed(login, source string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.pairs, pairKey(login, source))
}

// sweep drops the pairs whose failures are forgotten and the sources whose
// bucket is full again.
func (g *loginGuard) sweep(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, b := range g.pairs {
		if now.Sub(b.last) > g.window && !now.Before(b.until) {
			delete(g.pairs, k)
		}
	}
	for k, lim := range g.sources {
		if lim.TokensAt(now) >= float64(g.burst) {
			delete(g.sources, k)
		}
	}
}

// sourceKey is the bucket of a client address: the address, or for IPv6 its
// /64, since one subscriber commonly holds a whole /64.
func sourceKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// peerTrusted says whether the request's peer is one of Config.TrustedProxies.
func (s *Server) peerTrusted(r *http.Request) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr())
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request came from: its peer's, or, when the peer
// is a trusted proxy, the right-most address of X-Forwarded-For that is not a
// trusted proxy (the ones left of it are the client's word, and a client can
// write anything there).
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.peerTrusted(r) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host // a hop we cannot read: stop trusting the chain there
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
	}
	return host
}

// viaTLS says whether the client reached us over TLS: directly, or through a
// trusted proxy that says so in X-Forwarded-Proto.
func (s *Server) viaTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.peerTrusted(r) {
		return false
	}
	protos := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ",")
	return strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
}

// errBusy: too many password checks wait already; the client should come back.
var errBusy = errors.New("cloud: too many log-ins being checked")

// maxHashWaiting bounds the requests that wait for a password check.
const maxHashWaiting = 32

// hashing lets a few bcrypt computations run at once, so that a flood of
// log-ins takes at most that many cores from the shops' posts.
type hashing struct {
	slots   chan struct{}
	waiting atomic.Int32
}

func (h *hashing) do(ctx context.Context, f func()) error {
	if h.waiting.Add(1) > maxHashWaiting {
		h.waiting.Add(-1)
		return errBusy
	}
	select {
	case h.slots <- struct{}{}:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	f()
	return nil
}

// checkPassword reports whether pass is the cabinet account's password, with
// the account. It compares outside any call to the store: a bcrypt
// comparison takes tens of milliseconds and must hold up no writer.
// An unknown login is compared against a dummy hash of the same cost as the
// accounts', so timing does not tell logins apart; an account whose hash has
// another cost gets it rehashed at the configured cost on its next log-in.
func (s *Server) checkPassword(ctx context.Context, login, pass string) (storage.Account, bool, error) {
	a, err := s.store.Account(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return a, false, err
	}
	real := found && len(a.PasswordHash) > 0
	hash := a.PasswordHash
	if !real {
		hash = s.dummyHash()
	}
	var ok bool
	var rehash []byte
	err = s.hashing.do(ctx, func() {
		ok = bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil && real
		if c, err := bcrypt.Cost(hash); ok && err == nil && c != s.cfg.PasswordCost {
			rehash, _ = bcrypt.GenerateFromPassword([]byte(pass), s.cfg.PasswordCost)
		}
	})
	if err != nil || !ok {
		return a, false, err
	}
	if rehash != nil {
		// Changed meanwhile (ErrConflict): leave it.
		err := s.store.SetPasswordHash(ctx, login, a.PasswordHash, rehash)
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			s.log.Warn("cloud: rehashing the cabinet password", "login", login, "err", err)
		} else if err == nil {
			a.PasswordHash = rehash
		}
	}
	return a, true, nil
}
