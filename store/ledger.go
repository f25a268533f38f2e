package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Totals are counters by calculation sign (index 0 for приход … 3 for возврат расхода).
type Totals struct {
	Count      [4]uint32 `json:"count"`
	Sum        [4]int64  `json:"sum"`
	Cash       [4]int64  `json:"cash"`
	Electronic [4]int64  `json:"electronic"`
	Prepaid    [4]int64  `json:"prepaid"`
	Credit     [4]int64  `json:"credit"`
	Other      [4]int64  `json:"other"`
	// Corrections count correction receipts by sign; their sums are in the fields above too.
	Corrections [4]uint32 `json:"corrections"`
}

// Ledger is the register's running account: the drawer's cash, this shift's counters
// and the cumulative ones. It changes only in the same transaction as the document
// that changes it, and LastFD says which drive document it accounts for up to, so
// that recovery never counts a document twice.
type Ledger struct {
	Shift       uint32    `json:"shift"`
	ShiftOpen   bool      `json:"shiftOpen"`
	OpenedAt    time.Time `json:"openedAt,omitzero"`
	CashBalance int64     `json:"cashBalance"` // the drawer, carried to the next shift
	CashIn      int64     `json:"cashIn"`      // this shift
	CashOut     int64     `json:"cashOut"`     // this shift
	ShiftTotals Totals    `json:"shiftTotals"`
	Cumulative  Totals    `json:"cumulative"`
	LastFD      uint32    `json:"lastFd"`
}

// Ledger returns the current ledger (zero before the first document).
func (s *Store) Ledger() (Ledger, error) {
	var l Ledger
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketMeta), keyLedger, &l)
	})
	return l, err
}

// SetLedger replaces the ledger (shift open and close, cash in and out).
func (s *Store) SetLedger(l Ledger) error {
	return s.update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketMeta), keyLedger, &l)
	})
}

// Stop is the stop policy's state: whether the register takes documents.
type Stop struct {
	Stopped     bool      `json:"stopped"`
	Reason      string    `json:"reason,omitempty"`
	Kind        string    `json:"kind,omitempty"` // what stopped it: registration, drive, ofd
	Since       time.Time `json:"since,omitzero"`
	Consecutive int       `json:"consecutive"` // registration errors in a row
}

// Stop returns the stop state.
func (s *Store) Stop() (Stop, error) {
	var st Stop
	err := s.db.View(func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(bucketMeta), keyStop, &st)
	})
	return st, err
}

// SetStop records the stop state.
func (s *Store) SetStop(st Stop) error {
	return s.update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketMeta), keyStop, &st)
	})
}

// Event is one line of the register's event log.
type Event struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Log appends an event, dropping the oldest beyond the limit.
func (s *Store) Log(e Event) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(b, seqKey(seq), &e); err != nil {
			return err
		}
		if seq <= uint64(s.max.KeepEvents) {
			return nil
		}
		oldest := seqKey(seq - uint64(s.max.KeepEvents))
		c := b.Cursor()
		for k, _ := c.First(); k != nil && string(k) <= string(oldest); k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Events returns up to n most recent events, oldest first.
func (s *Store) Events(n int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("store: event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", key, err)
	}
	return nil
}

// Setting reads the named setting into v; it reports false when none is stored.
func (s *Store) Setting(name string, v any) (bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		key := []byte("setting/" + name)
		found = tx.Bucket(bucketMeta).Get(key) != nil
		return getJSON(tx.Bucket(bucketMeta), key, v)
	})
	return found, err
}

// SetSetting stores v under name.
func (s *Store) SetSetting(name string, v any) error {
	return s.update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketMeta), []byte("setting/"+name), v)
	})
}
