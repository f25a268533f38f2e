package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
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
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/store/boltfile"
	"github.com/openkassa/kassa/store/mapped"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Config configures a Server. Zero fields take the defaults named on them.
type Config struct {
	Dir    string           // where cloud.db lives; required
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
	// status says the cloud's disk is full; default 16 MiB.
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
}

// Server is the cloud: the shop API, the register API and their bbolt file.
type Server struct {
	cfg Config
	db  *bolt.DB
	rel *mapped.Releaser // of db: in the one-process sandbox its pages count in the register's RSS
	log *slog.Logger

	mu        sync.Mutex
	wake      map[string]chan struct{} // point id → closed when a document may be leased
	inFlight  map[string]bool          // document keys whose callback is being delivered
	outbox    map[string][]alertEntry  // alerts waiting, by destination, in the order raised
	noSpaceAt time.Time                // when a write last failed for want of space
	guard     *loginGuard              // password guessing
	hashing   hashing                  // bcrypt comparisons running at once
	// dummyHash is compared against for an unknown login: it has the accounts' cost.
	dummyHash func() []byte

	// regsMu guards regs alone: getRegister takes it inside transactions.
	regsMu sync.Mutex
	regs   map[string]decodedRegister // token key → the register's record last decoded

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var (
	bucketMeta      = []byte("meta")      // "sandbox" → Sandbox
	bucketAccounts  = []byte("accounts")  // cabinet login → account
	bucketPoints    = []byte("points")    // point id → pointRecord
	bucketCreds     = []byte("creds")     // integration userName → credential
	bucketCredIndex = []byte("credIndex") // point id \0 clientId → userName
	bucketRegisters = []byte("registers") // hex sha256(token) → registerRecord
	bucketPointReg  = []byte("pointReg")  // point id → hex sha256(token)
	bucketDocs      = []byte("docs")      // point id \0 doc id → docRecord
	bucketBodies    = []byte("bodies")    // point id \0 doc id → the document, normalized
	bucketQueue     = []byte("queue")     // point id \0 seq → doc id: waiting or leased
	bucketCallbacks = []byte("callbacks") // point id \0 doc id: callback due
	bucketUnacked   = []byte("unacked")   // point id \0 drive number \0 FD (uint32) → doc id: not yet acknowledged by the OFD
	bucketSessions  = []byte("sessions")  // hex sha256(cookie) → session
	bucketIncidents = []byte("incidents") // point id \0 kind [\0 doc id] → incident: open alerts
	bucketAlertLog  = []byte("alertLog")  // seq → alertEntry
	keySandbox      = []byte("sandbox")
	keySchema       = []byte("schema") // the layout of the file, schemaVersion as text; absent: 1
)

// restoreAdvice is what to do with a damaged cloud.db.
const restoreAdvice = "Restore cloud.db from a backup. Without one, move it aside and start afresh: " +
	"the registers' drives keep every fiscal document, but the cabinet accounts, retail points, " +
	"integration pairs and the documents still queued are lost with it"

// schemaVersion is the layout this code writes; migrate brings older files up to it.
// 2: documents' bodies in bucketBodies rather than inside their records.
const schemaVersion = 2

// Open opens (creating if needed) the cloud's file in cfg.Dir and resumes the
// callbacks that were due when it last stopped.
func Open(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("cloud: Config.Dir is required")
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

	db, err := boltfile.Open(filepath.Join(cfg.Dir, "cloud.db"), &bolt.Options{Timeout: 2 * time.Second}, restoreAdvice)
	if err != nil {
		return nil, fmt.Errorf("cloud: %w", err)
	}
	// Shops' posts and callbacks' outcomes go through db.Batch: the ones that
	// come together share a commit and its disk syncs. A lone one waits this long.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketPoints, bucketCreds, bucketCredIndex,
			bucketRegisters, bucketPointReg, bucketDocs, bucketBodies, bucketQueue, bucketCallbacks,
			bucketUnacked, bucketSessions, bucketIncidents, bucketAlertLog} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return migrate(tx, cfg.PasswordCost)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cloud: init cloud.db: %w", err)
	}
	s := &Server{cfg: cfg, db: db, rel: mapped.NewReleaser(db), log: cfg.Logger, wake: map[string]chan struct{}{}, inFlight: map[string]bool{}, outbox: map[string][]alertEntry{}, regs: map[string]decodedRegister{},
		guard: newLoginGuard(cfg), hashing: hashing{slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}}
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("kassa"), cfg.PasswordCost)
		return h
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var due []string
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCallbacks).ForEach(func(k, _ []byte) error {
			due = append(due, string(k))
			return nil
		})
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cloud: read due callbacks: %w", err)
	}
	for _, k := range due {
		s.startCallback(k)
	}
	s.every(s.cfg.AlertEvery, s.watch)
	// The pages of cloud.db that requests mapped are let go a few times a
	// second, rather than after each of the many transactions.
	s.every(250*time.Millisecond, func() { s.rel.Release() }) // advice only: on failure the pages stay mapped
	return s, nil
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

// Close ends waiting leases and callbacks and closes the file; stop serving
// Handler first, since requests after Close fail.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return s.db.Close()
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
	return s.shopErrors(mux)
}

// idleConns is how many connections to one shop the default client keeps open:
// callbacks to a busy shop run side by side, and a kept connection saves each a
// dial (the default transport keeps 2).
const idleConns = 64

// maxBody bounds every request body; a shop document is far smaller.
const maxBody = 1 << 20

// account is a cabinet account; its password is kept as a bcrypt hash, since
// people choose it and it guards everything the owner has.
type account struct {
	PasswordHash []byte   `json:"passwordHash"`
	Points       []string `json:"points"`
}

type pointRecord struct {
	Point   cloud.Point `json:"point"`
	Account string      `json:"account"`
	// Settings: the owner's settings in Point have been made (by the sandbox, the
	// cabinet or the migration); a point without them takes the defaults once.
	Settings    bool   `json:"settings"`
	NotifyEmail string `json:"notifyEmail,omitempty"` // where alerts go by e-mail
	WebhookURL  string `json:"webhookUrl,omitempty"`  // where alerts go as JSON
}

type credential struct {
	PointID  string `json:"pointId"`
	ClientID string `json:"clientId"`
	Salt     []byte `json:"salt"`
	Hash     []byte `json:"hash"`
}

type registerRecord struct {
	PointID  string        `json:"pointId"`
	BoundAt  time.Time     `json:"boundAt"`
	LastSeen time.Time     `json:"lastSeen,omitzero"`
	Health   *cloud.Health `json:"health,omitempty"`
	// Resume: the owner asked for the stopped register to resume; the next
	// heartbeat that still says stopped carries it back.
	Resume bool `json:"resume,omitempty"`
	// Since: when the register last came back into contact or changed between
	// running and stopped; the cabinet shows its status as "since".
	Since time.Time `json:"since,omitzero"`
}

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

func tokenKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return []byte(hex.EncodeToString(h[:]))
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

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// decodedRegister is a registerRecord with the bytes it was decoded from.
type decodedRegister struct {
	data []byte
	reg  registerRecord
}

// maxDecodedRegisters bounds Server.regs; past it the map starts afresh.
const maxDecodedRegisters = 1024

// getRegister reads a register's record, reporting false when key is absent.
// Most requests read a record that no heartbeat has changed since the last read,
// and comparing its bytes costs far less than decoding its health again.
func (s *Server) getRegister(tx *bolt.Tx, key []byte, reg *registerRecord) (bool, error) {
	data := tx.Bucket(bucketRegisters).Get(key)
	if data == nil {
		return false, nil
	}
	s.regsMu.Lock()
	d, ok := s.regs[string(key)]
	s.regsMu.Unlock()
	if !ok || !bytes.Equal(d.data, data) {
		d = decodedRegister{data: bytes.Clone(data)}
		if err := json.Unmarshal(data, &d.reg); err != nil {
			return true, fmt.Errorf("cloud: stored %s: %w", key, err)
		}
		s.regsMu.Lock()
		if len(s.regs) >= maxDecodedRegisters {
			clear(s.regs)
		}
		s.regs[string(key)] = d
		s.regsMu.Unlock()
	}
	*reg = d.reg
	if h := d.reg.Health; h != nil {
		c := *h
		c.Drive.Warnings = slices.Clone(h.Drive.Warnings)
		reg.Health = &c
	}
	return true, nil
}

// getJSON reports false when key is absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("cloud: stored %s: %w", key, err)
	}
	return true, nil
}

func docKey(pointID, id string) []byte { return []byte(pointID + "\x00" + id) }

func queueKey(pointID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pointID+"\x00"), seq)
}

// waiter returns the channel closed when the point next gets a leasable document.
func (s *Server) waiter(pointID string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.wake[pointID]
	if !ok {
		ch = make(chan struct{})
		s.wake[pointID] = ch
	}
	return ch
}

// notify wakes the point's waiting leases.
func (s *Server) notify(pointID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.wake[pointID]; ok {
		close(ch)
		delete(s.wake, pointID)
	}
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

// migrate brings a file written by an older cloud up to date: documents' bodies
// move out of their records, points get the default settings, and the sandbox's
// cabinet password (held in clear for sandbox.json) gets its bcrypt hash.
func migrate(tx *bolt.Tx, cost int) error {
	meta := tx.Bucket(bucketMeta)
	n, _ := strconv.Atoi(string(meta.Get(keySchema)))
	if n > schemaVersion {
		return fmt.Errorf("the file has schema %d, this build knows up to %d", n, schemaVersion)
	}
	if n < schemaVersion {
		if err := moveBodies(tx); err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
	}
	points := tx.Bucket(bucketPoints)
	var stale []pointRecord
	err := points.ForEach(func(k, v []byte) error {
		var pr pointRecord
		if err := json.Unmarshal(v, &pr); err != nil {
			return fmt.Errorf("point %s: %w", k, err)
		}
		if !pr.Settings {
			stale = append(stale, pr)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, pr := range stale {
		defaultSettings(&pr.Point)
		pr.Settings = true
		if err := putJSON(points, []byte(pr.Point.ID), pr); err != nil {
			return err
		}
	}
	var sb Sandbox
	if found, err := getJSON(tx.Bucket(bucketMeta), keySandbox, &sb); err != nil || !found {
		return err
	}
	var a account
	if found, err := getJSON(tx.Bucket(bucketAccounts), []byte(sb.CabinetLogin), &a); err != nil || !found || len(a.PasswordHash) > 0 {
		return err
	}
	if a.PasswordHash, err = bcrypt.GenerateFromPassword([]byte(sb.CabinetPassword), cost); err != nil {
		return fmt.Errorf("cabinet password: %w", err)
	}
	return putJSON(tx.Bucket(bucketAccounts), []byte(sb.CabinetLogin), a)
}

// moveBodies moves each document's body from its record (schema 1) to bucketBodies.
func moveBodies(tx *bolt.Tx) error {
	docs, bodies := tx.Bucket(bucketDocs), tx.Bucket(bucketBodies)
	var keys [][]byte
	docs.ForEach(func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	for _, k := range keys {
		var old struct {
			Body json.RawMessage `json:"body"`
		}
		var rec docRecord
		if err := errors.Join(json.Unmarshal(docs.Get(k), &old), json.Unmarshal(docs.Get(k), &rec)); err != nil {
			return fmt.Errorf("document %q: %w", k, err)
		}
		if old.Body == nil {
			continue
		}
		if err := bodies.Put(k, old.Body); err != nil {
			return err
		}
		if err := putJSON(docs, k, rec); err != nil {
			return err
		}
	}
	return nil
}
