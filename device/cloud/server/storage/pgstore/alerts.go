package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func (s *Store) Incidents(ctx context.Context, pointID string) ([]storage.Incident, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, doc_id, message, since FROM incidents
		WHERE point_id = $1 ORDER BY kind, doc_id`, pointID)
	if err != nil {
		return nil, fmt.Errorf("pgstore: incidents of point %s: %w", pointID, classify(err))
	}
	defer rows.Close()
	var out []storage.Incident
	for rows.Next() {
		in := storage.Incident{PointID: pointID}
		if err := rows.Scan(&in.Kind, &in.DocumentID, &in.Message, &in.Since); err != nil {
			return nil, fmt.Errorf("pgstore: incidents of point %s: %w", pointID, classify(err))
		}
		in.Since = in.Since.UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: incidents of point %s: %w", pointID, classify(err))
	}
	return out, nil
}

func (s *Store) OpenIncident(ctx context.Context, in storage.Incident, alerts []storage.AlertEntry) (bool, error) {
	var opened bool
	// Two nodes opening one incident at once: the second's insert waits for
	// the first's commit and then inserts nothing, nor appends.
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO incidents (point_id, kind, doc_id, message, since) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (point_id, kind, doc_id) DO NOTHING`,
			in.PointID, in.Kind, in.DocumentID, in.Message, in.Since)
		if err != nil {
			return err
		}
		if opened = tag.RowsAffected() == 1; !opened {
			return nil
		}
		return appendAlerts(ctx, tx, alerts)
	})
	if err != nil {
		return false, fmt.Errorf("pgstore: incident %s of point %s: %w", in.Kind, in.PointID, classify(err))
	}
	return opened, nil
}

func (s *Store) CloseIncident(ctx context.Context, in storage.Incident, alerts []storage.AlertEntry) (bool, error) {
	var closed bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM incidents WHERE point_id = $1 AND kind = $2 AND doc_id = $3",
			in.PointID, in.Kind, in.DocumentID)
		if err != nil {
			return err
		}
		if closed = tag.RowsAffected() == 1; !closed {
			return nil
		}
		return appendAlerts(ctx, tx, alerts)
	})
	if err != nil {
		return false, fmt.Errorf("pgstore: incident %s of point %s: %w", in.Kind, in.PointID, classify(err))
	}
	return closed, nil
}

// appendAlerts adds the entries to the log, setting each one's Seq. Each
// takes its destination's row lock before its Seq: an append and a claim of
// one destination go one after the other, so a claim never sees an entry
// while an earlier one of the destination is still uncommitted.
func appendAlerts(ctx context.Context, tx pgx.Tx, alerts []storage.AlertEntry) error {
	for i := range alerts {
		e := &alerts[i]
		if _, err := tx.Exec(ctx, `INSERT INTO alert_outboxes (channel, dest) VALUES ($1, $2)
			ON CONFLICT (channel, dest) DO UPDATE SET owner = alert_outboxes.owner`, e.Channel, e.To); err != nil {
			return err
		}
		alert, err := json.Marshal(e.Alert)
		if err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, `INSERT INTO alert_log (seq, point_id, alert, channel, dest, attempts, sent, done, error, changed)
			VALUES (nextval('alert_seq'), $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq`,
			e.Alert.PointID, alert, e.Channel, e.To, e.Attempts, e.Sent, e.Done, e.Error, e.Changed).Scan(&seq); err != nil {
			return err
		}
		e.Seq = uint64(seq)
	}
	return nil
}

const alertCols = "seq, alert, channel, dest, attempts, sent, done, error, changed"

func scanAlert(row pgx.Row, e *storage.AlertEntry) error {
	var seq int64
	var alert []byte
	if err := row.Scan(&seq, &alert, &e.Channel, &e.To, &e.Attempts, &e.Sent, &e.Done, &e.Error, &e.Changed); err != nil {
		return notFound(err)
	}
	e.Seq, e.Changed = uint64(seq), e.Changed.UTC()
	return json.Unmarshal(alert, &e.Alert)
}

// ClaimAlert holds a destination by upserting its row with a condition: the
// upsert waits for a concurrent one on the row, then checks the condition
// on what that one committed, so two nodes never hold one destination.
func (s *Store) ClaimAlert(ctx context.Context, node, channel, to string, now, until time.Time) (storage.AlertEntry, error) {
	var e storage.AlertEntry
	found := false
	// Not finding commits all the same: a named destination's hold is let go then.
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if channel != "" {
			found, err = claimDest(ctx, tx, node, channel, to, now, until, true, &e)
			return err
		}
		// Any destination no node holds, oldest entry first. A destination
		// another node takes between the look and the hold is passed over.
		skipCh, skipDest := []string{}, []string{}
		for range 100 {
			var ch, dest string
			err := tx.QueryRow(ctx, `SELECT l.channel, l.dest FROM alert_log l
				LEFT JOIN alert_outboxes o ON o.channel = l.channel AND o.dest = l.dest
				WHERE NOT l.done AND (o.owner IS NULL OR o.owner = '' OR o.until IS NULL OR o.until <= $1)
					AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS s (channel, dest)
						WHERE s.channel = l.channel AND s.dest = l.dest)
				ORDER BY l.seq LIMIT 1`, now, skipCh, skipDest).Scan(&ch, &dest)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			if found, err = claimDest(ctx, tx, node, ch, dest, now, until, false, &e); found || err != nil {
				return err
			}
			skipCh, skipDest = append(skipCh, ch), append(skipDest, dest)
		}
		return nil
	})
	switch {
	case err != nil:
		return storage.AlertEntry{}, fmt.Errorf("pgstore: alert for %s %q: %w", channel, to, classify(err))
	case !found:
		return storage.AlertEntry{}, fmt.Errorf("alert for %s %q: %w", channel, to, storage.ErrNotFound)
	}
	return e, nil
}

// claimDest holds the destination for node, if no other node holds it (or,
// when mine, node itself does), and reads its oldest entry not Done into e;
// with none, it lets node's hold go. False: no entry for node.
func claimDest(ctx context.Context, tx pgx.Tx, node, channel, to string, now, until time.Time, mine bool, e *storage.AlertEntry) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO alert_outboxes (channel, dest, owner, until) VALUES ($1, $2, $3, $4)
		ON CONFLICT (channel, dest) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
		WHERE alert_outboxes.owner = '' OR alert_outboxes.until IS NULL OR alert_outboxes.until <= $5
			OR ($6 AND alert_outboxes.owner = $3)`,
		channel, to, node, until, now, mine)
	if err != nil || tag.RowsAffected() == 0 { // 0: another node's live hold
		return false, err
	}
	err = scanAlert(tx.QueryRow(ctx, "SELECT "+alertCols+` FROM alert_log
		WHERE channel = $1 AND dest = $2 AND NOT done ORDER BY seq LIMIT 1`, channel, to), e)
	if errors.Is(err, storage.ErrNotFound) {
		_, err := tx.Exec(ctx, "UPDATE alert_outboxes SET owner = '', until = NULL WHERE channel = $1 AND dest = $2",
			channel, to)
		return false, err
	}
	return err == nil, err
}

func (s *Store) SaveAlert(ctx context.Context, e storage.AlertEntry) error {
	tag, err := s.pool.Exec(ctx, `UPDATE alert_log SET attempts = $2, sent = $3, done = $4, error = $5, changed = $6
		WHERE seq = $1`, int64(e.Seq), e.Attempts, e.Sent, e.Done, e.Error, e.Changed)
	switch {
	case err != nil:
		return fmt.Errorf("pgstore: alert %d: %w", e.Seq, classify(err))
	case tag.RowsAffected() == 0:
		return fmt.Errorf("alert %d: %w", e.Seq, storage.ErrNotFound)
	}
	return nil
}

func (s *Store) AlertLog(ctx context.Context, points []string, limit int) ([]storage.AlertEntry, error) {
	if points == nil {
		points = []string{}
	}
	rows, err := s.pool.Query(ctx, "SELECT "+alertCols+` FROM alert_log
		WHERE point_id = ANY ($1) ORDER BY seq DESC LIMIT $2`, points, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("pgstore: alert log: %w", classify(err))
	}
	defer rows.Close()
	var out []storage.AlertEntry
	for rows.Next() {
		var e storage.AlertEntry
		if err := scanAlert(rows, &e); err != nil {
			return nil, fmt.Errorf("pgstore: alert log: %w", classify(err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: alert log: %w", classify(err))
	}
	return out, nil
}

func (s *Store) ReleaseHolds(ctx context.Context, node string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE callback_jobs SET owner = '', until = NULL WHERE owner = $1`, node); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE alert_outboxes SET owner = '', until = NULL WHERE owner = $1`, node)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstore: releasing the holds of node %s: %w", node, classify(err))
	}
	return nil
}
