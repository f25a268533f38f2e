package store

import (
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
}

var bucketPrints = []byte("prints") // FD → Print: the durable print queue

// QueuePrint adds a document to the print queue; it survives restarts until Printed.
func (s *Store) QueuePrint(p Print) error {
	return s.update(func(tx *bolt.Tx) error { return queuePrint(tx, p) })
}

func queuePrint(tx *bolt.Tx, p Print) error {
	b, err := tx.CreateBucketIfNotExists(bucketPrints)
	if err != nil {
		return err
	}
	return putJSON(b, binary.BigEndian.AppendUint32(nil, p.FD), p)
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
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// Printed takes a document off the print queue.
func (s *Store) Printed(fd uint32) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPrints)
		if b == nil {
			return nil
		}
		return b.Delete(binary.BigEndian.AppendUint32(nil, fd))
	})
}
