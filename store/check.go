package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the store's invariants, as bbolt's tx.Check verifies its pages:
// each index entry points at a document in the matching state and each document is
// in exactly the indexes its state asks for; the reported index's kept count is its
// length; no two documents carry one drive number; and this shift's ledger counts
// equal the receipts the store holds for it.
// Tests and `kassa selftest` run it.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		inIndex := map[string]map[string]bool{}
		for _, name := range [][]byte{bucketAccepted, bucketUnreported, bucketReported} {
			ids := map[string]bool{}
			err := tx.Bucket(name).ForEach(func(k, id []byte) error {
				if tx.Bucket(bucketDocs).Get(id) == nil {
					return fmt.Errorf("store check: %s index %x names missing document %q", name, k, id)
				}
				ids[string(id)] = true
				return nil
			})
			if err != nil {
				return err
			}
			inIndex[string(name)] = ids
		}
		if n, want := reportedLen(tx), len(inIndex[string(bucketReported)]); n != want {
			return fmt.Errorf("store check: meta counts %d reported documents, the index holds %d", n, want)
		}
		err := tx.Bucket(bucketBodies).ForEach(func(id, _ []byte) error {
			if tx.Bucket(bucketDocs).Get(id) == nil {
				return fmt.Errorf("store check: a body for no document: %q", id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		var l Ledger
		if err := getJSON(tx.Bucket(bucketMeta), keyLedger, &l); err != nil {
			return err
		}
		fds := map[uint32]string{}
		var shiftCount uint32
		err = tx.Bucket(bucketDocs).ForEach(func(_, v []byte) error {
			d, err := decodeDoc(v)
			if err != nil {
				return err
			}
			if tx.Bucket(bucketBodies).Get([]byte(d.ID)) == nil {
				return fmt.Errorf("store check: document %q has no body", d.ID)
			}
			want := map[string]bool{
				string(bucketAccepted):   d.State == Accepted,
				string(bucketUnreported): d.State != Accepted && !d.Reported,
				string(bucketReported):   d.State != Accepted && d.Reported,
			}
			for name, should := range want {
				if inIndex[name][d.ID] != should {
					return fmt.Errorf("store check: document %q (%s, reported %v): in %s index = %v", d.ID, d.State, d.Reported, name, !should)
				}
			}
			if (d.State == Fiscalized) != (d.Fiscal != nil) {
				return fmt.Errorf("store check: document %q is %s with fiscal data %v", d.ID, d.State, d.Fiscal != nil)
			}
			if d.Fiscal != nil {
				if other, dup := fds[d.Fiscal.FD]; dup {
					return fmt.Errorf("store check: documents %q and %q both carry FD %d", other, d.ID, d.Fiscal.FD)
				}
				fds[d.Fiscal.FD] = d.ID
				if d.Fiscal.Shift == l.Shift && l.Shift != 0 {
					shiftCount++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		var ledgerCount uint32
		for _, n := range l.ShiftTotals.Count {
			ledgerCount += n
		}
		if l.ShiftOpen && ledgerCount != shiftCount {
			return fmt.Errorf("store check: ledger counts %d receipts in shift %d, the store holds %d", ledgerCount, l.Shift, shiftCount)
		}
		return nil
	})
}
