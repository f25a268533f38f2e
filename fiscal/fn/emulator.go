package fn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkassa/kassa/store/boltfile"
	"github.com/openkassa/kassa/store/mapped"
)

// DefaultDriveNumber is the emulated drive's serial number unless configured.
const DefaultDriveNumber = "9999078900004312"

// Limits are the drive's enforced limits; zero fields take the defaults.
type Limits struct {
	ShiftMax   time.Duration // an open shift older than this refuses receipts; default 24 h
	OFDMax     time.Duration // an unsent document older than this blocks new ones; default 30 days
	Capacity   uint32        // archive size in documents; default 250 000
	ValidUntil time.Time     // key validity (wall clock); default 36 months after registration
}

// EmulatorConfig configures NewEmulator.
type EmulatorConfig struct {
	Dir         string // the drive's own directory; its file is fn.db in it
	DriveNumber string // 16 digits; default DefaultDriveNumber
	Key         []byte // signing key; nil: generated once from Rand and kept in the drive's file
	Rand        io.Reader
	// OFDKey verifies acknowledgements (container sign and 1078); nil accepts
	// any ФПО, as a sandbox pointed at someone else's OFD must.
	OFDKey    []byte
	Limits    Limits
	SignDelay time.Duration // how long signing takes, on top of Latency
	// Latency models a real drive's timing: how long each command takes
	// before it is answered, in process and over the UART.
	Latency Latency
	// CheckTables refuses, as a format error (ErrBadParam), a finished
	// document that FFD 1.05's tag tables refuse (fiscal.CheckDocument): a
	// required tag missing, a tag where its table has none. A real drive does
	// so; the sandbox and `kassa fn-emu` set it. Off, the drive signs what the
	// UART protocol lets through, as the protocol's own tests need.
	CheckTables bool
	Logger      *slog.Logger
}

// Emulator is the emulated fiscal drive. It implements Drive and is safe for
// concurrent use; calls are served one at a time, as a real drive does, but
// one that waits for a sync lets the next one in meanwhile.
//
// Durability: every signed document, its number and the counters it moves are
// one record of the drive's journal, so a power cut at any instant leaves either
// the whole document or nothing, and so is every acknowledgement, kept by the
// FD it acknowledged (41h); the journal is checkpointed into the drive's bbolt
// file every checkpointBatch documents and acknowledgements. The record of a
// receipt or of an acknowledgement is written when the call returns and
// durable once Sync returns; every other document syncs before it returns,
// which makes what came before it durable too. One sync thus covers a run of
// receipts and acknowledgements, and a sync running meanwhile covers a caller
// that comes later (group commit). The OFD only ever gets durable documents; an
// acknowledgement a power cut takes back only has its document sent again.
type Emulator struct {
	db      *bolt.DB
	jr      *journal
	rel     *mapped.Releaser
	key     []byte
	number  string
	ofdKey  []byte
	limits  Limits
	latency Latency
	log     *slog.Logger
	// checkTables: see EmulatorConfig.CheckTables.
	checkTables bool

	mu         sync.Mutex
	st         driveState
	failWrites int
	memoryFull bool
	keyExpired bool
	signDelay  time.Duration

	synced    uint64     // the last commit (st.Seq) known durable
	durableFD uint32     // the last document known durable
	syncing   bool       // a sync runs, without mu
	syncDone  *sync.Cond // on mu: a sync ended
	syncs     int        // journal syncs made, for tests

	// Documents in the journal and not yet in the bbolt file, the last of
	// them st.LastFD's (see firstPending).
	pending [][]byte
	// Acknowledgements in the journal and not yet in the bbolt file, in the
	// order taken.
	pendingAcks []storedAck
}

// driveState is what the drive's file holds besides the archive. Times are wall clocks in UTC form.
type driveState struct {
	Seq             uint64    `json:"seq"` // of the last commit
	Phase           Phase     `json:"phase"`
	RegNumber       string    `json:"regNumber"`
	ShiftOpen       bool      `json:"shiftOpen"`
	Shift           uint32    `json:"shift"`
	ShiftOpenedAt   time.Time `json:"shiftOpenedAt"`
	ReceiptsInShift uint32    `json:"receiptsInShift"`
	DocsInShift     uint32    `json:"docsInShift"`
	LastFD          uint32    `json:"lastFD"`
	LastFDTime      time.Time `json:"lastFDTime"`
	AckedThrough    uint32    `json:"ackedThrough"`
	FirstUnsentTime time.Time `json:"firstUnsentTime"`
	ValidUntil      time.Time `json:"validUntil"` // a date: drives keep key validity to the day
	RegFD           uint32    `json:"regFD"`      // the last registration or registration change; 0 in files before it was kept
	Regs            int       `json:"regs"`       // registrations and their changes; 0 in files before it was kept
	// The last acknowledgement taken and its FD, as files from before
	// acknowledgements were kept by FD (bucketAcks) hold it: read, and moved
	// there (takeOldAck), never written.
	OldLastAck   []byte `json:"lastAck,omitempty"`
	OldLastAckFD uint32 `json:"lastAckFD,omitempty"`
}

func (s *driveState) unsent() uint32 { return s.LastFD - s.AckedThrough }

var (
	bucketDrive = []byte("drive")
	bucketDocs  = []byte("docs")
	bucketAcks  = []byte("acks") // an acknowledgement's STLV 7 by the FD it acknowledged, for 41h
	keyIdentity = []byte("identity")
	keyState    = []byte("state")
)

type identity struct {
	DriveNumber string `json:"driveNumber"`
	Key         []byte `json:"key"`
}

const keyLen = 32

// NewEmulator opens (or creates) the emulated drive in cfg.Dir.
func NewEmulator(cfg EmulatorConfig) (*Emulator, error) {
	if cfg.Dir == "" {
		return nil, errors.New("fn: emulator: no directory")
	}
	if cfg.DriveNumber == "" {
		cfg.DriveNumber = DefaultDriveNumber
	}
	if !digits(cfg.DriveNumber, 16) {
		return nil, fmt.Errorf("fn: emulator: drive number %q: want 16 digits", cfg.DriveNumber)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	lim := cfg.Limits
	if lim.ShiftMax == 0 {
		lim.ShiftMax = 24 * time.Hour
	}
	if lim.OFDMax == 0 {
		lim.OFDMax = 30 * 24 * time.Hour
	}
	if lim.Capacity == 0 {
		lim.Capacity = 250000
	}
	if !lim.ValidUntil.IsZero() {
		lim.ValidUntil = wallDay(lim.ValidUntil)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("fn: emulator: %w", err)
	}
	path := filepath.Join(cfg.Dir, "fn.db")
	db, err := boltfile.Open(path, &bolt.Options{Timeout: 2 * time.Second},
		"It is the emulated drive's archive: restore it from a backup, or move the drive's directory aside "+
			"to start a new, unregistered drive (the register then needs registering again)")
	if err != nil {
		return nil, fmt.Errorf("fn: emulator: %w", err)
	}
	e := &Emulator{db: db, rel: mapped.NewReleaser(db), ofdKey: cfg.OFDKey, limits: lim, latency: cfg.Latency, log: cfg.Logger,
		signDelay: cfg.SignDelay, checkTables: cfg.CheckTables}
	e.syncDone = sync.NewCond(&e.mu)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDrive)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketDocs, bucketAcks} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		var id identity
		if raw := b.Get(keyIdentity); raw != nil {
			if err := json.Unmarshal(raw, &id); err != nil {
				return fmt.Errorf("identity: %w", err)
			}
			if id.DriveNumber != cfg.DriveNumber {
				return fmt.Errorf("file belongs to drive %s, configured %s", id.DriveNumber, cfg.DriveNumber)
			}
			if cfg.Key != nil && !hmac.Equal(cfg.Key, id.Key) {
				return errors.New("configured key differs from the drive's")
			}
		} else {
			id = identity{DriveNumber: cfg.DriveNumber, Key: cfg.Key}
			if id.Key == nil {
				id.Key = make([]byte, keyLen)
				if _, err := io.ReadFull(cfg.Rand, id.Key); err != nil {
					return fmt.Errorf("generating key: %w", err)
				}
			}
			raw, _ := json.Marshal(id)
			if err := b.Put(keyIdentity, raw); err != nil {
				return err
			}
		}
		e.key, e.number = bytes.Clone(id.Key), id.DriveNumber
		e.st = driveState{Phase: PhaseNotRegistered}
		if raw := b.Get(keyState); raw != nil {
			if err := json.Unmarshal(raw, &e.st); err != nil {
				return fmt.Errorf("state: %w", err)
			}
		}
		e.takeOldAck(&e.st)
		return nil
	})
	if err == nil {
		err = e.replay(filepath.Join(cfg.Dir, "fn.journal"))
	}
	e.synced, e.durableFD = e.st.Seq, e.st.LastFD
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fn: emulator: %w", err)
	}
	e.log.Info("fn: emulated drive open", "drive", e.number, "phase", e.st.Phase, "lastFD", e.st.LastFD)
	return e, nil
}

// Key is the drive's signing key, for verifying its ФПД and ФПС.
func (e *Emulator) Key() []byte { return bytes.Clone(e.key) }

// DriveNumber is the drive's serial number (1041).
func (e *Emulator) DriveNumber() string { return e.number }

// Close checkpoints the journal and closes the drive's files.
func (e *Emulator) Close() error {
	e.mu.Lock()
	for e.syncing {
		e.syncDone.Wait()
	}
	err := e.checkpoint()
	e.mu.Unlock()
	return errors.Join(err, e.jr.close(), e.db.Close())
}

// State reports the drive's state; warnings are judged at the last document's
// time, as the drive has no clock of its own.
func (e *Emulator) State(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.st
	out := State{
		Phase:           s.Phase,
		DriveNumber:     e.number,
		RegNumber:       strings.Trim(s.RegNumber, " \x00"),
		ShiftOpen:       s.ShiftOpen,
		Shift:           s.Shift,
		ShiftOpenedAt:   s.ShiftOpenedAt,
		ReceiptsInShift: s.ReceiptsInShift,
		LastFD:          s.LastFD,
		LastFDTime:      s.LastFDTime,
		Unsent:          s.unsent(),
		Warnings:        e.warnings(s.LastFDTime),
		ValidUntil:      e.validUntil(),
	}
	if out.Unsent > 0 {
		out.FirstUnsentFD = s.AckedThrough + 1
		out.FirstUnsentTime = s.FirstUnsentTime
	}
	return out, nil
}

// registrationFD is the FD of the last registration or registration change, 0 before the first.
func (e *Emulator) registrationFD() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.st.Phase == PhaseNotRegistered:
		return 0
	case e.st.RegFD == 0: // a file from before RegFD was kept: the registration is FD 1
		return 1
	}
	return e.st.RegFD
}

// registrations is how many registration reports (the first and changes) the drive signed.
func (e *Emulator) registrations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.Regs == 0 && e.st.Phase != PhaseNotRegistered {
		return 1
	}
	return e.st.Regs
}

func (e *Emulator) validUntil() time.Time {
	if !e.limits.ValidUntil.IsZero() {
		return e.limits.ValidUntil
	}
	return e.st.ValidUntil
}

func (e *Emulator) warnings(now time.Time) Warnings {
	var w Warnings
	if vu := e.validUntil(); !vu.IsZero() && !now.IsZero() {
		left := vu.Sub(now)
		if left <= 3*24*time.Hour {
			w |= WarnReplaceUrgent
		}
		if left <= 30*24*time.Hour {
			w |= WarnKeyExpiring
		}
	}
	n, c := uint64(e.st.LastFD), uint64(e.limits.Capacity)
	if n*10 >= c*9 {
		w |= WarnMemory90
	}
	if e.st.unsent() > 0 && now.Sub(e.st.FirstUnsentTime) >= e.limits.OFDMax-5*24*time.Hour {
		w |= WarnOFDTimeout
	}
	return w
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
