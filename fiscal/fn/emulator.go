package fn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
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

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
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

// checkpointBatch is how many journaled documents and acknowledgements are
// checkpointed into the bbolt file at once.
const checkpointBatch = 128

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

// replay opens the journal and takes its records that follow the bbolt
// file's state, then checkpoints them, and any acknowledgement taken from an
// old file's state. On failure the journal is closed.
func (e *Emulator) replay(path string) (err error) {
	jr, recs, err := openJournal(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			jr.close()
		}
	}()
	e.jr = jr
	n := 0
	for _, r := range recs {
		if r.seq != e.st.Seq+1 {
			break
		}
		var st driveState
		if err := json.Unmarshal(r.state, &st); err != nil {
			return fmt.Errorf("journal record %d: state: %w", r.seq, err)
		}
		if err := e.replayRecord(r, &st); err != nil {
			return fmt.Errorf("journal record %d: %w", r.seq, err)
		}
		e.st = st
		n++
	}
	if n == 0 && len(e.pendingAcks) == 0 {
		return nil
	}
	e.log.Info("fn: journal replayed", "records", n, "documents", len(e.pending), "acknowledgements", len(e.pendingAcks))
	return e.writeCheckpoint()
}

// replayRecord takes the document or the acknowledgement of a journal record
// whose state is st (see commit).
func (e *Emulator) replayRecord(r journalRecord, st *driveState) error {
	switch {
	case r.fd != 0:
		if r.fd != st.LastFD || r.fd != e.st.LastFD+1 {
			return fmt.Errorf("FD %d out of order", r.fd)
		}
		e.pending = append(e.pending, bytes.Clone(r.rec))
	case r.rec != nil:
		if st.AckedThrough <= e.st.AckedThrough {
			return fmt.Errorf("acknowledgement of FD %d after FD %d's", st.AckedThrough, e.st.AckedThrough)
		}
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.AckedThrough, doc: bytes.Clone(r.rec)})
	}
	e.takeOldAck(st)
	return nil
}

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

// FailNextWrites makes the next n commits (documents or acknowledgements) fail with ErrWrite.
func (e *Emulator) FailNextWrites(n int) {
	e.mu.Lock()
	e.failWrites = n
	e.mu.Unlock()
}

// SetMemoryFull makes the archive report full (ErrMemoryFull) until set false.
func (e *Emulator) SetMemoryFull(full bool) {
	e.mu.Lock()
	e.memoryFull = full
	e.mu.Unlock()
}

// ExpireKey ends the key's validity for the life of this process: every new
// document fails with ErrKeyExpired.
func (e *Emulator) ExpireKey() {
	e.mu.Lock()
	e.keyExpired = true
	e.mu.Unlock()
}

// SetSignDelay sets how long signing a document takes.
func (e *Emulator) SetSignDelay(d time.Duration) {
	e.mu.Lock()
	e.signDelay = d
	e.mu.Unlock()
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

// Register signs the registration report (1). Its TLV must carry 1037.
func (e *Emulator) Register(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocRegistration, d.Time, d.TLV, nil)
}

// ChangeRegistration signs a registration change report (11); a 1037 in it replaces the old one.
func (e *Emulator) ChangeRegistration(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocRegistrationChange, d.Time, d.TLV, nil)
}

// OpenShift signs a shift open report (2) and opens the next shift.
func (e *Emulator) OpenShift(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocShiftOpen, d.Time, d.TLV, nil)
}

// CloseShift signs a shift close report (5), allowed also after the shift limit.
func (e *Emulator) CloseShift(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocShiftClose, d.Time, d.TLV, nil)
}

// Receipt signs a receipt (3) or a correction receipt (31). It is durable once
// Sync, or another call that syncs, returns.
func (e *Emulator) Receipt(ctx context.Context, r ReceiptDoc) (Signed, error) {
	typ := fiscal.DocReceipt
	if r.Correction {
		typ = fiscal.DocCorrection
	}
	return e.sign(ctx, typ, r.Time, r.TLV, &r)
}

// StateReport signs a current state report (21).
func (e *Emulator) StateReport(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocStateReport, d.Time, d.TLV, nil)
}

// CloseDrive signs the drive close report (6); afterwards only the archive can be read.
func (e *Emulator) CloseDrive(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocDriveClose, d.Time, d.TLV, nil)
}

// maxDocValue keeps a document's FN–OFD container within its 16-bit length.
const maxDocValue = 0xFFFF - ofd.ContainerHeaderLen - ofd.MessageSignLen - 4

func (e *Emulator) sign(ctx context.Context, typ fiscal.Tag, at time.Time, tlv []byte, r *ReceiptDoc) (Signed, error) {
	if err := ctx.Err(); err != nil {
		return Signed{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if delay := e.signDelay + e.latency[finishOf(typ)]; delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Signed{}, ctx.Err()
		case <-t.C:
		}
	}
	now := wallMinute(at)
	st := e.st // the next state; it replaces e.st only once committed
	if err := e.admit(typ, now, &st); err != nil {
		return Signed{}, fmt.Errorf("fn: document %d at %s: %w", typ, now.Format("2006-01-02 15:04"), err)
	}
	els, err := fiscal.SplitElements(tlv)
	if err != nil {
		return Signed{}, fmt.Errorf("fn: document %d: %w: %w", typ, ErrBadParam, err)
	}
	if err := checkElements(typ, els, r); err != nil {
		return Signed{}, fmt.Errorf("fn: document %d: %w", typ, err)
	}

	warn := e.warnings(now)
	unsent, firstFD, firstTime := st.unsent(), st.AckedThrough+1, st.FirstUnsentTime
	st.LastFD++
	st.LastFDTime = now
	if st.LastFD == st.AckedThrough+1 {
		st.FirstUnsentTime = now
	}
	signed := Signed{FD: st.LastFD, Time: now}
	switch typ {
	case fiscal.DocRegistration:
		st.Phase = PhaseFiscal
		st.RegNumber = regNumber(els)
		if e.limits.ValidUntil.IsZero() {
			st.ValidUntil = wallDay(now.AddDate(0, 36, 0))
		}
		st.RegFD = signed.FD
		st.Regs++
	case fiscal.DocRegistrationChange:
		if rn := regNumber(els); rn != "" {
			st.RegNumber = rn
		}
		st.RegFD = signed.FD
		st.Regs++
	case fiscal.DocShiftOpen:
		st.ShiftOpen = true
		st.Shift++
		st.ShiftOpenedAt = now
		st.ReceiptsInShift = 0
		st.DocsInShift = 0
	case fiscal.DocReceipt, fiscal.DocCorrection:
		st.ReceiptsInShift++
		signed.Number = st.ReceiptsInShift
	case fiscal.DocDriveClose:
		st.Phase = PhaseArchiveClosed
	}
	if st.ShiftOpen {
		st.DocsInShift++
	}
	if typ != fiscal.DocRegistration && typ != fiscal.DocDriveClose {
		signed.Shift = st.Shift
	}

	v := bytes.Clone(tlv)
	v = fiscal.AppendUint32(v, tagFD, signed.FD)
	v = fiscal.AppendTLV(v, tagDriveNumber, []byte(e.number))
	v = fiscal.AppendUint32(v, tagDateTime, uint32(now.Unix()))
	if typ != fiscal.DocRegistration && typ != fiscal.DocRegistrationChange {
		// The drive close report carries the last shift's number (its table
		// requires 1038); the registration reports have none.
		v = fiscal.AppendUint32(v, tagShift, st.Shift)
	}
	if signed.Number != 0 {
		v = fiscal.AppendUint32(v, tagReceiptNumber, signed.Number)
	}
	if typ == fiscal.DocShiftClose {
		v = fiscal.AppendUint32(v, tagDocsInShift, st.DocsInShift)
		v = fiscal.AppendUint32(v, tagReceiptsShift, st.ReceiptsInShift)
		st.ShiftOpen = false
	}
	if typ == fiscal.DocShiftClose || typ == fiscal.DocStateReport {
		// 1097 and 1098 always (1116 too on the state report), as yandex/ofd's
		// schemas require them; with nothing unsent 1098 and 1116 are zero.
		var at, first uint32
		if unsent > 0 {
			at, first = uint32(firstTime.Unix()), firstFD
		}
		v = fiscal.AppendUint32(v, tagUnsentCount, unsent)
		v = fiscal.AppendUint32(v, tagFirstUnsentAt, at)
		if unsent > 0 || typ == fiscal.DocStateReport {
			v = fiscal.AppendUint32(v, tagFirstUnsentFD, first)
		}
	}
	if typ == fiscal.DocShiftOpen || typ == fiscal.DocShiftClose {
		// The shift close report carries each warning, 0 or 1; the open
		// report the ones set.
		for _, wt := range []struct {
			w   Warnings
			tag fiscal.Tag
		}{{WarnKeyExpiring, tagResourceOut}, {WarnReplaceUrgent, tagReplace3Days}, {WarnMemory90, tagMemoryFull}, {WarnOFDTimeout, tagOFDTimeout}} {
			switch {
			case warn&wt.w != 0:
				v = fiscal.AppendByte(v, wt.tag, 1)
			case typ == fiscal.DocShiftClose:
				v = fiscal.AppendByte(v, wt.tag, 0)
			}
		}
	}
	signed.FPD = fiscal.FiscalSign(e.key, v)
	v = fiscal.AppendTLV(v, fiscal.TagFiscalSign, fiscal.FiscalSignValue(signed.FPD))
	if len(v) > maxDocValue {
		return Signed{}, fmt.Errorf("fn: document %d: %d bytes, at most %d: %w", typ, len(v), maxDocValue, ErrTooBig)
	}
	doc := fiscal.AppendTLV(nil, typ, v)
	if e.checkTables {
		if _, err := fiscal.CheckDocument(doc); err != nil {
			return Signed{}, fmt.Errorf("fn: document %d: %w: %w", typ, ErrBadParam, err)
		}
	}

	rec := make([]byte, 0, 4+len(doc))
	rec = binary.LittleEndian.AppendUint32(rec, signed.FPD)
	rec = append(rec, doc...)
	err = e.commit(&st, signed.FD, rec)
	if err == nil && r == nil {
		err = e.syncLocked() // only receipts wait for Sync
	}
	if err != nil {
		return Signed{}, fmt.Errorf("fn: document %d, FD %d: %w", typ, signed.FD, err)
	}
	e.log.Debug("fn: signed", "type", typ, "fd", signed.FD, "fpd", signed.FPD, "shift", signed.Shift, "number", signed.Number)
	return signed, nil
}

// admit applies the drive's limits to a new document of type typ at now.
func (e *Emulator) admit(typ fiscal.Tag, now time.Time, st *driveState) error {
	switch {
	case st.Phase == PhaseArchiveClosed:
		return ErrDriveClosed
	case typ == fiscal.DocRegistration && st.Phase != PhaseNotRegistered:
		return fmt.Errorf("already registered: %w", ErrState)
	case typ != fiscal.DocRegistration && st.Phase == PhaseNotRegistered:
		return ErrNotRegistered
	}
	if e.keyExpired {
		return ErrKeyExpired
	}
	if vu := e.validUntil(); !vu.IsZero() && !now.Before(vu) {
		return fmt.Errorf("valid until %s: %w", vu.Format("2006-01-02 15:04"), ErrKeyExpired)
	}
	if e.memoryFull {
		return ErrMemoryFull
	}
	if st.LastFD >= e.limits.Capacity {
		return fmt.Errorf("%d documents stored: %w", st.LastFD, ErrMemoryFull)
	}
	if now.Before(st.LastFDTime) {
		return fmt.Errorf("last document FD %d at %s: %w", st.LastFD, st.LastFDTime.Format("2006-01-02 15:04"), ErrBadTime)
	}
	if st.unsent() > 0 && now.Sub(st.FirstUnsentTime) > e.limits.OFDMax {
		return fmt.Errorf("FD %d unsent since %s: %w", st.AckedThrough+1, st.FirstUnsentTime.Format("2006-01-02 15:04"), ErrOFDBacklog)
	}
	switch typ {
	case fiscal.DocShiftOpen:
		if st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftOpen)
		}
	case fiscal.DocShiftClose:
		if !st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftClosed)
		}
	case fiscal.DocReceipt, fiscal.DocCorrection:
		if !st.ShiftOpen {
			return ErrShiftClosed
		}
		if now.Sub(st.ShiftOpenedAt) > e.limits.ShiftMax {
			return fmt.Errorf("shift %d opened %s: %w", st.Shift, st.ShiftOpenedAt.Format("2006-01-02 15:04"), ErrShiftExpired)
		}
	case fiscal.DocRegistrationChange, fiscal.DocDriveClose:
		if st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftOpen)
		}
	}
	return nil
}

// checkElements refuses the drive's own tags and, for receipts, a 1054 or
// 1020 that disagrees with what the register declared; a registration must
// carry 1037.
func checkElements(typ fiscal.Tag, els []fiscal.RawElement, r *ReceiptDoc) error {
	var sign, total bool
	for _, el := range els {
		if driveTags[el.Tag] {
			return fmt.Errorf("tag %d at offset %d is the drive's own: %w", el.Tag, el.Offset, ErrBadParam)
		}
		if r == nil {
			continue
		}
		switch el.Tag {
		case tagCalcSign:
			if len(el.Value) != 1 || fiscal.CalcSign(el.Value[0]) != r.Sign {
				return fmt.Errorf("tag 1054 at offset %d: % x, declared %d: %w", el.Offset, el.Value, r.Sign, ErrBadParam)
			}
			sign = true
		case tagTotal:
			v, err := fiscal.VLN(el.Value)
			if err != nil || v != r.Total {
				return fmt.Errorf("tag 1020 at offset %d: % x, declared %d: %w", el.Offset, el.Value, r.Total, ErrBadParam)
			}
			total = true
		}
	}
	if r != nil && (!sign || !total) {
		return fmt.Errorf("receipt without 1054 or 1020: %w", ErrBadParam)
	}
	if typ == fiscal.DocRegistration && regNumber(els) == "" {
		return fmt.Errorf("registration without 1037: %w", ErrBadParam)
	}
	return nil
}

func regNumber(els []fiscal.RawElement) string {
	for _, el := range els {
		if el.Tag == tagRegNumber {
			return fiscal.DecodeString(el.Value)
		}
	}
	return ""
}

// commit writes st and rec as one journal record, unless a write failure is
// injected, and then makes st the drive's state; the record is durable after
// the next sync. rec is the document numbered fd, or, with fd 0, the
// acknowledgement of FD st.AckedThrough (nil for none). It checkpoints first
// when the journal is full or holds checkpointBatch documents and
// acknowledgements.
func (e *Emulator) commit(st *driveState, fd uint32, rec []byte) error {
	if e.failWrites > 0 {
		e.failWrites--
		return fmt.Errorf("injected: %w", ErrWrite)
	}
	st.Seq = e.st.Seq + 1
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if len(e.pending)+len(e.pendingAcks) >= checkpointBatch || !e.jr.fits(state, rec) {
		if err := e.checkpoint(); err != nil {
			return err
		}
	}
	if err := e.jr.write(st.Seq, fd, state, rec); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	switch {
	case fd != 0:
		e.pending = append(e.pending, rec)
	case rec != nil:
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.AckedThrough, doc: rec})
	}
	e.st = *st
	return nil
}

// checkpoint writes the journaled documents and acknowledgements and the
// committed state into the bbolt file (synced) and starts the journal over.
func (e *Emulator) checkpoint() error {
	if e.jr.off == 0 {
		return nil // nothing journaled since the last one
	}
	return e.writeCheckpoint()
}

func (e *Emulator) writeCheckpoint() error {
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs)
		for i, rec := range e.pending {
			if err := b.Put(fdKey(e.firstPending()+uint32(i)), rec); err != nil {
				return err
			}
		}
		acks := tx.Bucket(bucketAcks)
		for _, a := range e.pendingAcks {
			if err := acks.Put(fdKey(a.fd), a.doc); err != nil {
				return err
			}
		}
		return putState(tx, &e.st)
	})
	if err != nil {
		return fmt.Errorf("%w: checkpoint: %w", ErrWrite, err)
	}
	clear(e.pending)
	e.pending = e.pending[:0]
	clear(e.pendingAcks)
	e.pendingAcks = e.pendingAcks[:0]
	e.jr.reset()
	e.synced, e.durableFD = e.st.Seq, e.st.LastFD
	e.rel.Release() // advice only: on failure the read pages stay mapped
	return nil
}

// firstPending is the FD of the first journaled document not yet in the
// bbolt file: the pending documents end at the last committed one.
func (e *Emulator) firstPending() uint32 {
	return e.st.LastFD + 1 - uint32(len(e.pending))
}

// record reads the archive's record of FD fd: the journal's if it is not yet
// checkpointed, else the bbolt file's (copied out).
func (e *Emulator) record(fd uint32) ([]byte, error) {
	if first := e.firstPending(); fd >= first && fd-first < uint32(len(e.pending)) {
		return e.pending[fd-first], nil
	}
	var rec []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		rec = bytes.Clone(tx.Bucket(bucketDocs).Get(fdKey(fd)))
		return nil
	})
	e.rel.Release() // advice only: on failure the read pages stay mapped
	if err == nil && rec == nil {
		err = fmt.Errorf("fn: FD %d missing from the archive: %w", fd, ErrNoDocument)
	}
	return rec, err
}

func putState(tx *bolt.Tx, st *driveState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDrive).Put(keyState, raw)
}

func fdKey(fd uint32) []byte { return binary.BigEndian.AppendUint32(nil, fd) }

// record is an archived document as the drive's file holds it: ФПД u32 LE, then the STLV.
func archivedFrom(fd uint32, rec []byte, acked bool) (Archived, error) {
	if len(rec) < 8 {
		return Archived{}, fmt.Errorf("fn: archive FD %d: record of %d bytes", fd, len(rec))
	}
	doc, _, err := fiscal.NextElement(rec[4:], 0)
	if err != nil {
		return Archived{}, fmt.Errorf("fn: archive FD %d: %w", fd, err)
	}
	a := Archived{FD: fd, Type: doc.Tag, FPD: binary.LittleEndian.Uint32(rec), TLV: bytes.Clone(rec[4:]), Acked: acked}
	a.Time, err = docTime(doc.Value)
	if err != nil {
		return Archived{}, fmt.Errorf("fn: archive FD %d: %w", fd, err)
	}
	return a, nil
}

// docTime reads a document's 1012.
func docTime(value []byte) (time.Time, error) {
	for off := 0; off < len(value); {
		el, next, err := fiscal.NextElement(value, off)
		if err != nil {
			return time.Time{}, err
		}
		if el.Tag == tagDateTime && len(el.Value) == 4 {
			return time.Unix(int64(binary.LittleEndian.Uint32(el.Value)), 0).UTC(), nil
		}
		off = next
	}
	return time.Time{}, errors.New("no 1012")
}

// Document reads a document from the archive.
func (e *Emulator) Document(ctx context.Context, fd uint32) (Archived, error) {
	if err := ctx.Err(); err != nil {
		return Archived{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fd == 0 || fd > e.st.LastFD {
		return Archived{}, fmt.Errorf("fn: FD %d (last %d): %w", fd, e.st.LastFD, ErrNoDocument)
	}
	rec, err := e.record(fd)
	if err != nil {
		return Archived{}, err
	}
	return archivedFrom(fd, rec, fd <= e.st.AckedThrough)
}

// NextMessage returns the container of the first unsent document, in the drive's order.
func (e *Emulator) NextMessage(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.st.AckedThrough >= e.durableFD {
		if e.st.unsent() == 0 {
			return nil, nil
		}
		// The OFD gets only documents a power cut cannot take back.
		if err := e.syncLocked(); err != nil {
			return nil, fmt.Errorf("fn: OFD message: %w", err)
		}
	}
	fd := e.st.AckedThrough + 1
	rec, err := e.record(fd)
	var msg []byte
	if err == nil {
		var a Archived
		if a, err = archivedFrom(fd, rec, false); err == nil {
			c := ofd.Container{
				MessageType: ofd.MessageTypeFiscal,
				DocType:     a.Type,
				DriveNumber: e.number,
				FD:          fd,
				Document:    a.TLV,
				Sign:        fiscal.MessageSign(e.key, a.TLV),
			}
			msg, err = c.Append(nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fn: OFD message of FD %d: %w", fd, err)
	}
	return msg, nil
}

// ofdAck is the content of an operator acknowledgement (document 7).
type ofdAck struct {
	driveNumber string
	fd          uint32
	code        byte
	message     []byte // the whole 1068 when it says more than 1022: the operator's message
	doc         []byte // the acknowledgement's STLV 7
}

// parseAck checks an acknowledgement container: STLV 7 with 1017, 1041, 1040,
// 1012, 1068 {1022} and 1078. With ofdKey set it is strict: those tags in this
// order and nothing else, the container's trailing sign and the ФПО (1078)
// verifying. Without it, as from an OFD that has no fiscal crypto, the tags
// are read by tag in any order, and 1078 and the trailing sign may be absent.
func parseAck(ack, ofdKey []byte) (ofdAck, error) {
	var a ofdAck
	c, err := ofd.ParseContainer(ack)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrBadAck, err)
	}
	doc, _, err := fiscal.NextElement(c.Document, 0)
	if err != nil && ofdKey == nil && len(ack) > ofd.ContainerHeaderLen {
		// No trailing sign: the document runs to the container's end.
		whole := ack[ofd.ContainerHeaderLen:]
		if d, n, err2 := fiscal.NextElement(whole, 0); err2 == nil && n == len(whole) {
			doc, err = d, nil
		}
	}
	if err != nil {
		return a, fmt.Errorf("%w: document at container offset %d: %w", ErrBadAck, ofd.ContainerHeaderLen, err)
	}
	if doc.Tag != fiscal.DocOperatorAck {
		return a, fmt.Errorf("%w: document type %d, want 7", ErrBadAck, doc.Tag)
	}
	a.doc = fiscal.AppendTLV(nil, doc.Tag, doc.Value)
	if ofdKey != nil {
		if s := fiscal.MessageSign(ofdKey, c.Document); !hmac.Equal(s[:], c.Sign[:]) {
			return a, fmt.Errorf("%w: container sign does not verify", ErrBadAck)
		}
	}
	order := []fiscal.Tag{tagOFDINN, tagDriveNumber, tagFD, tagDateTime, tagOFDMessage, tagOperatorSign}
	seen := map[fiscal.Tag]bool{}
	for off, i := 0, 0; off < len(doc.Value); i++ {
		el, next, err := fiscal.NextElement(doc.Value, off)
		if err != nil {
			return a, fmt.Errorf("%w: element %d at offset %d: %w", ErrBadAck, i, off, err)
		}
		if ofdKey != nil && (i >= len(order) || el.Tag != order[i]) {
			return a, fmt.Errorf("%w: tag %d at offset %d, element %d of %v", ErrBadAck, el.Tag, off, i, order)
		}
		if seen[el.Tag] {
			return a, fmt.Errorf("%w: tag %d again at offset %d", ErrBadAck, el.Tag, off)
		}
		seen[el.Tag] = true
		switch el.Tag {
		case tagDriveNumber:
			a.driveNumber = string(el.Value)
		case tagFD:
			if len(el.Value) != 4 {
				return a, fmt.Errorf("%w: tag 1040 at offset %d of %d bytes, want 4", ErrBadAck, off, len(el.Value))
			}
			a.fd = binary.LittleEndian.Uint32(el.Value)
		case tagOFDMessage:
			ins, err := fiscal.SplitElements(el.Value)
			found := false
			for _, in := range ins {
				if in.Tag == tagOFDResponse && len(in.Value) == 1 {
					a.code, found = in.Value[0], true
				}
			}
			if err != nil || !found {
				return a, fmt.Errorf("%w: tag 1068 at offset %d: want 1022 of one byte in it", ErrBadAck, off)
			}
			if len(ins) > 1 {
				a.message = fiscal.AppendTLV(nil, el.Tag, el.Value)
			}
		case tagOperatorSign:
			if ofdKey != nil && !hmac.Equal(el.Value, fiscal.OperatorSign(ofdKey, doc.Value[:off])) {
				return a, fmt.Errorf("%w: ФПО (1078) does not verify", ErrBadAck)
			}
		}
		off = next
	}
	need := order[:5]
	if ofdKey != nil {
		need = order
	}
	for _, t := range need {
		if !seen[t] {
			return a, fmt.Errorf("%w: no tag %d", ErrBadAck, t)
		}
	}
	return a, nil
}

// Acknowledge takes the OFD's acknowledgement: it acknowledges its document
// and every earlier one. It is durable once Sync, or another call that syncs,
// returns.
func (e *Emulator) Acknowledge(ctx context.Context, ack []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a, err := parseAck(ack, e.ofdKey)
	if err != nil {
		return fmt.Errorf("fn: acknowledgement: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.admitAck(a); err != nil || a.fd <= e.st.AckedThrough {
		return err
	}
	st := e.st
	err = e.acknowledged(&st, a.fd)
	if err == nil {
		err = e.commit(&st, 0, a.doc)
	}
	if err != nil {
		return fmt.Errorf("fn: acknowledgement for FD %d: %w", a.fd, err)
	}
	e.log.Debug("fn: acknowledged", "fd", a.fd)
	return nil
}

// storedAck is an acknowledgement the drive keeps: its STLV 7, as the OFD
// sent it, and the FD it acknowledged.
type storedAck struct {
	fd  uint32
	doc []byte
}

// Acknowledgement is the OFD's acknowledgement of FD fd as the drive keeps it
// (41h): its STLV 7, as the OFD sent it. It is ErrNoDocument for a document
// not acknowledged, or acknowledged only by a later document's
// acknowledgement, which acknowledges every one before it.
func (e *Emulator) Acknowledgement(ctx context.Context, fd uint32) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fd == 0 || fd > e.st.AckedThrough {
		return nil, fmt.Errorf("fn: FD %d not acknowledged (last %d, acknowledged through %d): %w", fd, e.st.LastFD, e.st.AckedThrough, ErrNoDocument)
	}
	for _, a := range e.pendingAcks {
		if a.fd == fd {
			return bytes.Clone(a.doc), nil
		}
	}
	var doc []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		doc = bytes.Clone(tx.Bucket(bucketAcks).Get(fdKey(fd)))
		return nil
	})
	e.rel.Release() // advice only: on failure the read pages stay mapped
	if err == nil && doc == nil {
		err = fmt.Errorf("fn: FD %d acknowledged by a later document's acknowledgement, none of its own kept: %w", fd, ErrNoDocument)
	}
	return doc, err
}

// takeOldAck takes the acknowledgement a state from before acknowledgements
// were kept by FD holds, as one journaled since the last checkpoint unless it
// is the last one taken already, and clears it from st.
func (e *Emulator) takeOldAck(st *driveState) {
	if n := len(e.pendingAcks); st.OldLastAckFD != 0 && (n == 0 || e.pendingAcks[n-1].fd < st.OldLastAckFD) {
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.OldLastAckFD, doc: bytes.Clone(st.OldLastAck)})
	}
	st.OldLastAck, st.OldLastAckFD = nil, 0
}

// admitAck checks an acknowledgement against the drive's queue.
func (e *Emulator) admitAck(a ofdAck) error {
	switch {
	case a.driveNumber != e.number:
		return fmt.Errorf("fn: acknowledgement for drive %q, this is %s: %w", a.driveNumber, e.number, ErrBadAck)
	case a.fd <= e.st.AckedThrough:
		return nil
	case a.fd > e.st.LastFD:
		return fmt.Errorf("fn: acknowledgement for FD %d, unsent are %d–%d: %w", a.fd, e.st.AckedThrough+1, e.st.LastFD, ErrBadAck)
	case a.code != 0:
		return fmt.Errorf("fn: acknowledgement for FD %d: response code %d (1022): %w", a.fd, a.code, ErrOFDRejected)
	}
	return nil
}

// acknowledged moves st's acknowledged FD up to fd, and its first unsent
// document's time to the next one's.
func (e *Emulator) acknowledged(st *driveState, fd uint32) error {
	st.AckedThrough, st.FirstUnsentTime = fd, time.Time{}
	if st.unsent() == 0 {
		return nil
	}
	rec, err := e.record(fd + 1)
	if err != nil {
		return err
	}
	a, err := archivedFrom(fd+1, rec, false)
	st.FirstUnsentTime = a.Time
	return err
}

// Sync returns once every document signed and every acknowledgement taken so
// far is durable.
func (e *Emulator) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.syncLocked(); err != nil {
		return fmt.Errorf("fn: sync: %w", err)
	}
	return nil
}

// syncLocked returns once every commit made so far is durable. It syncs the
// journal, or waits for a sync already running and syncs again if that one
// began before the last commit. Callers hold mu; it is released during a sync,
// so that documents go on being signed meanwhile.
func (e *Emulator) syncLocked() error {
	for target := e.st.Seq; e.synced < target; {
		if e.syncing {
			e.syncDone.Wait()
			continue
		}
		seq, fd := e.st.Seq, e.st.LastFD
		e.syncing = true
		e.syncs++
		e.mu.Unlock()
		err := e.jr.sync()
		e.mu.Lock()
		e.syncing = false
		e.syncDone.Broadcast()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		e.synced, e.durableFD = max(e.synced, seq), max(e.durableFD, fd)
	}
	return nil
}

// Check verifies the drive's invariants and writes nothing: bbolt's own, the
// archive (the checkpointed documents, then those only in the journal so far)
// numbered 1…LastFD with no gap and nothing beyond, each one's 1040 its number
// and its ФПД verifying, the OFD queue's counters within the archive, and each
// acknowledgement kept a document 7 whose 1040 is the acknowledged FD, within
// those acknowledged.
func (e *Emulator) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	want := uint32(1)
	verify := func(fd uint32, rec []byte) error {
		if fd != want {
			return fmt.Errorf("fn: check: archive holds FD %d where %d was due", fd, want)
		}
		a, err := archivedFrom(fd, rec, false)
		if err != nil {
			return fmt.Errorf("fn: check: %w", err)
		}
		fpd, err := fiscal.VerifyFiscalSign(e.key, a.TLV)
		if err != nil {
			return fmt.Errorf("fn: check: FD %d: %w", fd, err)
		}
		if fpd != a.FPD {
			return fmt.Errorf("fn: check: FD %d: stored ФПД %d, document carries %d", fd, a.FPD, fpd)
		}
		if got, err := docFD(a.TLV); err != nil || got != fd {
			return fmt.Errorf("fn: check: FD %d: its 1040 is %d (%v)", fd, got, err)
		}
		want++
		return nil
	}
	err := e.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("fn: check: %w", err)
		}
		c := tx.Bucket(bucketDocs).Cursor()
		for k, rec := c.First(); k != nil; k, rec = c.Next() {
			if err := verify(binary.BigEndian.Uint32(k), rec); err != nil {
				return err
			}
		}
		c = tx.Bucket(bucketAcks).Cursor()
		for k, doc := c.First(); k != nil; k, doc = c.Next() {
			if err := e.checkAck(binary.BigEndian.Uint32(k), doc); err != nil {
				return err
			}
		}
		return nil
	})
	for i, rec := range e.pending { // journaled, not yet checkpointed
		if err == nil {
			err = verify(e.firstPending()+uint32(i), rec)
		}
	}
	for _, a := range e.pendingAcks {
		if err == nil {
			err = e.checkAck(a.fd, a.doc)
		}
	}
	switch {
	case err != nil:
		return err
	case want-1 != e.st.LastFD:
		return fmt.Errorf("fn: check: archive ends at FD %d, counter says %d", want-1, e.st.LastFD)
	case e.st.AckedThrough > e.st.LastFD:
		return fmt.Errorf("fn: check: acknowledged through FD %d beyond the last %d", e.st.AckedThrough, e.st.LastFD)
	}
	return nil
}

// checkAck verifies a kept acknowledgement of FD fd (see Check).
func (e *Emulator) checkAck(fd uint32, doc []byte) error {
	if fd == 0 || fd > e.st.AckedThrough {
		return fmt.Errorf("fn: check: an acknowledgement kept for FD %d, acknowledged through %d", fd, e.st.AckedThrough)
	}
	d, _, err := fiscal.NextElement(doc, 0)
	if err == nil && d.Tag != fiscal.DocOperatorAck {
		err = fmt.Errorf("document type %d, want 7", d.Tag)
	}
	if err != nil {
		return fmt.Errorf("fn: check: the acknowledgement of FD %d: %w", fd, err)
	}
	if got, err := docFD(doc); err != nil || got != fd {
		return fmt.Errorf("fn: check: the acknowledgement of FD %d: its 1040 is %d (%v)", fd, got, err)
	}
	return nil
}

// docFD reads the 1040 of a document STLV.
func docFD(doc []byte) (uint32, error) {
	d, _, err := fiscal.NextElement(doc, 0)
	if err != nil {
		return 0, err
	}
	els, err := fiscal.SplitElements(d.Value)
	if err != nil {
		return 0, err
	}
	for _, el := range els {
		if el.Tag == tagFD && len(el.Value) == 4 {
			return binary.LittleEndian.Uint32(el.Value), nil
		}
	}
	return 0, errors.New("no 1040")
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
