package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

func queueKey(pointID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pointID+"\x00"), seq)
}

// A queue entry's value is the document's id, followed for a leased document
// by a NUL and its lease's expiry (Unix nanoseconds, u64 BE): a lease scan
// passes running leases over without reading their documents. Ids hold no
// control characters (the shop API refuses them).
func leasedEntry(id string, until time.Time) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(id), 0), uint64(until.UnixNano()))
}

// queueEntry reads a queue entry's value: the id, and the lease's expiry if
// the entry says it is leased.
func queueEntry(v []byte) (id string, until time.Time) {
	if n := len(v) - 9; n > 0 && v[n] == 0 {
		return string(v[:n]), time.Unix(0, int64(binary.BigEndian.Uint64(v[n+1:])))
	}
	return string(v), time.Time{}
}

// unackedKey orders a point's documents not yet acknowledged by the OFD by drive
// and fiscal document number, so an acknowledgement is one short cursor walk.
func unackedKey(pointID, drive string, fd uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(pointID+"\x00"+drive+"\x00"), fd)
}

// getDoc reads a document's record with CallbackDue.
func getDoc(tx *bolt.Tx, key []byte, d *storage.Document) (bool, error) {
	found, err := getJSON(tx.Bucket(bucketDocs), key, d)
	if found && err == nil {
		d.CallbackDue = tx.Bucket(bucketCallbacks).Get(key) != nil
	}
	return found, err
}

func (s *Store) PostDocument(ctx context.Context, n storage.NewDocument) (storage.Document, bool, error) {
	var rec storage.Document
	created := false
	key := docKey(n.PointID, n.ID)
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		rec, created = storage.Document{}, false
		docs := tx.Bucket(bucketDocs)
		found, err := getDoc(tx, key, &rec)
		if err != nil {
			return err
		}
		if found {
			if rec.Hash != n.Hash {
				return storage.ErrConflict
			}
			return nil
		}
		seq, err := docs.NextSequence()
		if err != nil {
			return err
		}
		rec = storage.Document{ID: n.ID, PointID: n.PointID, Seq: seq, Hash: n.Hash,
			ResponseURL: n.ResponseURL, State: cloud.Queued, Changed: n.At, Created: n.At, Message: n.Message}
		if err := tx.Bucket(bucketQueue).Put(queueKey(n.PointID, seq), []byte(n.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBodies).Put(key, n.Body); err != nil {
			return err
		}
		created = true
		return putJSON(docs, key, rec)
	})
	if errors.Is(err, storage.ErrConflict) {
		return rec, false, fmt.Errorf("document %q of point %s: %w", n.ID, n.PointID, err)
	}
	if err != nil {
		return storage.Document{}, false, fmt.Errorf("cloud: post %q to point %s: %w", n.ID, n.PointID, err)
	}
	if created {
		s.Notify(ctx, n.PointID)
	}
	return rec, created, nil
}

func (s *Store) Document(ctx context.Context, pointID, id string) (storage.Document, error) {
	var rec storage.Document
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getDoc(tx, docKey(pointID, id), &rec)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.Document{}, fmt.Errorf("document %q of point %s: %w", id, pointID, err)
	}
	return rec, nil
}

func (s *Store) DocumentBody(ctx context.Context, pointID, id string) ([]byte, error) {
	var body []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		body = bytes.Clone(tx.Bucket(bucketBodies).Get(docKey(pointID, id)))
		if body == nil {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("body of document %q of point %s: %w", id, pointID, err)
	}
	return body, nil
}

func (s *Store) Lease(ctx context.Context, r storage.LeaseRequest, takenMessage string) (storage.Leased, error) {
	out := storage.Leased{Documents: []storage.Document{}}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		prefix := []byte(r.PointID + "\x00")
		from := prefix
		if r.Resume && r.After != "" {
			var prev storage.Document
			found, err := getJSON(docs, docKey(r.PointID, r.After), &prev)
			if err != nil {
				return err
			}
			if found {
				from = queueKey(r.PointID, prev.Seq+1)
			}
		}
		running := func(until time.Time) {
			if out.NextExpiry.IsZero() || until.Before(out.NextExpiry) {
				out.NextExpiry = until
			}
		}
		queue := tx.Bucket(bucketQueue)
		c := queue.Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(out.Documents) < r.Max; k, v = c.Next() {
			id, until := queueEntry(v)
			if !r.Resume && r.Now.Before(until) {
				running(until) // a running lease, known from the queue alone
				continue
			}
			var rec storage.Document
			found, err := getJSON(docs, docKey(r.PointID, id), &rec)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			mine := rec.LeaseOwner == "" || rec.LeaseOwner == r.Owner
			switch {
			case rec.State == cloud.Queued || rec.State == cloud.Requeued:
				rec.State, rec.Changed, rec.Message = cloud.Pending, r.Now, takenMessage
			case rec.State == cloud.Pending && (!r.Now.Before(rec.LeasedUntil) || r.Resume && mine):
				// Lease ended, or its register restarted: it gets it again under the same id.
			case rec.State == cloud.Pending:
				running(rec.LeasedUntil)
				continue
			default:
				continue
			}
			rec.LeasedUntil, rec.LeaseOwner = r.Until, r.Owner
			rec.Leases++
			if err := putJSON(docs, docKey(r.PointID, rec.ID), rec); err != nil {
				return err
			}
			// The cursor stays valid: the key exists, only its value changes.
			if err := queue.Put(bytes.Clone(k), leasedEntry(rec.ID, rec.LeasedUntil)); err != nil {
				return err
			}
			rec.Body = bytes.Clone(tx.Bucket(bucketBodies).Get(docKey(r.PointID, rec.ID)))
			rec.CallbackDue = tx.Bucket(bucketCallbacks).Get(docKey(r.PointID, rec.ID)) != nil
			out.Documents = append(out.Documents, rec)
		}
		return nil
	})
	if err != nil {
		return storage.Leased{}, fmt.Errorf("cloud: lease for point %s: %w", r.PointID, err)
	}
	return out, nil
}

func (s *Store) Report(ctx context.Context, pointID string, ids []string, at time.Time, apply func(int, *storage.Document)) (storage.Reported, error) {
	var out storage.Reported
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out = storage.Reported{}
		docs := tx.Bucket(bucketDocs)
		for i, id := range ids {
			key := docKey(pointID, id)
			var rec storage.Document
			found, err := getJSON(docs, key, &rec)
			if err != nil {
				return err
			}
			if !found {
				out.Unknown = append(out.Unknown, id)
				continue
			}
			if rec.Reported() {
				continue
			}
			if err := tx.Bucket(bucketQueue).Delete(queueKey(pointID, rec.Seq)); err != nil {
				return err
			}
			apply(i, &rec)
			rec.LeasedUntil, rec.LeaseOwner = time.Time{}, ""
			if err := s.awaitAck(tx, pointID, &rec, at); err != nil {
				return err
			}
			if rec.ResponseURL != "" {
				// Due again; a count of refusals already there stays.
				cb := tx.Bucket(bucketCallbacks)
				j := readJob(cb.Get(key))
				j.due, j.seq = at, rec.Seq
				if err := cb.Put(key, j.value()); err != nil {
					return err
				}
				rec.CallbackDue = true
			}
			if err := putJSON(docs, key, rec); err != nil {
				return err
			}
			out.Changed = append(out.Changed, rec)
		}
		return nil
	})
	if err != nil {
		return storage.Reported{}, fmt.Errorf("cloud: results for point %s: %w", pointID, err)
	}
	// A job made due is nobody's yet, even if its document's last one was held.
	s.holdsMu.Lock()
	for _, d := range out.Changed {
		if d.CallbackDue {
			delete(s.jobs, string(docKey(pointID, d.ID)))
		}
	}
	s.holdsMu.Unlock()
	return out, nil
}

// awaitAck files a fiscalized document under those the OFD has yet to acknowledge,
// unless the register's last heartbeat already showed it acknowledged (the
// result came late, after an outage): then it is delivered as of at.
func (s *Store) awaitAck(tx *bolt.Tx, pointID string, rec *storage.Document, at time.Time) error {
	fi := rec.FiscalInfo
	if fi == nil || fi.FNDocNumber <= 0 || fi.FNNumber == "" {
		return nil
	}
	fd := uint32(fi.FNDocNumber)
	var reg storage.Register
	if tk := tx.Bucket(bucketPointReg).Get([]byte(pointID)); tk != nil {
		if _, err := s.getRegister(tx, tk, &reg); err != nil {
			return err
		}
	}
	if h := reg.Health; h != nil && h.Drive.Number == fi.FNNumber && fd <= h.OFDAckedThrough {
		rec.OFDDeliveredAt = at
		return nil
	}
	return tx.Bucket(bucketUnacked).Put(unackedKey(pointID, fi.FNNumber, fd), []byte(rec.ID))
}

func (s *Store) Requeue(ctx context.Context, pointID, id string, at time.Time, message string) (storage.Document, error) {
	var rec storage.Document
	requeued := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		key := docKey(pointID, id)
		found, err := getDoc(tx, key, &rec)
		switch {
		case err != nil:
			return err
		case !found:
			return storage.ErrNotFound
		case rec.State == cloud.Requeued:
			return nil
		case rec.State != cloud.Failed:
			return storage.ErrConflict
		}
		seq, err := docs.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq, rec.State, rec.Changed, rec.Requeued = seq, cloud.Requeued, at, true
		rec.FailureInfo, rec.FiscalInfo, rec.LeasedUntil, rec.LeaseOwner = nil, nil, time.Time{}, ""
		rec.Message, rec.CallbackDue = message, false
		if err := tx.Bucket(bucketQueue).Put(queueKey(pointID, seq), []byte(id)); err != nil {
			return err
		}
		// A callback still retrying the failure has nothing left to say.
		if err := tx.Bucket(bucketCallbacks).Delete(key); err != nil {
			return err
		}
		requeued = true
		return putJSON(docs, key, rec)
	})
	if errors.Is(err, storage.ErrConflict) {
		return rec, fmt.Errorf("re-queue of document %q (%s): %w", id, rec.State, err)
	}
	if err != nil {
		return storage.Document{}, fmt.Errorf("re-queue of document %q of point %s: %w", id, pointID, err)
	}
	if requeued {
		s.Notify(ctx, pointID)
	}
	return rec, nil
}

func (s *Store) MarkDelivered(ctx context.Context, pointID, drive string, through uint32, at time.Time) (int, error) {
	if drive == "" || through == 0 {
		return 0, nil
	}
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(pointID + "\x00" + drive + "\x00")
		c := tx.Bucket(bucketUnacked).Cursor()
		docs := tx.Bucket(bucketDocs)
		var done [][]byte
		var ids []string
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+4 || binary.BigEndian.Uint32(k[len(prefix):]) > through {
				break
			}
			done = append(done, k)
			ids = append(ids, string(v))
		}
		for i, k := range done {
			if err := tx.Bucket(bucketUnacked).Delete(k); err != nil {
				return err
			}
			var rec storage.Document
			found, err := getJSON(docs, docKey(pointID, ids[i]), &rec)
			if err != nil {
				return err
			}
			if !found || !rec.OFDDeliveredAt.IsZero() {
				continue
			}
			rec.OFDDeliveredAt = at
			if err := putJSON(docs, docKey(pointID, rec.ID), rec); err != nil {
				return err
			}
		}
		n = len(done)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cloud: OFD acknowledgement for point %s: %w", pointID, err)
	}
	return n, nil
}
