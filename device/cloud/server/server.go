package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/boltstore"
	"golang.org/x/crypto/bcrypt"
)

// Config configures a Server. Zero fields take the defaults named on them.
type Config struct {
	// Store keeps the cloud's state; nil: the embedded bbolt store, cloud.db
	// in Dir. The server closes a store it opened, never one it was given.
	Store  storage.Store
	Dir    string           // where cloud.db lives; required without Store
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default discards
	Client *http.Client     // for callbacks and webhooks; default outboundClient(AllowPrivateTargets)
	// AllowPrivateTargets lets callbacks and webhooks reach loopback, private
	// and link-local addresses: the sandbox's shops run beside it. A hosted
	// cloud leaves it off, or a shop's responseURL could make it probe the
	// networks behind it.
	AllowPrivateTargets bool
	Rand                io.Reader // for credentials and ids; default crypto/rand

	CallbackInitial time.Duration // first retry of a refused callback; default 1 s
	CallbackMax     time.Duration // longest pause between retries; default 5 min
	CallbackFor     time.Duration // give up after; default 24 h

	Stale    time.Duration // a register silent this long is FAILED; default 60 s
	LeaseFor time.Duration // a lease not reported within this goes back to the queue; default 2 min
	MaxWait  time.Duration // the longest long-poll; default 30 s

	// The owner's cabinet.
	PasswordCost int           // bcrypt cost of the cabinet password; default bcrypt.DefaultCost
	SessionFor   time.Duration // a cabinet session lasts; default 12 h

	// Password guessing, on the cabinet's log-in and on associate (see loginGuard).
	LoginAttempts int           // failures per login and source before the delays start; default 5
	LoginDelay    time.Duration // the first delay, doubled with each further failure; default 2 s
	LoginMaxDelay time.Duration // default 15 min
	LoginWindow   time.Duration // a login and source's failures are forgotten this long after the last; default 1 h
	SourceEvery   time.Duration // one source's log-in attempts, any login, refill one per; default 3 s
	SourceBurst   int           // and may come this many at once; default 20
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client (for the limits above) and whose X-Forwarded-Proto says whether
	// the client came over TLS (for the cookies' Secure). Nobody else's are read.
	TrustedProxies []netip.Prefix

	// MinFree is the free space of Dir's filesystem below which the points'
	// status says the cloud's disk is full; default 16 MiB. Without Dir the
	// disk is not watched.
	MinFree uint64

	// Alerts. Mailer nil: alerts go by webhook only (and the e-mail is logged as not sent).
	Mailer                Mailer
	AlertEvery            time.Duration // how often time-driven alerts are evaluated; default 30 s
	AlertSilence          time.Duration // a register silent this long raises an alert; default 10 min
	AlertUndelivered      time.Duration // the oldest document not acknowledged by the OFD; default 72 h
	AlertShift            time.Duration // an open shift this old raises an alert; default 23 h
	AlertCallbackAttempts int           // refused callbacks of one document; default 5
	AlertRetryFor         time.Duration // each channel retries a message this long; default 10 min
	AlertRetryInitial     time.Duration // first pause between retries; default 2 s

	// AdminToken turns on the operator's provisioning API under
	// /api/admin/v1 (docs/admin.md), for requests bearing it; "": off.
	AdminToken string
}

// Server is the cloud: the shop API, the register API and their store.
//
// Everything that matters beyond one request lives in the store, so that
// several servers may share one: what stays here is this process's own
// work (the callbacks and alert destinations it holds and is delivering,
// the waiters of its long-polls), the log-in limiter and the bcrypt slots.
// The limiter is per process for now: with several servers an attacker
// gets each one's budget.
type Server struct {
	cfg       Config
	store     storage.Store
	ownsStore bool   // opened by Open, closed by Close
	node      string // this process's name on the jobs it holds
	log       *slog.Logger
	metrics   *metrics

	mu        sync.Mutex
	inFlight  map[string]*storage.CallbackJob // callbacks being delivered here → the next job of the same document, if one came meanwhile
	senders   map[string]bool                 // alert destinations whose sender runs here
	noSpaceAt time.Time                       // when a write last failed for want of space
	guard     *loginGuard                     // password guessing
	hashing   hashing                         // bcrypt comparisons running at once
	// dummyHash is compared against for an unknown login: it has the accounts' cost.
	dummyHash func() []byte

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens (creating if needed) the cloud's file in cfg.Dir and resumes the
// callbacks that were due when it last stopped.
func Open(cfg Config) (*Server, error) {
	if cfg.Dir == "" && cfg.Store == nil {
		return nil, errors.New("cloud: Config.Dir or Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = outboundClient(cfg.AllowPrivateTargets)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.CallbackInitial, time.Second)
	def(&cfg.CallbackMax, 5*time.Minute)
	def(&cfg.CallbackFor, 24*time.Hour)
	def(&cfg.Stale, 60*time.Second)
	def(&cfg.LeaseFor, 2*time.Minute)
	def(&cfg.MaxWait, 30*time.Second)
	def(&cfg.SessionFor, 12*time.Hour)
	def(&cfg.LoginDelay, 2*time.Second)
	def(&cfg.LoginMaxDelay, 15*time.Minute)
	def(&cfg.LoginWindow, time.Hour)
	def(&cfg.SourceEvery, 3*time.Second)
	def(&cfg.AlertEvery, 30*time.Second)
	def(&cfg.AlertSilence, 10*time.Minute)
	def(&cfg.AlertUndelivered, 72*time.Hour)
	def(&cfg.AlertShift, 23*time.Hour)
	def(&cfg.AlertRetryFor, 10*time.Minute)
	def(&cfg.AlertRetryInitial, 2*time.Second)
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.DefaultCost
	}
	if cfg.LoginAttempts <= 0 {
		cfg.LoginAttempts = 5
	}
	if cfg.MinFree == 0 {
		cfg.MinFree = 16 << 20
	}
	if cfg.SourceBurst <= 0 {
		cfg.SourceBurst = 20
	}
	if cfg.AlertCallbackAttempts <= 0 {
		cfg.AlertCallbackAttempts = 5
	}

	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, metrics: newMetrics(), inFlight: map[string]*storage.CallbackJob{}, senders: map[string]bool{},
		guard: newLoginGuard(cfg), hashing: hashing{slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}}
	if s.store == nil {
		st, err := boltstore.Open(filepath.Join(cfg.Dir, "cloud.db"))
		if err != nil {
			return nil, err
		}
		s.store, s.ownsStore = st, true
	}
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("kassa"), cfg.PasswordCost)
		return h
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	node, err := s.random(8)
	if err == nil {
		err = s.upgrade(s.ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cloud: %w", err)
	}
	s.node = hex.EncodeToString(node)
	// The callbacks due when the cloud last stopped go on, with those
	// waiting out a pause between attempts, and so do the alerts not sent.
	s.takeCallbacks(s.now().Add(s.cfg.CallbackMax))
	s.takeAlerts()
	s.every(s.cfg.AlertEvery, s.watch)
	return s, nil
}

// upgrade gives the records an older cloud wrote what this one expects:
// points get the default settings once, and the sandbox's cabinet password
// (held in clear for sandbox.json) its bcrypt hash.
func (s *Server) upgrade(ctx context.Context) error {
	ids, err := s.store.PointIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		pr, err := s.store.Point(ctx, id)
		if err != nil {
			return err
		}
		if pr.Settings {
			continue
		}
		defaultSettings(&pr.Point)
		pr.Settings = true
		if err := s.store.PutPoint(ctx, pr); err != nil {
			return err
		}
	}
	sb, err := s.store.Sandbox(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a, err := s.store.Account(ctx, sb.CabinetLogin)
	if errors.Is(err, storage.ErrNotFound) || err == nil && len(a.PasswordHash) > 0 {
		return nil
	}
	if err != nil {
		return err
	}
	if a.PasswordHash, err = bcrypt.GenerateFromPassword([]byte(sb.CabinetPassword), s.cfg.PasswordCost); err != nil {
		return fmt.Errorf("cabinet password: %w", err)
	}
	return s.store.PutAccount(ctx, a)
}

// every runs f every d until Close.
func (s *Server) every(d time.Duration, f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	}()
}

// Close ends waiting leases, callbacks and alerts (those not done stay due
// in the store, and the holds of this node on them are let go, so that
// another node takes them at once) and closes the store if Open opened it;
// stop serving Handler first, since requests after Close fail.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.ReleaseHolds(ctx, s.node); err != nil {
		s.log.Warn("cloud: handing this node's callbacks and alerts to the others", "err", err)
	}
	if s.ownsStore {
		return s.store.Close()
	}
	return nil
}

// Handler serves the shop API under /api/fn (and /fn, see compatRoutes), the
// register API under /api/device/v1 and the owner's cabinet under /cabinet/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/fn/v1/associate/{retailPointId}", s.associate)
	mux.HandleFunc("DELETE /api/fn/v1/associate", s.shop(s.revoke))
	mux.HandleFunc("GET /api/fn/v1/status", s.shop(s.pointStatus))
	mux.HandleFunc("POST /api/fn/v1/doc", s.shop(s.postDoc))
	mux.HandleFunc("POST /api/fn/v2/doc", s.shop(s.postDoc))
	mux.HandleFunc("GET /api/fn/v1/doc/{id}/status", s.shop(s.docStatus))
	mux.HandleFunc("PUT /api/fn/v1/doc/{id}/re-queue", s.shop(s.requeue))

	mux.HandleFunc("POST /api/device/v1/lease", s.device(s.lease))
	mux.HandleFunc("GET /api/device/v1/point", s.device(s.point))
	mux.HandleFunc("POST /api/device/v1/results", s.device(s.results))
	mux.HandleFunc("POST /api/device/v1/heartbeat", s.device(s.heartbeat))
	s.cabinetRoutes(mux)
	s.compatRoutes(mux)
	s.adminRoutes(mux)
	s.opsRoutes(mux)
	return s.metrics.instrument(s.shopErrors(mux))
}

// idleConns is how many connections to one shop the default client keeps open:
// callbacks to a busy shop run side by side, and a kept connection saves each a
// dial (the default transport keeps 2).
const idleConns = 64

// maxBody bounds every request body; a shop document is far smaller.
const maxBody = 1 << 20

func hashSecret(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// checkSecret compares in constant time; passwords are random and long, so a salted
// SHA-256 is enough and keeps each request cheap on a small board.
func checkSecret(salt, hash []byte, secret string) bool {
	return subtle.ConstantTimeCompare(hashSecret(salt, secret), hash) == 1
}

// tokenKey is the key a token is stored under: its SHA-256 in hex, so the
// store never holds a token a thief could replay.
func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (s *Server) random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("cloud: random: %w", err)
	}
	return b, nil
}

func (s *Server) secret() (string, error) {
	b, err := s.random(18)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) uuid() (string, error) {
	b, err := s.random(16)
	if err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, e cloud.APIError) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="kassa"`)
	}
	writeJSON(w, code, e)
}

// readBody reads at most maxBody bytes, answering 413 itself when there are more.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, http.StatusRequestEntityTooLarge, cloud.APIError{Message: fmt.Sprintf("body larger than %d bytes", maxBody)})
		} else {
			writeError(w, http.StatusBadRequest, cloud.APIError{Message: "reading the body: " + err.Error()})
		}
		return nil, false
	}
	return data, true
}

// decodeBody reads a request's JSON body into v, answering 400 naming the field.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	if err := cloud.DecodeStrict(body, v, ""); err != nil {
		writeFieldError(w, err)
		return false
	}
	return true
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.noteNoSpace(err)
	s.log.Error("cloud: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, cloud.APIError{Message: "internal error"})
}

// now is the cloud's time as it is stored and shown: UTC, to the millisecond.
func (s *Server) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Millisecond) }

// defaultSettings are a new point's: stop on errors as the stop policy wants,
// online-shop documents on (so balances carry), and our OFD emulator.
func defaultSettings(p *cloud.Point) {
	p.ShopDocuments, p.StopOnErrors, p.RemoteMode, p.CarryBalance = true, true, false, true
	if p.OFD == (cloud.OFD{}) {
		p.OFD = OFDs[0]
	}
}
