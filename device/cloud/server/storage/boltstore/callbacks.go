package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

// job is a bucketCallbacks value: the refusals (u32 BE), then the due time
// (Unix nanoseconds, i64 BE) and the document's Seq when the job was made
// (u64 BE). Files written before kept nothing (no refusal yet) or the
// refusals alone: such a job is due since ever, with Seq 0.
type job struct {
	refusals int
	due      time.Time
	seq      uint64
}

func readJob(v []byte) job {
	var j job
	if len(v) >= 4 {
		j.refusals = int(binary.BigEndian.Uint32(v))
	}
	if len(v) >= 20 {
		if n := int64(binary.BigEndian.Uint64(v[4:])); n != 0 {
			j.due = time.Unix(0, n)
		}
		j.seq = binary.BigEndian.Uint64(v[12:])
	}
	return j
}

func (j job) value() []byte {
	v := binary.BigEndian.AppendUint32(nil, uint32(j.refusals))
	var due int64
	if !j.due.IsZero() {
		due = j.due.UnixNano()
	}
	v = binary.BigEndian.AppendUint64(v, uint64(due))
	return binary.BigEndian.AppendUint64(v, j.seq)
}

func (s *Store) TakeCallbacks(ctx context.Context, node string, dueBy, now, until time.Time, limit int) ([]storage.CallbackJob, error) {
	var all []storage.CallbackJob
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCallbacks).ForEach(func(k, v []byte) error {
			pointID, id, ok := strings.Cut(string(k), "\x00")
			if !ok {
				return nil
			}
			j := readJob(v)
			if j.due.After(dueBy) {
				return nil
			}
			all = append(all, storage.CallbackJob{PointID: pointID, ID: id, Seq: j.seq, Due: j.due, Refusals: j.refusals})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cloud: callbacks due: %w", err)
	}
	slices.SortStableFunc(all, func(a, b storage.CallbackJob) int { return a.Due.Compare(b.Due) })
	s.holdsMu.Lock()
	defer s.holdsMu.Unlock()
	for k, h := range s.jobs {
		if !now.Before(h.until) {
			delete(s.jobs, k) // ended, or its job is gone
		}
	}
	var out []storage.CallbackJob
	for _, j := range all {
		if len(out) >= limit {
			break
		}
		key := string(docKey(j.PointID, j.ID))
		if h, ok := s.jobs[key]; ok && now.Before(h.until) {
			continue
		}
		s.jobs[key] = hold{node: node, until: until}
		j.Owner, j.Until = node, until
		out = append(out, j)
	}
	return out, nil
}

// currentJob reads the job's document if the job is still the one given.
func currentJob(tx *bolt.Tx, j storage.CallbackJob, d *storage.Document) (job, error) {
	key := docKey(j.PointID, j.ID)
	v := tx.Bucket(bucketCallbacks).Get(key)
	if v == nil {
		return job{}, storage.ErrNotFound
	}
	cur := readJob(v)
	if cur.seq != j.Seq {
		return job{}, storage.ErrNotFound
	}
	if err := mustJSON(tx.Bucket(bucketDocs), key, d); err != nil {
		return job{}, err
	}
	d.CallbackDue = true
	return cur, nil
}

func (s *Store) CallbackDocument(ctx context.Context, j storage.CallbackJob) (storage.Document, error) {
	var d storage.Document
	err := s.view(ctx, func(tx *bolt.Tx) error {
		_, err := currentJob(tx, j, &d)
		return err
	})
	if err != nil {
		return storage.Document{}, fmt.Errorf("callback of document %q of point %s: %w", j.ID, j.PointID, err)
	}
	return d, nil
}

func (s *Store) RefuseCallback(ctx context.Context, j storage.CallbackJob, r storage.Refusal, apply func(*storage.Document)) (storage.Document, error) {
	var d storage.Document
	key := docKey(j.PointID, j.ID)
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		d = storage.Document{}
		cur, err := currentJob(tx, j, &d)
		if err != nil {
			return err
		}
		d.CallbackAttempts++
		d.CallbackError = r.Reason
		if apply != nil {
			apply(&d)
		}
		cur.refusals, cur.due = d.CallbackAttempts, r.Next
		if err := tx.Bucket(bucketCallbacks).Put(key, cur.value()); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketDocs), key, d)
	})
	if err != nil {
		return storage.Document{}, fmt.Errorf("refused callback of document %q of point %s: %w", j.ID, j.PointID, err)
	}
	s.holdsMu.Lock()
	s.jobs[string(key)] = hold{node: j.Owner, until: r.Hold}
	s.holdsMu.Unlock()
	return d, nil
}

func (s *Store) SettleCallback(ctx context.Context, j storage.CallbackJob, accepted bool, apply func(*storage.Document)) (int, error) {
	var refusals int
	key := docKey(j.PointID, j.ID)
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		var d storage.Document
		cur, err := currentJob(tx, j, &d)
		if err != nil {
			return err
		}
		refusals = cur.refusals
		if accepted {
			d.CallbackAttempts++
			d.CallbackError = ""
		}
		if apply != nil {
			apply(&d)
		}
		if err := tx.Bucket(bucketCallbacks).Delete(key); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketDocs), key, d)
	})
	if err != nil {
		return 0, fmt.Errorf("settling the callback of document %q of point %s: %w", j.ID, j.PointID, err)
	}
	s.holdsMu.Lock()
	delete(s.jobs, string(key))
	s.holdsMu.Unlock()
	return refusals, nil
}

func (s *Store) RefusedCallbacks(ctx context.Context, pointID string, n int) ([]storage.Document, error) {
	var out []storage.Document
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(pointID + "\x00")
		c := tx.Bucket(bucketCallbacks).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if readJob(v).refusals < n {
				continue
			}
			var d storage.Document
			found, err := getJSON(tx.Bucket(bucketDocs), k, &d)
			if err != nil {
				return err
			}
			if found {
				d.CallbackDue = true
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cloud: refused callbacks of point %s: %w", pointID, err)
	}
	return out, nil
}
