package sim

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/store/boltfile"
	bolt "go.etcd.io/bbolt"
)

var bucketDocs = []byte("documents")

// Document is one document as the emulator keeps it.
type Document struct {
	DriveNumber string     `json:"fn"`
	FD          uint32     `json:"fd"`
	Type        fiscal.Tag `json:"type"`
	FPD         uint32     `json:"fpd"`      // the printed decimal ФПД
	Received    int        `json:"received"` // how many times the message came in
	FirstAt     time.Time  `json:"firstAt"`  // the OFD's clock at the first arrival
	TLV         []byte     `json:"tlv"`      // the document's STLV as the drive signed it
}

func openStore(path string) (*bolt.DB, error) {
	db, err := boltfile.Open(path, &bolt.Options{Timeout: 5 * time.Second},
		"It is the OFD emulator's own file: delete it to start an empty one")
	if err != nil {
		return nil, fmt.Errorf("ofd/sim: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketDocs)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("ofd/sim: %w", err)
	}
	return db, nil
}

// docKey orders documents by drive, then FD.
func docKey(drive string, fd uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(drive), fd)
}

// store keeps c's document once and counts its arrivals; first says whether it was new.
func (s *Server) store(c *ofd.Container, fpd uint32) (first bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs)
		k := docKey(c.DriveNumber, c.FD)
		d := Document{DriveNumber: c.DriveNumber, FD: c.FD, Type: c.DocType, FPD: fpd, FirstAt: s.cfg.Clock(), TLV: c.Document}
		if v := b.Get(k); v != nil {
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("stored document %s/%d: %w", c.DriveNumber, c.FD, err)
			}
		} else {
			first = true
		}
		d.Received++
		v, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	s.rel.Release() // advice only: on failure the pages stay mapped
	return first, err
}

// Count is how many distinct documents are stored.
func (s *Server) Count() int {
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketDocs).Stats().KeyN
		return nil
	})
	return n
}

// Document returns a stored document.
func (s *Server) Document(drive string, fd uint32) (Document, bool, error) {
	var d Document
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDocs).Get(docKey(drive, fd))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		return d, false, fmt.Errorf("ofd/sim: document %s/%d: %w", drive, fd, err)
	}
	return d, ok, nil
}

// Documents returns every stored document, by drive number and FD.
func (s *Server) Documents() ([]Document, error) {
	var out []Document
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDocs).ForEach(func(k, v []byte) error {
			var d Document
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("stored document %x: %w", k, err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ofd/sim: %w", err)
	}
	return out, nil
}
