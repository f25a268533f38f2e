// Package boltstore is the cloud's embedded storage.Store: one bbolt file,
// cloud.db, for the sandbox and small installs. It owns the file's layout
// (buckets, schema version, migrations) and must never be shared by two
// processes: bbolt's file lock refuses a second one, and the holds on
// callback jobs and alert destinations live in this process's memory, so
// that a restart lets them go.
package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/store/boltfile"
	"github.com/openkassa/kassa/store/mapped"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta      = []byte("meta")        // "sandbox" → Sandbox; "command\0" point id → Command
	bucketAccounts  = []byte("accounts")    // cabinet login → Account
	bucketPoints    = []byte("points")      // point id → Point
	bucketCreds     = []byte("creds")       // integration userName → ShopLogin
	bucketCredIndex = []byte("credIndex")   // point id \0 clientId → userName
	bucketRegisters = []byte("registers")   // hex sha256(token) → Register
	bucketPointReg  = []byte("pointReg")    // point id → hex sha256(token)
	bucketDocs      = []byte("docs")        // point id \0 doc id → Document
	bucketBodies    = []byte("bodies")      // point id \0 doc id → the document, normalized
	bucketQueue     = []byte("queue")       // point id \0 seq → doc id: waiting or leased (see leasedEntry)
	bucketCallbacks = []byte("callbacks")   // point id \0 doc id → callback job (see jobValue)
	bucketUnacked   = []byte("unacked")     // point id \0 drive number \0 FD (uint32) → doc id: not yet acknowledged by the OFD
	bucketSessions  = []byte("sessions")    // hex sha256(cookie) → Session
	bucketIncidents = []byte("incidents")   // point id \0 kind [\0 doc id] → Incident: open alerts
	bucketAlertLog  = []byte("alertLog")    // seq → AlertEntry
	bucketOutbox    = []byte("alertOutbox") // channel \0 to \0 seq → nil: log entries not Done
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

// Store is the bbolt storage.Store.
type Store struct {
	db  *bolt.DB
	rel *mapped.Releaser // of db: in the one-process sandbox its pages count in the register's RSS
	storage.Wakes

	// regsMu guards regs alone: register reads take it inside transactions.
	regsMu sync.Mutex
	regs   map[string]decodedRegister // register id → the record last decoded

	holdsMu sync.Mutex
	jobs    map[string]hold // callback key → its holder
	dests   map[string]hold // alert destination (channel \0 to) → its holder

	stop chan struct{}
	wg   sync.WaitGroup
}

// hold is a node's hold on a callback job or an alert destination.
type hold struct {
	node  string
	until time.Time
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) the cloud's file at path, checking it
// (boltfile) and bringing an older layout up to date.
func Open(path string) (*Store, error) {
	db, err := boltfile.Open(path, &bolt.Options{Timeout: 2 * time.Second}, restoreAdvice)
	if err != nil {
		return nil, fmt.Errorf("cloud: %w", classify(err))
	}
	// Shops' posts and callbacks' outcomes go through db.Batch: the ones that
	// come together share a commit and its disk syncs. A lone one waits this long.
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketPoints, bucketCreds, bucketCredIndex,
			bucketRegisters, bucketPointReg, bucketDocs, bucketBodies, bucketQueue, bucketCallbacks,
			bucketUnacked, bucketSessions, bucketIncidents, bucketAlertLog, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return migrate(tx)
	})
	if err = classify(err); err != nil {
		db.Close()
		return nil, fmt.Errorf("cloud: init cloud.db: %w", err)
	}
	s := &Store{db: db, rel: mapped.NewReleaser(db), regs: map[string]decodedRegister{},
		jobs: map[string]hold{}, dests: map[string]hold{}, stop: make(chan struct{})}
	// The pages of cloud.db that requests mapped are let go a few times a
	// second, rather than after each of the many transactions.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.rel.Release() // advice only: on failure the pages stay mapped
			}
		}
	}()
	return s, nil
}

// Close stops the store's page releaser and closes the file.
func (s *Store) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.wg.Wait()
	return s.db.Close()
}

// DB is the store's bbolt file, for tests and checks that read the layout itself.
func (s *Store) DB() *bolt.DB { return s.db }

// migrate brings a file written by an older cloud up to date: documents'
// bodies move out of their records. (The points' default settings and the
// sandbox account's password hash are the server's upgrade, done through
// the interface.)
func migrate(tx *bolt.Tx) error {
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
	return nil
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
		var rec storage.Document
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

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// getJSON reports false when key is absent.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("cloud: stored %q: %w", key, err)
	}
	return true, nil
}

// mustJSON is getJSON with ErrNotFound for an absent key.
func mustJSON(b *bolt.Bucket, key []byte, v any) error {
	found, err := getJSON(b, key, v)
	if err == nil && !found {
		err = fmt.Errorf("%q: %w", key, storage.ErrNotFound)
	}
	return err
}

func docKey(pointID, id string) []byte { return []byte(pointID + "\x00" + id) }

// view and update run fn in a transaction unless ctx is done already; bbolt
// transactions are short and are not interrupted once begun.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return classify(s.db.Update(fn))
}

// batch is update through db.Batch: fn may run more than once, so it must
// set everything it tells.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return classify(s.db.Batch(fn))
}

// Ping reads the file in a transaction: it fails once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.view(ctx, func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("cloud: cloud.db: %w", err)
	}
	return nil
}

// classify marks a write that failed for want of space with
// storage.ErrNoSpace, keeping err in the chain. bbolt returns the file's
// errors from its writes and syncs as they are, but when growing the file
// or its mapping it keeps only their text (fmt's %s): the text is matched
// then.
func classify(err error) error {
	if err == nil || errors.Is(err, storage.ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()) {
		return fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
	}
	return err
}
