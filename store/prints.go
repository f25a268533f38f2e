package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Print is a document waiting for the printer: the drive's FD, and whether it is a
// copy (a reprint the technician asked for) rather than the original.
type Print struct {
	FD   uint32 `json:"fd"`
	Copy bool   `json:"copy,omitempty"`
	key  []byte // its place in the queue, as Prints read it
}

// bucketPrints is the durable print queue: FD → the original's Print, and
// FD + a sequence number → each copy asked for, so that a copy queued while
// its original prints is a page of its own, printed after it.
var bucketPrints = []byte("prints")

// QueuePrint adds a document to the print queue; it survives restarts until Printed.
func (s *Store) QueuePrint(p Print) error {
	return s.update(func(tx *bolt.Tx) error { return queuePrint(tx, p) })
}

func queuePrint(tx *bolt.Tx, p Print) error {
	b, err := tx.CreateBucketIfNotExists(bucketPrints)
	if err != nil {
		return err
	}
	key := binary.BigEndian.AppendUint32(nil, p.FD)
	if p.Copy {
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		key = binary.BigEndian.AppendUint64(key, n)
	}
	return putJSON(b, key, p)
}

// Prints returns the print queue in document order.
func (s *Store) Prints() ([]Print, error) {
	var out []Print
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrints)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var p Print
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("store: print queue entry %x: %w", k, err)
			}
			p.key = bytes.Clone(k)
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// Printed takes a page Prints returned off the print queue; what was queued
// meanwhile, a copy of the same document among it, stays.
func (s *Store) Printed(p Print) error {
	key := p.key
	if key == nil {
		key = binary.BigEndian.AppendUint32(nil, p.FD)
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrints)
		if b == nil {
			return nil
		}
		return b.Delete(key)
	})
}
