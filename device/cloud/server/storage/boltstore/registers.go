package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

// decodedRegister is a Register with the bytes it was decoded from.
type decodedRegister struct {
	data []byte
	reg  storage.Register
}

// maxDecodedRegisters bounds Store.regs; past it the map starts afresh.
const maxDecodedRegisters = 1024

// getRegister reads a register's record, reporting false when key is absent.
// Most requests read a record that no heartbeat has changed since the last read,
// and comparing its bytes costs far less than decoding its health again.
func (s *Store) getRegister(tx *bolt.Tx, key []byte, reg *storage.Register) (bool, error) {
	data := tx.Bucket(bucketRegisters).Get(key)
	if data == nil {
		return false, nil
	}
	s.regsMu.Lock()
	d, ok := s.regs[string(key)]
	s.regsMu.Unlock()
	if !ok || !bytes.Equal(d.data, data) {
		d = decodedRegister{data: bytes.Clone(data)}
		if err := json.Unmarshal(data, &d.reg); err != nil {
			return true, fmt.Errorf("cloud: stored register %s: %w", key, err)
		}
		s.regsMu.Lock()
		if len(s.regs) >= maxDecodedRegisters {
			clear(s.regs)
		}
		s.regs[string(key)] = d
		s.regsMu.Unlock()
	}
	*reg = d.reg
	reg.ID = string(key)
	if h := d.reg.Health; h != nil {
		c := *h
		c.Drive.Warnings = slices.Clone(h.Drive.Warnings)
		reg.Health = &c
	}
	return true, nil
}

func (s *Store) BindRegister(ctx context.Context, r storage.Register) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return bindRegister(tx, r) })
	if err != nil {
		return fmt.Errorf("cloud: binding a register to point %s: %w", r.PointID, err)
	}
	return nil
}

func bindRegister(tx *bolt.Tx, r storage.Register) error {
	if r.ID == "" || r.PointID == "" {
		return errors.New("register without an id or a point")
	}
	pr := tx.Bucket(bucketPointReg)
	if old := pr.Get([]byte(r.PointID)); old != nil && string(old) != r.ID {
		if err := tx.Bucket(bucketRegisters).Delete(old); err != nil {
			return err
		}
	}
	if err := putJSON(tx.Bucket(bucketRegisters), []byte(r.ID), r); err != nil {
		return err
	}
	return pr.Put([]byte(r.PointID), []byte(r.ID))
}

func (s *Store) Register(ctx context.Context, id string) (storage.Register, error) {
	var reg storage.Register
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := s.getRegister(tx, []byte(id), &reg)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.Register{}, fmt.Errorf("register: %w", err)
	}
	return reg, nil
}

// pointRegister reads the point's register; false when none serves it.
func (s *Store) pointRegister(tx *bolt.Tx, pointID string, reg *storage.Register) (bool, error) {
	tk := tx.Bucket(bucketPointReg).Get([]byte(pointID))
	if tk == nil {
		return false, nil
	}
	return s.getRegister(tx, tk, reg)
}

func (s *Store) PointRegister(ctx context.Context, pointID string) (storage.Register, error) {
	var reg storage.Register
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := s.pointRegister(tx, pointID, &reg)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.Register{}, fmt.Errorf("register of point %s: %w", pointID, err)
	}
	return reg, nil
}

func (s *Store) RecordHeartbeat(ctx context.Context, h storage.Heartbeat) (storage.Register, bool, error) {
	var reg storage.Register
	var resume bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		found, err := s.getRegister(tx, []byte(h.RegisterID), &reg)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		if reg.Health == nil || h.At.Sub(reg.LastSeen) > h.Stale || reg.Health.Stopped != h.Health.Stopped {
			reg.Since = h.At
		}
		health := h.Health
		reg.LastSeen, reg.Health = h.At, &health
		// A resume goes out once, and only to a register still stopped.
		resume = reg.Resume && health.Stopped
		reg.Resume = false
		return putJSON(tx.Bucket(bucketRegisters), []byte(h.RegisterID), reg)
	})
	if err != nil {
		return storage.Register{}, false, fmt.Errorf("heartbeat: %w", err)
	}
	return reg, resume, nil
}

func (s *Store) AskResume(ctx context.Context, pointID string) (bool, error) {
	var stopped bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var reg storage.Register
		found, err := s.pointRegister(tx, pointID, &reg)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		stopped = reg.Health != nil && reg.Health.Stopped
		if !stopped {
			return nil
		}
		reg.Resume = true
		return putJSON(tx.Bucket(bucketRegisters), []byte(reg.ID), reg)
	})
	if err != nil {
		return false, fmt.Errorf("resume of point %s: %w", pointID, err)
	}
	return stopped, nil
}

func commandKey(pointID string) []byte { return []byte("command\x00" + pointID) }

func (s *Store) PutCommand(ctx context.Context, pointID string, c storage.Command) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPointReg).Get([]byte(pointID)) == nil {
			return storage.ErrNotFound
		}
		return putJSON(tx.Bucket(bucketMeta), commandKey(pointID), c)
	})
	if err != nil {
		return fmt.Errorf("command to point %s: %w", pointID, err)
	}
	return nil
}

func (s *Store) Command(ctx context.Context, pointID string) (storage.Command, error) {
	var c storage.Command
	err := s.view(ctx, func(tx *bolt.Tx) error { return mustJSON(tx.Bucket(bucketMeta), commandKey(pointID), &c) })
	if err != nil {
		return storage.Command{}, fmt.Errorf("command of point %s: %w", pointID, err)
	}
	return c, nil
}

func (s *Store) ExchangeCommand(ctx context.Context, pointID string, got *cloud.CommandOutcome, at time.Time) (*cloud.Command, error) {
	var send *cloud.Command
	err := s.update(ctx, func(tx *bolt.Tx) error {
		send = nil
		var pc storage.Command
		found, err := getJSON(tx.Bucket(bucketMeta), commandKey(pointID), &pc)
		if err != nil || !found {
			return err
		}
		switch {
		case pc.Outcome != nil:
			return nil
		case got != nil && got.ID == pc.ID:
			pc.Outcome, pc.Answered = got, at
		case pc.Sent.IsZero():
			pc.Sent = at
			send = &cloud.Command{ID: pc.ID, Kind: pc.Kind}
		default:
			return nil
		}
		return putJSON(tx.Bucket(bucketMeta), commandKey(pointID), pc)
	})
	if err != nil {
		return nil, fmt.Errorf("command of point %s: %w", pointID, err)
	}
	return send, nil
}
