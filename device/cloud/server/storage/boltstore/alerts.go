package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

func incidentKey(in storage.Incident) []byte {
	k := in.PointID + "\x00" + in.Kind
	if in.DocumentID != "" {
		k += "\x00" + in.DocumentID
	}
	return []byte(k)
}

func destKey(channel, to string) string { return channel + "\x00" + to + "\x00" }

func outboxKey(e *storage.AlertEntry) []byte {
	return binary.BigEndian.AppendUint64([]byte(destKey(e.Channel, e.To)), e.Seq)
}

func logKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func (s *Store) Incidents(ctx context.Context, pointID string) ([]storage.Incident, error) {
	var out []storage.Incident
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(pointID + "\x00")
		c := tx.Bucket(bucketIncidents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var in storage.Incident
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("incident %q: %w", k, err)
			}
			in.PointID = pointID
			out = append(out, in)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cloud: incidents of point %s: %w", pointID, err)
	}
	return out, nil
}

// appendAlerts logs the entries, numbering them, and files those not Done in
// their destinations' outboxes.
func appendAlerts(tx *bolt.Tx, alerts []storage.AlertEntry) error {
	b := tx.Bucket(bucketAlertLog)
	for _, e := range alerts {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		if err := putJSON(b, logKey(seq), e); err != nil {
			return err
		}
		if !e.Done {
			if err := tx.Bucket(bucketOutbox).Put(outboxKey(&e), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) OpenIncident(ctx context.Context, in storage.Incident, alerts []storage.AlertEntry) (bool, error) {
	opened := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		opened = false
		b := tx.Bucket(bucketIncidents)
		k := incidentKey(in)
		if b.Get(k) != nil {
			return nil
		}
		if err := putJSON(b, k, in); err != nil {
			return err
		}
		opened = true
		return appendAlerts(tx, alerts)
	})
	if err != nil {
		return false, fmt.Errorf("cloud: opening incident %s of point %s: %w", in.Kind, in.PointID, err)
	}
	return opened, nil
}

func (s *Store) CloseIncident(ctx context.Context, in storage.Incident, alerts []storage.AlertEntry) (bool, error) {
	closed := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		closed = false
		b := tx.Bucket(bucketIncidents)
		k := incidentKey(in)
		if b.Get(k) == nil {
			return nil
		}
		if err := b.Delete(k); err != nil {
			return err
		}
		closed = true
		return appendAlerts(tx, alerts)
	})
	if err != nil {
		return false, fmt.Errorf("cloud: closing incident %s of point %s: %w", in.Kind, in.PointID, err)
	}
	return closed, nil
}

func (s *Store) ClaimAlert(ctx context.Context, node, channel, to string, now, until time.Time) (storage.AlertEntry, error) {
	var e storage.AlertEntry
	// The holds are checked and taken under holdsMu, around the read, so
	// that two callers never take one destination.
	s.holdsMu.Lock()
	defer s.holdsMu.Unlock()
	free := func(dest string) bool {
		h, ok := s.dests[dest]
		return !ok || !now.Before(h.until)
	}
	var dest string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		var k []byte
		if channel != "" {
			dest = destKey(channel, to)
			if h, ok := s.dests[dest]; ok && h.node != node && now.Before(h.until) {
				return storage.ErrNotFound // another holder's
			}
			if k, _ = c.Seek([]byte(dest)); k == nil || !bytes.HasPrefix(k, []byte(dest)) {
				delete(s.dests, dest)
				return storage.ErrNotFound
			}
		} else {
			for k, _ = c.First(); k != nil; {
				if len(k) < 8 {
					k, _ = c.Next()
					continue
				}
				d := string(k[:len(k)-8])
				if free(d) {
					dest = d
					break
				}
				// Skip the rest of the held destination's entries.
				k, _ = c.Seek(append([]byte(d[:len(d)-1]), 1))
			}
			if k == nil {
				return storage.ErrNotFound
			}
		}
		return mustJSON(tx.Bucket(bucketAlertLog), k[len(k)-8:], &e)
	})
	if err != nil {
		return storage.AlertEntry{}, fmt.Errorf("cloud: alert outbox: %w", err)
	}
	s.dests[dest] = hold{node: node, until: until}
	return e, nil
}

func (s *Store) SaveAlert(ctx context.Context, e storage.AlertEntry) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlertLog)
		if b.Get(logKey(e.Seq)) == nil {
			return storage.ErrNotFound
		}
		if e.Done {
			if err := tx.Bucket(bucketOutbox).Delete(outboxKey(&e)); err != nil {
				return err
			}
		}
		return putJSON(b, logKey(e.Seq), e)
	})
	if err != nil {
		return fmt.Errorf("cloud: alert log entry %d: %w", e.Seq, err)
	}
	return nil
}

func (s *Store) AlertLog(ctx context.Context, points []string, limit int) ([]storage.AlertEntry, error) {
	var out []storage.AlertEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAlertLog).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e storage.AlertEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("alert log %x: %w", k, err)
			}
			if slices.Contains(points, e.Alert.PointID) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cloud: alert log: %w", err)
	}
	return out, nil
}

func (s *Store) ReleaseHolds(_ context.Context, node string) error {
	s.holdsMu.Lock()
	defer s.holdsMu.Unlock()
	for _, holds := range []map[string]hold{s.jobs, s.dests} {
		for k, h := range holds {
			if h.node == node {
				delete(holds, k)
			}
		}
	}
	return nil
}
