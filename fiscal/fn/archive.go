package fn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/openkassa/kassa/fiscal"
)

// record reads the archive's record of FD fd: the journal's if it is not yet
// checkpointed, else the bbolt file's (copied out).
func (e *Emulator) record(fd uint32) ([]byte, error) {
	if first := e.firstPending(); fd >= first && fd-first < uint32(len(e.pending)) {
		return e.pending[fd-first], nil
	}
	rec, err := e.stored(bucketDocs, fd)
	if err == nil && rec == nil {
		err = fmt.Errorf("fn: FD %d missing from the archive: %w", fd, ErrNoDocument)
	}
	return rec, err
}

// stored reads what the bbolt file's bucket holds under FD fd, copied out;
// nil when it holds nothing.
func (e *Emulator) stored(bucket []byte, fd uint32) ([]byte, error) {
	var v []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucket).Get(fdKey(fd)))
		return nil
	})
	e.rel.Release() // advice only: on failure the read pages stay mapped
	return v, err
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
