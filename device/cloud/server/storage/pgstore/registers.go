package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

const registerCols = "id, point_id, bound_at, last_seen, since, health, resume"

func scanRegister(row pgx.Row, r *storage.Register) error {
	var lastSeen, since *time.Time
	var health []byte
	if err := row.Scan(&r.ID, &r.PointID, &r.BoundAt, &lastSeen, &since, &health, &r.Resume); err != nil {
		return notFound(err)
	}
	r.BoundAt, r.LastSeen, r.Since = r.BoundAt.UTC(), timeOf(lastSeen), timeOf(since)
	var err error
	r.Health, err = fromJSON[cloud.Health](health)
	return err
}

// putRegister stores r under r.ID, replacing it.
func putRegister(ctx context.Context, q pgx.Tx, r *storage.Register) error {
	health, err := jsonOf(r.Health)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO registers (id, point_id, bound_at, last_seen, since, stopped, health, resume)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET point_id = EXCLUDED.point_id, bound_at = EXCLUDED.bound_at,
			last_seen = EXCLUDED.last_seen, since = EXCLUDED.since, stopped = EXCLUDED.stopped,
			health = EXCLUDED.health, resume = EXCLUDED.resume`,
		r.ID, r.PointID, r.BoundAt, nullTime(r.LastSeen), nullTime(r.Since), r.Health != nil && r.Health.Stopped,
		health, r.Resume)
	return err
}

// bindRegister makes r the one register of its point.
func bindRegister(ctx context.Context, tx pgx.Tx, r *storage.Register) error {
	if _, err := tx.Exec(ctx, "DELETE FROM registers WHERE point_id = $1 AND id <> $2", r.PointID, r.ID); err != nil {
		return err
	}
	return putRegister(ctx, tx, r)
}

func (s *Store) BindRegister(ctx context.Context, r storage.Register) error {
	// Two binds of one point at once: the second's insert meets the first's
	// point_id and runs again, replacing it.
	err := s.txRetry(ctx, true, func(tx pgx.Tx) error { return bindRegister(ctx, tx, &r) })
	if err != nil {
		return fmt.Errorf("pgstore: bind a register to point %s: %w", r.PointID, classify(err))
	}
	return nil
}

func (s *Store) Register(ctx context.Context, id string) (storage.Register, error) {
	var r storage.Register
	if err := scanRegister(s.pool.QueryRow(ctx, "SELECT "+registerCols+" FROM registers WHERE id = $1", id), &r); err != nil {
		return storage.Register{}, fmt.Errorf("register %s: %w", id, classify(err))
	}
	return r, nil
}

func (s *Store) PointRegister(ctx context.Context, pointID string) (storage.Register, error) {
	var r storage.Register
	if err := scanRegister(s.pool.QueryRow(ctx, "SELECT "+registerCols+" FROM registers WHERE point_id = $1", pointID), &r); err != nil {
		return storage.Register{}, fmt.Errorf("register of point %s: %w", pointID, classify(err))
	}
	return r, nil
}

func (s *Store) RecordHeartbeat(ctx context.Context, h storage.Heartbeat) (storage.Register, bool, error) {
	var r storage.Register
	var resume bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		r = storage.Register{}
		if err := scanRegister(tx.QueryRow(ctx, "SELECT "+registerCols+" FROM registers WHERE id = $1 FOR UPDATE", h.RegisterID), &r); err != nil {
			return err
		}
		if r.Health == nil || h.At.Sub(r.LastSeen) > h.Stale || r.Health.Stopped != h.Health.Stopped {
			r.Since = h.At
		}
		health := h.Health
		r.LastSeen, r.Health = h.At, &health
		// A resume goes out once, and only to a register still stopped.
		resume = r.Resume && h.Health.Stopped
		r.Resume = false
		return putRegister(ctx, tx, &r)
	})
	if err != nil {
		return storage.Register{}, false, fmt.Errorf("heartbeat of register %s: %w", h.RegisterID, classify(err))
	}
	return r, resume, nil
}

func (s *Store) AskResume(ctx context.Context, pointID string) (bool, error) {
	var stopped bool
	err := s.pool.QueryRow(ctx, `UPDATE registers SET resume = resume OR stopped
		WHERE point_id = $1 RETURNING stopped`, pointID).Scan(&stopped)
	if err != nil {
		return false, fmt.Errorf("resume of point %s: %w", pointID, classify(notFound(err)))
	}
	return stopped, nil
}

func (s *Store) PutCommand(ctx context.Context, pointID string, c storage.Command) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO commands (point_id, command)
		SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM registers WHERE point_id = $1)
		ON CONFLICT (point_id) DO UPDATE SET command = EXCLUDED.command`, pointID, b)
	switch {
	case err != nil:
		return fmt.Errorf("pgstore: command for point %s: %w", pointID, classify(err))
	case tag.RowsAffected() == 0:
		return fmt.Errorf("command for point %s: no register: %w", pointID, storage.ErrNotFound)
	}
	return nil
}

func readCommand(row pgx.Row) (storage.Command, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		return storage.Command{}, notFound(err)
	}
	var c storage.Command
	err := json.Unmarshal(b, &c)
	return c, err
}

func (s *Store) Command(ctx context.Context, pointID string) (storage.Command, error) {
	c, err := readCommand(s.pool.QueryRow(ctx, "SELECT command FROM commands WHERE point_id = $1", pointID))
	if err != nil {
		return storage.Command{}, fmt.Errorf("command of point %s: %w", pointID, classify(err))
	}
	return c, nil
}

func (s *Store) ExchangeCommand(ctx context.Context, pointID string, got *cloud.CommandOutcome, at time.Time) (*cloud.Command, error) {
	var send *cloud.Command
	err := s.tx(ctx, func(tx pgx.Tx) error {
		send = nil
		c, err := readCommand(tx.QueryRow(ctx, "SELECT command FROM commands WHERE point_id = $1 FOR UPDATE", pointID))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case c.Outcome != nil:
			return nil
		case got != nil && got.ID == c.ID:
			c.Outcome, c.Answered = got, at
		case c.Sent.IsZero():
			c.Sent = at
			cmd := c.Command
			send = &cmd
		default:
			return nil
		}
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE commands SET command = $2 WHERE point_id = $1", pointID, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: command exchange of point %s: %w", pointID, classify(err))
	}
	return send, nil
}
