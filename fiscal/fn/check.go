package fn

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/openkassa/kassa/fiscal"
)

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
