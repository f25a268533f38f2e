package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// TakeCallbacks holds due jobs for node with SELECT … FOR UPDATE SKIP
// LOCKED: nodes taking at once pass over each other's rows, and a row a node
// held meanwhile fails the check again on its committed version.
func (s *Store) TakeCallbacks(ctx context.Context, node string, dueBy, now, until time.Time, limit int) ([]storage.CallbackJob, error) {
	rows, err := s.pool.Query(ctx, `WITH cand AS (
			SELECT point_id, doc_id FROM callback_jobs
			WHERE due <= $1 AND (owner = '' OR until IS NULL OR until <= $2)
			ORDER BY due, point_id, doc_id
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE callback_jobs j SET owner = $4, until = $5
		FROM cand WHERE j.point_id = cand.point_id AND j.doc_id = cand.doc_id
		RETURNING j.point_id, j.doc_id, j.seq, j.due, j.refusals`,
		dueBy, now, max(limit, 0), node, until)
	if err != nil {
		return nil, fmt.Errorf("pgstore: callbacks due: %w", classify(err))
	}
	defer rows.Close()
	var out []storage.CallbackJob
	for rows.Next() {
		j := storage.CallbackJob{Owner: node, Until: until}
		var seq int64
		if err := rows.Scan(&j.PointID, &j.ID, &seq, &j.Due, &j.Refusals); err != nil {
			return nil, fmt.Errorf("pgstore: callbacks due: %w", classify(err))
		}
		j.Seq, j.Due = uint64(seq), j.Due.UTC()
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: callbacks due: %w", classify(err))
	}
	slices.SortFunc(out, func(a, b storage.CallbackJob) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		if c := strings.Compare(a.PointID, b.PointID); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// jobDoc reads, locking both when lock, the job's refusals and its document,
// while the job is the one given: one statement.
func jobDoc(ctx context.Context, q pgx.Tx, j storage.CallbackJob, lock bool) (int, storage.Document, error) {
	var refusals int
	var d storage.Document
	err := scanDoc(q.QueryRow(ctx, jobDocSQL(lock), j.PointID, j.ID, int64(j.Seq)), &d, &refusals)
	if err != nil {
		return 0, storage.Document{}, notFound(err)
	}
	d.Kind, d.Total = "", 0
	return refusals, d, nil
}

// jobDocSQL selects docCols and then the job's refusals, for the job of
// point $1, document $2 and Seq $3.
func jobDocSQL(lock bool) string {
	sql := "SELECT " + docCols + `, j.refusals FROM callback_jobs j
		JOIN documents d ON d.point_id = j.point_id AND d.id = j.doc_id
		WHERE j.point_id = $1 AND j.doc_id = $2 AND j.seq = $3`
	if lock {
		sql += " FOR UPDATE OF j, d"
	}
	return sql
}

func (s *Store) CallbackDocument(ctx context.Context, j storage.CallbackJob) (storage.Document, error) {
	// One statement: the job and its document as of one snapshot.
	var d storage.Document
	var refusals int
	err := scanDoc(s.pool.QueryRow(ctx, jobDocSQL(false), j.PointID, j.ID, int64(j.Seq)), &d, &refusals)
	if err != nil {
		return storage.Document{}, fmt.Errorf("callback of document %q of point %s: %w", j.ID, j.PointID, classify(notFound(err)))
	}
	d.Kind, d.Total = "", 0
	return d, nil
}

func (s *Store) RefuseCallback(ctx context.Context, j storage.CallbackJob, r storage.Refusal, apply func(*storage.Document)) (storage.Document, error) {
	var d storage.Document
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if _, d, err = jobDoc(ctx, tx, j, true); err != nil {
			return err
		}
		d.CallbackAttempts++
		d.CallbackError = r.Reason
		if apply != nil {
			apply(&d)
		}
		var b pgx.Batch
		if err := queueSaveDoc(&b, &d); err != nil {
			return err
		}
		b.Queue(`UPDATE callback_jobs SET refusals = $3, due = $4, owner = $5, until = $6
			WHERE point_id = $1 AND doc_id = $2`,
			j.PointID, j.ID, d.CallbackAttempts, r.Next, j.Owner, nullTime(r.Hold))
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return storage.Document{}, fmt.Errorf("refused callback of document %q of point %s: %w", j.ID, j.PointID, classify(err))
	}
	return d, nil
}

// SettleCallback runs in two round trips: BEGIN with the job and its
// document, locked; the writes with COMMIT.
func (s *Store) SettleCallback(ctx context.Context, j storage.CallbackJob, accepted bool, apply func(*storage.Document)) (int, error) {
	var refusals int
	var d storage.Document
	err := s.batchTx(ctx, func(b *pgx.Batch) {
		b.Queue(jobDocSQL(true), j.PointID, j.ID, int64(j.Seq))
	}, func(br pgx.BatchResults) error {
		d, refusals = storage.Document{}, 0
		if err := scanDoc(br.QueryRow(), &d, &refusals); err != nil {
			return notFound(err)
		}
		d.Kind, d.Total = "", 0
		return nil
	}, func(b *pgx.Batch) error {
		if accepted {
			d.CallbackAttempts++
			d.CallbackError = ""
		}
		if apply != nil {
			apply(&d)
		}
		if err := queueSaveDoc(b, &d); err != nil {
			return err
		}
		b.Queue("DELETE FROM callback_jobs WHERE point_id = $1 AND doc_id = $2", j.PointID, j.ID)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("settling the callback of document %q of point %s: %w", j.ID, j.PointID, classify(err))
	}
	return refusals, nil
}

func (s *Store) RefusedCallbacks(ctx context.Context, pointID string, n int) ([]storage.Document, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+docCols+` FROM documents d
		JOIN callback_jobs cj ON cj.point_id = d.point_id AND cj.doc_id = d.id
		WHERE d.point_id = $1 AND cj.refusals >= $2 ORDER BY d.id`, pointID, n)
	if err != nil {
		return nil, fmt.Errorf("pgstore: refused callbacks of point %s: %w", pointID, classify(err))
	}
	defer rows.Close()
	var out []storage.Document
	for rows.Next() {
		var d storage.Document
		if err := scanDoc(rows, &d); err != nil {
			return nil, fmt.Errorf("pgstore: refused callbacks of point %s: %w", pointID, classify(err))
		}
		d.Kind, d.Total = "", 0
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: refused callbacks of point %s: %w", pointID, classify(err))
	}
	return out, nil
}
