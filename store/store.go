// Package store is the register's own durable state: the documents taken from the
// cloud and where each stands (accepted → fiscalized or failed → reported), the shift
// ledger with the drawer's cash and the counters, the stop state, and a bounded
// event log, in one bbolt file. Every method that changes state has committed it
// (fsync'd) when it returns, so the runtime acknowledges nothing that a power cut
// could take back; only Accept and Reported leave their change to the next commit,
// since the cloud repeats what a crash would take from them. The store never talks
// to the drive: after a crash it may lag the drive by one document, and the runtime
// reconciles the two.
package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/openkassa/kassa/store/boltfile"
	"github.com/openkassa/kassa/store/mapped"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code writes; Open migrates older files up to it.
const SchemaVersion = 3

var (
	bucketMeta       = []byte("meta")
	bucketDocs       = []byte("docs")       // id → Doc (JSON) without its body
	bucketBodies     = []byte("bodies")     // id → the document as the cloud leased it
	bucketAccepted   = []byte("accepted")   // seq → id: waiting for the drive, in order
	bucketUnreported = []byte("unreported") // seq → id: result not yet confirmed by the cloud
	bucketReported   = []byte("reported")   // seq → id: reported, pruned oldest first
	bucketEvents     = []byte("events")     // seq → Event (JSON), bounded
	keySchema        = []byte("schema")
	keySeq           = []byte("seq")
	keyLedger        = []byte("ledger")
	keyReportedN     = []byte("reportedN") // the reported index's key count
	keyStop          = []byte("stop")
)

// ErrNotFound reports an id the store does not hold.
var ErrNotFound = errors.New("store: no such document")

// State is where a document stands in the register.
type State string

// Document states.
const (
	Accepted   State = "accepted"   // taken from the cloud, committed, not yet signed by the drive
	Fiscalized State = "fiscalized" // signed by the drive
	Failed     State = "failed"     // refused before or by the drive; no fiscal document exists
)

// Fiscal is what the drive returned for a document.
type Fiscal struct {
	FD     uint32    `json:"fd"`
	FPD    uint32    `json:"fpd"`
	Shift  uint32    `json:"shift"`
	Number uint32    `json:"number"`
	Time   time.Time `json:"time"`
}

// Doc is one document taken from the cloud.
type Doc struct {
	ID         string          `json:"id"`
	Seq        uint64          `json:"seq"`
	State      State           `json:"state"`
	Body       json.RawMessage `json:"-"` // kept apart: state changes neither read nor write it
	AcceptedAt time.Time       `json:"acceptedAt"`
	Fiscal     *Fiscal         `json:"fiscal,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"` // what is reported to the cloud
	Reported   bool            `json:"reported"`
	ReportedAt time.Time       `json:"reportedAt,omitzero"`
	Error      string          `json:"error,omitempty"`
}

// Store is the register's bbolt file. It is safe for concurrent use; bbolt
// serialises the writers.
type Store struct {
	db   *bolt.DB
	path string
	max  Limits
	rel  *mapped.Releaser

	mu       sync.Mutex
	taken    []takenDoc           // leased by the cloud, not yet committed
	reported map[string]time.Time // confirmed by the cloud, not yet committed
	flush    *time.Timer          // commits them when no other write does
	noSpace  error                // the last write failed for want of space
}

// takenDoc is a document Accept took, waiting for a commit.
type takenDoc struct {
	NewDoc
	at time.Time
}

// lag bounds how long a taken document or a confirmation waits for another
// write to carry it.
const lag = time.Second

// Limits bound the store's growth: the drive is the archive, so reported documents
// are pruned and the event log is a ring.
type Limits struct {
	KeepReported int // reported documents kept (newest first); 0 = 10,000
	KeepEvents   int // events kept; 0 = 1,000
	// MinFree is the free space below which DiskFull says the disk is full;
	// 0 = 16 MiB.
	MinFree uint64
}

// Open opens or creates the store at path and migrates it to SchemaVersion.
func Open(path string, lim Limits) (*Store, error) {
	if lim.KeepReported == 0 {
		lim.KeepReported = 10000
	}
	if lim.KeepEvents == 0 {
		lim.KeepEvents = 1000
	}
	if lim.MinFree == 0 {
		lim.MinFree = defaultMinFree
	}
	db, err := boltfile.Open(path, &bolt.Options{Timeout: 2 * time.Second}, RebuildAdvice)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{db: db, path: path, max: lim, rel: mapped.NewReleaser(db), reported: map[string]time.Time{}}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if err := checkSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %w", &boltfile.DamagedError{Path: path, Problem: err.Error(), Advice: RebuildAdvice})
	}
	return s, nil
}

// RebuildAdvice is what to do with a damaged kassa.db: the drive's archive
// holds every fiscal document, and a register with an empty store reads it
// back (docs/recovery.md).
const RebuildAdvice = "Stop the register, move kassa.db aside (keep it for the service) and start again: " +
	"the register rebuilds its ledger from the drive's archive (docs/recovery.md)"

// checkSchema verifies what every transaction relies on: each bucket of the
// current schema is there, and the meta's counters decode.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketDocs, bucketBodies, bucketAccepted, bucketUnreported, bucketReported, bucketEvents} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %q is missing", b)
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) != 4 {
			return fmt.Errorf("its schema version is %d bytes, not 4", len(v))
		}
		if v := tx.Bucket(bucketMeta).Get(keyReportedN); v != nil && len(v) != 8 {
			return fmt.Errorf("its count of reported documents is %d bytes, not 8", len(v))
		}
		return nil
	})
}

// migrations[i] brings a file from schema i to i+1.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 → 1: the first layout
		for _, b := range [][]byte{bucketDocs, bucketAccepted, bucketUnreported, bucketReported, bucketEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	func(tx *bolt.Tx) error { // 1 → 2: the reported index's count kept in meta
		n := 0
		c := tx.Bucket(bucketReported).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return tx.Bucket(bucketMeta).Put(keyReportedN, seqKey(uint64(n)))
	},
	func(tx *bolt.Tx) error { // 2 → 3: documents' bodies in a bucket of their own
		bodies, err := tx.CreateBucketIfNotExists(bucketBodies)
		if err != nil {
			return err
		}
		docs := tx.Bucket(bucketDocs)
		var ids [][]byte
		docs.ForEach(func(id, _ []byte) error { ids = append(ids, bytes.Clone(id)); return nil })
		for _, id := range ids {
			var old struct {
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(docs.Get(id), &old); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
			if old.Body == nil {
				continue // moved already
			}
			d, err := decodeDoc(docs.Get(id))
			if err != nil {
				return err
			}
			if err := bodies.Put(id, old.Body); err != nil {
				return err
			}
			if err := putDoc(tx, d); err != nil {
				return err
			}
		}
		return nil
	},
}

func (s *Store) migrate() error {
	return s.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := 0
		if b := meta.Get(keySchema); b != nil {
			v = int(binary.BigEndian.Uint32(b))
		}
		if v > SchemaVersion {
			return fmt.Errorf("store: file has schema %d, this build knows up to %d", v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("store: migrate schema %d → %d: %w", v, v+1, err)
			}
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.flush != nil {
		s.flush.Stop()
	}
	n := len(s.taken) + len(s.reported)
	s.mu.Unlock()
	var err error
	if n > 0 {
		err = s.update(func(*bolt.Tx) error { return nil })
	}
	return errors.Join(err, s.db.Close())
}

// update runs fn in a write transaction that first commits the confirmations
// of Reported and the documents of Accept since the last one.
func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	var confirmed map[string]time.Time
	var taken []takenDoc
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Under bbolt's writer lock, so that documents are committed in the
		// order Accept took them whichever write carries them.
		s.mu.Lock()
		confirmed, taken = maps.Clone(s.reported), s.taken
		s.taken = nil
		s.mu.Unlock()
		if len(confirmed) > 0 {
			if err := s.markReported(tx, confirmed); err != nil {
				return err
			}
		}
		if err := accept(tx, taken); err != nil {
			return err
		}
		return fn(tx)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteWrite(err)
	if err != nil {
		s.taken = append(taken, s.taken...) // for the next write
		return err
	}
	for id, at := range confirmed {
		if s.reported[id].Equal(at) {
			delete(s.reported, id)
		}
	}
	return nil
}

// NewDoc is a document as the cloud leased it.
type NewDoc struct {
	ID   string
	Body json.RawMessage
}

// Accept takes documents leased from the cloud, in order. They are committed with
// the next write, by Accepted, or within lag: they need no commit of their own,
// since the cloud hands a restarted register back every document still leased to
// it. Accepted commits them before it returns them, so none is signed before it
// is durable here. An id the store already holds is not taken again (a lease
// repeated by the cloud never makes a second receipt); if its result was already
// reported, it is queued to be reported again, since the cloud evidently did not
// keep it.
func (s *Store) Accept(docs []NewDoc, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.taken = append(s.taken, takenDoc{d, now})
	}
	s.flushSoon()
}

// accept commits the taken documents in tx.
func accept(tx *bolt.Tx, taken []takenDoc) error {
	docsB := tx.Bucket(bucketDocs)
	for _, nd := range taken {
		if old := docsB.Get([]byte(nd.ID)); old != nil {
			d, err := decodeDoc(old)
			if err != nil {
				return err
			}
			if d.Reported {
				if err := unreport(tx, d); err != nil {
					return err
				}
			}
			continue
		}
		seq, err := nextSeq(tx)
		if err != nil {
			return err
		}
		d := &Doc{ID: nd.ID, Seq: seq, State: Accepted, AcceptedAt: nd.at}
		if err := putDoc(tx, d); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBodies).Put([]byte(nd.ID), nd.Body); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAccepted).Put(seqKey(seq), []byte(nd.ID)); err != nil {
			return err
		}
	}
	return nil
}

// Accepted commits the documents Accept took, then returns the documents
// waiting for the drive, oldest first.
func (s *Store) Accepted() ([]*Doc, error) {
	s.mu.Lock()
	n := len(s.taken)
	s.mu.Unlock()
	if n > 0 {
		if err := s.update(func(*bolt.Tx) error { return nil }); err != nil {
			return nil, err
		}
	}
	return s.index(bucketAccepted, 0, nil)
}

// Waiting is how many documents wait for the drive: those accepted, and those
// Accept took and no write has committed yet. Unlike Accepted it writes nothing.
func (s *Store) Waiting() (int, error) {
	s.mu.Lock()
	taken := slices.Clone(s.taken)
	s.mu.Unlock()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAccepted).Stats().KeyN
		docs, seen := tx.Bucket(bucketDocs), map[string]bool{}
		for _, d := range taken {
			if !seen[d.ID] && docs.Get([]byte(d.ID)) == nil {
				n++
			}
			seen[d.ID] = true
		}
		return nil
	})
	return n, err
}

// Unreported returns up to max documents whose result the cloud has not confirmed, oldest first.
// Those confirmed and not yet committed are left out.
func (s *Store) Unreported(max int) ([]*Doc, error) {
	s.mu.Lock()
	confirmed := maps.Clone(s.reported)
	s.mu.Unlock()
	return s.index(bucketUnreported, max, confirmed)
}

func (s *Store) index(bucket []byte, max int, skip map[string]time.Time) ([]*Doc, error) {
	var out []*Doc
	err := s.db.View(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := tx.Bucket(bucket).Cursor()
		for k, id := c.First(); k != nil && (max <= 0 || len(out) < max); k, id = c.Next() {
			if _, ok := skip[string(id)]; ok {
				continue
			}
			d, err := decodeDoc(docs.Get(id))
			if err != nil {
				return fmt.Errorf("store: %s index entry %x: %w", bucket, k, err)
			}
			out = append(out, withBody(tx, d))
		}
		return nil
	})
	return out, err
}

// Get returns one document.
func (s *Store) Get(id string) (*Doc, error) {
	var d *Doc
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs).Get([]byte(id))
		if b == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		var err error
		d, err = decodeDoc(b)
		if err == nil {
			withBody(tx, d)
		}
		return err
	})
	return d, err
}

// Docs returns every document held, in acceptance order, filtered by keep (nil keeps all).
func (s *Store) Docs(keep func(*Doc) bool) ([]*Doc, error) {
	var out []*Doc
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDocs).ForEach(func(_, v []byte) error {
			d, err := decodeDoc(v)
			if err != nil {
				return err
			}
			if withBody(tx, d); keep == nil || keep(d) {
				out = append(out, d)
			}
			return nil
		})
	})
	sortBySeq(out)
	return out, err
}

// Fiscalize records that the drive signed document id, its result for the cloud,
// the ledger's new state and, when print is set, its place in the print queue, in
// one transaction: a receipt that must be printed is never signed and forgotten.
func (s *Store) Fiscalize(id string, f Fiscal, result json.RawMessage, ledger *Ledger, print bool) error {
	st := Settlement{Ledger: ledger}
	st.Fiscalized(id, f, result, print)
	return s.Settle(&st)
}

// Fail records that document id will not be fiscalized, with the result for the cloud.
func (s *Store) Fail(id string, reason string, result json.RawMessage) error {
	var st Settlement
	st.Failed(id, reason, result)
	return s.Settle(&st)
}

// Settlement gathers the outcomes of accepted documents, fiscalized or failed, and
// the ledger after them, to be committed together by Settle: one transaction, and
// one disk sync, for a run of receipts.
type Settlement struct {
	Ledger *Ledger // the ledger after the last of them; nil leaves it as it is
	items  []settled
}

type settled struct {
	id     string
	fiscal *Fiscal // nil: failed
	result json.RawMessage
	reason string
	print  bool
}

// Fiscalized adds a document the drive signed; print queues it for the printer.
func (st *Settlement) Fiscalized(id string, f Fiscal, result json.RawMessage, print bool) {
	st.items = append(st.items, settled{id: id, fiscal: &f, result: result, print: print})
}

// Failed adds a document that will not be fiscalized.
func (st *Settlement) Failed(id, reason string, result json.RawMessage) {
	st.items = append(st.items, settled{id: id, result: result, reason: reason})
}

// Len is the number of documents gathered.
func (st *Settlement) Len() int { return len(st.items) }

// Prints reports whether a gathered document is queued for the printer.
func (st *Settlement) Prints() bool {
	for _, it := range st.items {
		if it.print {
			return true
		}
	}
	return false
}

// Settle commits a settlement in one transaction. Each document must still be
// accepted; if one is not, nothing is committed.
func (s *Store) Settle(st *Settlement) error {
	defer s.release()
	return s.update(func(tx *bolt.Tx) error {
		for _, it := range st.items {
			if err := settle(tx, it); err != nil {
				return err
			}
		}
		if st.Ledger != nil {
			return putJSON(tx.Bucket(bucketMeta), keyLedger, st.Ledger)
		}
		return nil
	})
}

// Requeue puts a failed document back in the drive's queue (remote-fiscalization mode).
func (s *Store) Requeue(id string) error {
	return s.update(func(tx *bolt.Tx) error {
		d, err := getDoc(tx, id)
		if err != nil {
			return err
		}
		if d.State != Failed {
			return fmt.Errorf("store: document %q is %s, only a failed one goes back to the queue", id, d.State)
		}
		d.State, d.Error, d.Result, d.Reported = Accepted, "", nil, false
		if err := tx.Bucket(bucketUnreported).Delete(seqKey(d.Seq)); err != nil {
			return err
		}
		if err := unindexReported(tx, d.Seq); err != nil {
			return err
		}
		if err := putDoc(tx, d); err != nil {
			return err
		}
		return tx.Bucket(bucketAccepted).Put(seqKey(d.Seq), []byte(id))
	})
}

func settle(tx *bolt.Tx, it settled) error {
	d, err := getDoc(tx, it.id)
	if err != nil {
		return err
	}
	if d.State != Accepted {
		return fmt.Errorf("store: document %q is already %s", it.id, d.State)
	}
	if it.fiscal != nil {
		d.State, d.Fiscal, d.Result, d.Error = Fiscalized, it.fiscal, it.result, ""
		if it.print {
			if err := queuePrint(tx, Print{FD: it.fiscal.FD}); err != nil {
				return err
			}
		}
	} else {
		d.State, d.Result, d.Error = Failed, it.result, it.reason
	}
	d.Reported = false
	if err := putDoc(tx, d); err != nil {
		return err
	}
	if err := tx.Bucket(bucketAccepted).Delete(seqKey(d.Seq)); err != nil {
		return err
	}
	return tx.Bucket(bucketUnreported).Put(seqKey(d.Seq), []byte(it.id))
}

// Reported marks the results of ids as confirmed by the cloud. The mark is
// committed with the next write, or within lag: it needs no commit of
// its own, since a confirmation lost in a crash only makes the register report
// the result again, which the cloud takes as a repeat.
func (s *Store) Reported(ids []string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.reported[id] = now
	}
	s.flushSoon()
	return nil
}

// flushSoon has what waits for a commit committed within lag if no other write
// carries it first. Callers hold mu.
func (s *Store) flushSoon() {
	if s.flush == nil {
		s.flush = time.AfterFunc(lag, s.flushPending)
	}
}

// flushPending commits the taken documents and the confirmations no other
// write has carried. On failure they stay for the next write.
func (s *Store) flushPending() {
	s.mu.Lock()
	s.flush = nil
	n := len(s.taken) + len(s.reported)
	s.mu.Unlock()
	if n > 0 {
		defer s.release()
		s.update(func(*bolt.Tx) error { return nil })
	}
}

// markReported moves the confirmed documents from the unreported index to the
// reported one and prunes the oldest reported documents beyond the limit.
func (s *Store) markReported(tx *bolt.Tx, confirmed map[string]time.Time) error {
	for id, at := range confirmed {
		d, err := getDoc(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if d.State == Accepted || d.Reported {
			continue
		}
		d.Reported, d.ReportedAt = true, at
		if err := putDoc(tx, d); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUnreported).Delete(seqKey(d.Seq)); err != nil {
			return err
		}
		if err := indexReported(tx, d); err != nil {
			return err
		}
	}
	return s.prune(tx)
}

// release lets go of the file's pages mapped by reads, now and then. It is
// advice to the kernel: should it fail, the pages merely stay mapped.
func (s *Store) release() { s.rel.Release() }

// unreport queues a reported document's result to be reported again.
func unreport(tx *bolt.Tx, d *Doc) error {
	d.Reported = false
	if err := putDoc(tx, d); err != nil {
		return err
	}
	if err := unindexReported(tx, d.Seq); err != nil {
		return err
	}
	return tx.Bucket(bucketUnreported).Put(seqKey(d.Seq), []byte(d.ID))
}

// prune drops the oldest reported documents beyond KeepReported. The reported index
// is in acceptance order, so this walks only what it deletes; the open shift's
// documents are kept whatever the limit.
func (s *Store) prune(tx *bolt.Tx) error {
	excess := reportedLen(tx) - s.max.KeepReported
	if excess <= 0 {
		return nil
	}
	var l Ledger
	if err := getJSON(tx.Bucket(bucketMeta), keyLedger, &l); err != nil {
		return err
	}
	c := tx.Bucket(bucketReported).Cursor()
	for k, id := c.First(); k != nil && excess > 0; k, id = c.First() {
		d, err := getDoc(tx, string(id))
		if err != nil {
			return err
		}
		if d.Fiscal != nil && d.Fiscal.Shift == l.Shift && l.ShiftOpen {
			break // the open shift's receipts stay until it closes: Check counts them
		}
		if err := tx.Bucket(bucketDocs).Delete(id); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBodies).Delete(id); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if err := addReportedLen(tx, -1); err != nil {
			return err
		}
		excess--
	}
	return nil
}

// The reported index's length is kept in meta and changed with the index, so
// that pruning after every report need not walk it: a walk would read, and map,
// every page of an index of up to KeepReported entries each time.

func reportedLen(tx *bolt.Tx) int {
	b := tx.Bucket(bucketMeta).Get(keyReportedN)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint64(b))
}

func addReportedLen(tx *bolt.Tx, delta int) error {
	return tx.Bucket(bucketMeta).Put(keyReportedN, seqKey(uint64(reportedLen(tx)+delta)))
}

func indexReported(tx *bolt.Tx, d *Doc) error {
	rep := tx.Bucket(bucketReported)
	if rep.Get(seqKey(d.Seq)) != nil {
		return nil
	}
	if err := rep.Put(seqKey(d.Seq), []byte(d.ID)); err != nil {
		return err
	}
	return addReportedLen(tx, 1)
}

func unindexReported(tx *bolt.Tx, seq uint64) error {
	rep := tx.Bucket(bucketReported)
	if rep.Get(seqKey(seq)) == nil {
		return nil
	}
	if err := rep.Delete(seqKey(seq)); err != nil {
		return err
	}
	return addReportedLen(tx, -1)
}

func getDoc(tx *bolt.Tx, id string) (*Doc, error) {
	b := tx.Bucket(bucketDocs).Get([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return decodeDoc(b)
}

func putDoc(tx *bolt.Tx, d *Doc) error {
	return putJSON(tx.Bucket(bucketDocs), []byte(d.ID), d)
}

// withBody sets d's body from the bodies bucket.
func withBody(tx *bolt.Tx, d *Doc) *Doc {
	d.Body = bytes.Clone(tx.Bucket(bucketBodies).Get([]byte(d.ID)))
	return d
}

func decodeDoc(b []byte) (*Doc, error) {
	d := new(Doc)
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("store: decode document: %w", err)
	}
	return d, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func nextSeq(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	var seq uint64
	if b := meta.Get(keySeq); b != nil {
		seq = binary.BigEndian.Uint64(b)
	}
	seq++
	return seq, meta.Put(keySeq, seqKey(seq))
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func sortBySeq(ds []*Doc) {
	slices.SortFunc(ds, func(a, b *Doc) int { return cmp.Compare(a.Seq, b.Seq) })
}
