package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// docCols are the columns scanDoc reads, in its order, for a documents table
// aliased d; the last says whether the callback job exists.
const docCols = `d.point_id, d.id, d.seq, d.hash, d.response_url, d.state, d.changed,
	d.lease_until, d.lease_owner, d.leases, d.requeued, d.fiscal_info, d.failure_info,
	d.message, d.created, d.fiscalized, d.ofd_acked, d.callback_attempts, d.callback_error,
	d.kind, d.total,
	EXISTS (SELECT 1 FROM callback_jobs j WHERE j.point_id = d.point_id AND j.doc_id = d.id)`

// queued are the states of the documents in the queue: waiting or leased.
// documents_queue's predicate says the same.
const queued = `('QUEUED', 'PENDING', 'REQUEUED')`

// scanDoc reads docCols, then into extra.
func scanDoc(row pgx.Row, d *storage.Document, extra ...any) error {
	var (
		seq                              int64
		state                            string
		leaseUntil, fiscalized, ofdAcked *time.Time
		fiscal, failure                  []byte
		total                            int64
	)
	dest := append([]any{&d.PointID, &d.ID, &seq, &d.Hash, &d.ResponseURL, &state, &d.Changed,
		&leaseUntil, &d.LeaseOwner, &d.Leases, &d.Requeued, &fiscal, &failure,
		&d.Message, &d.Created, &fiscalized, &ofdAcked, &d.CallbackAttempts, &d.CallbackError,
		&d.Kind, &total, &d.CallbackDue}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	d.Seq, d.State, d.Total = uint64(seq), cloud.DocState(state), cloud.Money(total)
	d.Changed, d.Created = d.Changed.UTC(), d.Created.UTC()
	d.LeasedUntil, d.Fiscalized, d.OFDDeliveredAt = timeOf(leaseUntil), timeOf(fiscalized), timeOf(ofdAcked)
	var err1, err2 error
	d.FiscalInfo, err1 = fromJSON[cloud.FiscalInfo](fiscal)
	d.FailureInfo, err2 = fromJSON[cloud.FailureInfo](failure)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("document %q of point %s: %w", d.ID, d.PointID, classify(err))
	}
	return nil
}

// readDoc reads the point's document, locking it for the transaction when lock.
func readDoc(ctx context.Context, q pgx.Tx, pointID, id string, lock bool) (storage.Document, error) {
	sql := "SELECT " + docCols + " FROM documents d WHERE d.point_id = $1 AND d.id = $2"
	if lock {
		sql += " FOR UPDATE OF d"
	}
	var d storage.Document
	err := scanDoc(q.QueryRow(ctx, sql, pointID, id), &d)
	return d, notFound(err)
}

// saveDoc writes back what a transaction changed of a document it read with
// readDoc: every field but its key, Hash, Body, Seq and Created. Kind and
// Total follow: the fiscalInfo's while it is set, else the body's.
func saveDoc(ctx context.Context, tx pgx.Tx, d *storage.Document) error {
	var b pgx.Batch
	if err := queueSaveDoc(&b, d); err != nil {
		return err
	}
	return tx.SendBatch(ctx, &b).Close()
}

// queueSaveDoc queues saveDoc's statement on b, to go with others in one round trip.
func queueSaveDoc(b *pgx.Batch, d *storage.Document) error {
	fiscal, err1 := jsonOf(d.FiscalInfo)
	failure, err2 := jsonOf(d.FailureInfo)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	var kind, total, fn, shift, date any // NULL: the body's, or no fiscalInfo
	if fi := d.FiscalInfo; fi != nil {
		kind, total, fn, shift, date = fi.CheckType, int64(fi.Sum), fi.FNNumber, fi.ShiftNumber, fi.Date
	}
	b.Queue(`UPDATE documents SET
		response_url = $3, state = $4, changed = $5, lease_until = $6, lease_owner = $7,
		leases = $8, requeued = $9, fiscal_info = $10, failure_info = $11, message = $12,
		fiscalized = $13, ofd_acked = $14, callback_attempts = $15, callback_error = $16,
		kind = coalesce($17, body_kind), total = coalesce($18, body_total),
		fn_number = $19, shift_number = $20, fiscal_date = $21
		WHERE point_id = $1 AND id = $2`,
		d.PointID, d.ID, d.ResponseURL, string(d.State), d.Changed, nullTime(d.LeasedUntil), d.LeaseOwner,
		d.Leases, d.Requeued, fiscal, failure, d.Message,
		nullTime(d.Fiscalized), nullTime(d.OFDDeliveredAt), d.CallbackAttempts, d.CallbackError,
		kind, total, fn, shift, date)
	return nil
}

func (s *Store) PostDocument(ctx context.Context, n storage.NewDocument) (storage.Document, bool, error) {
	body := n.Body
	if body == nil {
		body = []byte{}
	}
	kind, total := storage.KindTotal(&storage.Document{Body: body})
	d := storage.Document{ID: n.ID, PointID: n.PointID, Hash: n.Hash, ResponseURL: n.ResponseURL,
		State: cloud.Queued, Changed: n.At, Created: n.At, Message: n.Message}
	// One statement: the insert, and the NOTIFY that goes out with its commit
	// only if it inserted. A concurrent post of the same id waits for this
	// one's commit and then finds the row.
	var seq int64
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO documents (point_id, id, seq, hash, body, response_url, state, changed,
				message, created, body_kind, body_total, kind, total, id_lower)
			VALUES ($1, $2, nextval('document_seq'), $3, $4, $5, 'QUEUED', $6, $7, $6, $8, $9, $8, $9, $11)
			ON CONFLICT (point_id, id) DO NOTHING
			RETURNING seq)
		SELECT seq, pg_notify($10, $1) FROM ins`,
		n.PointID, n.ID, n.Hash, body, n.ResponseURL, n.At, n.Message, kind, int64(total), wakeChannel,
		strings.ToLower(n.ID)).Scan(&seq, nil)
	switch {
	case err == nil:
		d.Seq = uint64(seq)
		s.wake.Notify(ctx, n.PointID)
		return d, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return storage.Document{}, false, fmt.Errorf("pgstore: post %q to point %s: %w", n.ID, n.PointID, classify(err))
	}
	var old storage.Document
	err = scanDoc(s.pool.QueryRow(ctx, "SELECT "+docCols+" FROM documents d WHERE d.point_id = $1 AND d.id = $2",
		n.PointID, n.ID), &old)
	if err != nil {
		return storage.Document{}, false, fmt.Errorf("pgstore: post %q to point %s: %w", n.ID, n.PointID, classify(notFound(err)))
	}
	old.Kind, old.Total = "", 0 // set by ListDocuments only
	if old.Hash != n.Hash {
		return old, false, fmt.Errorf("document %q of point %s: %w", n.ID, n.PointID, storage.ErrConflict)
	}
	return old, false, nil
}

func (s *Store) Document(ctx context.Context, pointID, id string) (storage.Document, error) {
	var d storage.Document
	err := scanDoc(s.pool.QueryRow(ctx, "SELECT "+docCols+" FROM documents d WHERE d.point_id = $1 AND d.id = $2",
		pointID, id), &d)
	if err != nil {
		return storage.Document{}, fmt.Errorf("document %q of point %s: %w", id, pointID, classify(notFound(err)))
	}
	d.Kind, d.Total = "", 0
	return d, nil
}

func (s *Store) DocumentBody(ctx context.Context, pointID, id string) ([]byte, error) {
	var body []byte
	err := s.pool.QueryRow(ctx, "SELECT body FROM documents WHERE point_id = $1 AND id = $2", pointID, id).Scan(&body)
	if err != nil {
		return nil, fmt.Errorf("body of document %q of point %s: %w", id, pointID, classify(notFound(err)))
	}
	return body, nil
}

// Lease takes the documents with SELECT … FOR UPDATE SKIP LOCKED and leases
// them in the same statement: two nodes leasing the point at once pass over
// each other's rows rather than wait, and neither can take a row the other
// leased, since a locked row's qualification is checked again on its
// committed version.
//
// One round trip: the statement also reads the earliest end of the running
// leases it passed over (in its snapshot, before its own update: the rows it
// leases were not running leases then), and a second query in the same
// batch reads it again for when the statement leased nothing.
func (s *Store) Lease(ctx context.Context, r storage.LeaseRequest, takenMessage string) (storage.Leased, error) {
	out := storage.Leased{Documents: []storage.Document{}}
	after := ""
	if r.Resume {
		after = r.After
	}
	var b pgx.Batch
	b.Queue(`WITH
		after AS (SELECT coalesce((SELECT seq FROM documents WHERE point_id = $1 AND id = $2), 0) AS seq),
		cand AS (
			SELECT point_id, id, seq FROM documents
			WHERE point_id = $1 AND state IN `+queued+` AND seq > (SELECT seq FROM after)
				AND (state <> 'PENDING' OR lease_until IS NULL OR lease_until <= $3
					OR ($4 AND lease_owner IN ('', $5)))
			ORDER BY seq
			LIMIT $6
			FOR UPDATE SKIP LOCKED),
		bound AS (SELECT CASE WHEN count(*) = $6 THEN max(seq) ELSE 9223372036854775807 END AS seq FROM cand),
		upd AS (
			UPDATE documents d SET
				changed = CASE WHEN d.state = 'PENDING' THEN d.changed ELSE $3 END,
				message = CASE WHEN d.state = 'PENDING' THEN d.message ELSE $7 END,
				state = 'PENDING', lease_until = $8, lease_owner = $5, leases = d.leases + 1
			FROM cand WHERE d.point_id = cand.point_id AND d.id = cand.id
			RETURNING `+docCols+`, d.body)
		SELECT upd.*, (SELECT min(lease_until) FROM documents
			WHERE point_id = $1 AND state IN `+queued+` AND state = 'PENDING' AND lease_until > $3
				AND seq > (SELECT seq FROM after) AND seq < (SELECT seq FROM bound)
				AND id NOT IN (SELECT id FROM cand) AND NOT ($4 AND lease_owner IN ('', $5)))
		FROM upd`,
		r.PointID, after, r.Now, r.Resume, r.Owner, max(r.Max, 1), takenMessage, r.Until)
	b.Queue(nextExpirySQL, r.PointID, r.Now, after, r.Resume, r.Owner)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	fail := func(err error) (storage.Leased, error) {
		return storage.Leased{}, fmt.Errorf("pgstore: lease for point %s: %w", r.PointID, classify(err))
	}
	rows, err := br.Query()
	if err != nil {
		return fail(err)
	}
	var next *time.Time
	for rows.Next() {
		var d storage.Document
		if err := scanDoc(rows, &d, &d.Body, &next); err != nil {
			rows.Close()
			return fail(err)
		}
		d.Kind, d.Total = "", 0
		out.Documents = append(out.Documents, d)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	slices.SortFunc(out.Documents, func(a, b storage.Document) int { return compareSeq(a.Seq, b.Seq) })
	if len(out.Documents) == 0 {
		if err := br.QueryRow().Scan(&next); err != nil {
			return fail(err)
		}
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	out.NextExpiry = timeOf(next)
	return out, nil
}

// nextExpirySQL is the earliest end of the point $1's running leases at $2
// after the document $3 ("": from the start), but those the register $5
// holds when resuming ($4): what a lease that took nothing passed over.
const nextExpirySQL = `SELECT min(lease_until) FROM documents
	WHERE point_id = $1 AND state IN ` + queued + ` AND state = 'PENDING' AND lease_until > $2
		AND seq > coalesce((SELECT seq FROM documents WHERE point_id = $1 AND id = $3), 0)
		AND NOT ($4 AND lease_owner IN ('', $5))`

func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Report runs in two round trips whatever the number of results: BEGIN with
// the documents, locked, and the register's health; every write with COMMIT.
func (s *Store) Report(ctx context.Context, pointID string, ids []string, at time.Time, apply func(int, *storage.Document)) (storage.Reported, error) {
	var out storage.Reported
	var docs map[string]*storage.Document
	var healthJSON []byte
	err := s.batchTx(ctx, func(b *pgx.Batch) {
		// The documents, locked in id order: two reports of the same ids in
		// another order wait rather than deadlock.
		b.Queue("SELECT "+docCols+" FROM documents d WHERE d.point_id = $1 AND d.id = ANY ($2) ORDER BY d.id FOR UPDATE OF d",
			pointID, ids)
		b.Queue("SELECT health FROM registers WHERE point_id = $1", pointID)
	}, func(br pgx.BatchResults) error {
		docs, healthJSON = map[string]*storage.Document{}, nil
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			d := new(storage.Document)
			if err := scanDoc(rows, d); err != nil {
				rows.Close()
				return err
			}
			d.Kind, d.Total = "", 0
			docs[d.ID] = d
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&healthJSON); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	}, func(wb *pgx.Batch) error {
		out = storage.Reported{}
		var health *cloud.Health
		healthRead := false
		for i, id := range ids {
			d, ok := docs[id]
			if !ok {
				out.Unknown = append(out.Unknown, id)
				continue
			}
			if d.Reported() {
				continue
			}
			apply(i, d)
			d.LeasedUntil, d.LeaseOwner = time.Time{}, ""
			if fi := d.FiscalInfo; fi != nil && fi.FNNumber != "" && fi.FNDocNumber > 0 {
				if !healthRead {
					var err error
					if health, err = fromJSON[cloud.Health](healthJSON); err != nil {
						return err
					}
					healthRead = true
				}
				fd := uint32(fi.FNDocNumber)
				if health != nil && health.Drive.Number == fi.FNNumber && fd <= health.OFDAckedThrough {
					d.OFDDeliveredAt = at // the result came late: the OFD has it already
				} else {
					wb.Queue(`INSERT INTO unacked (point_id, drive, fd, doc_id) VALUES ($1, $2, $3, $4)
					ON CONFLICT (point_id, drive, fd) DO UPDATE SET doc_id = EXCLUDED.doc_id`,
						pointID, fi.FNNumber, int64(fd), id)
				}
			}
			if d.ResponseURL != "" {
				// Due at once; a count of refusals already there stays.
				wb.Queue(`INSERT INTO callback_jobs (point_id, doc_id, seq, due) VALUES ($1, $2, $3, $4)
					ON CONFLICT (point_id, doc_id) DO UPDATE SET seq = EXCLUDED.seq, due = EXCLUDED.due`,
					pointID, id, int64(d.Seq), at)
				d.CallbackDue = true
			}
			if err := queueSaveDoc(wb, d); err != nil {
				return err
			}
			out.Changed = append(out.Changed, *d)
		}
		return nil
	})
	if err != nil {
		return storage.Reported{}, fmt.Errorf("pgstore: results for point %s: %w", pointID, classify(err))
	}
	return out, nil
}

func (s *Store) Requeue(ctx context.Context, pointID, id string, at time.Time, message string) (storage.Document, error) {
	var d storage.Document
	requeued := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		requeued = false
		var err error
		if d, err = readDoc(ctx, tx, pointID, id, true); err != nil {
			return err
		}
		d.Kind, d.Total = "", 0
		switch d.State {
		case cloud.Requeued:
			return nil
		case cloud.Failed:
		default:
			return storage.ErrConflict
		}
		d.State, d.Changed, d.Requeued, d.Message = cloud.Requeued, at, true, message
		d.FailureInfo, d.FiscalInfo, d.LeasedUntil, d.LeaseOwner = nil, nil, time.Time{}, ""
		if err := saveDoc(ctx, tx, &d); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRow(ctx, `UPDATE documents SET seq = nextval('document_seq')
			WHERE point_id = $1 AND id = $2 RETURNING seq`, pointID, id).Scan(&seq); err != nil {
			return err
		}
		d.Seq = uint64(seq)
		// A callback still retrying the failure has nothing left to say.
		if _, err := tx.Exec(ctx, "DELETE FROM callback_jobs WHERE point_id = $1 AND doc_id = $2", pointID, id); err != nil {
			return err
		}
		d.CallbackDue = false
		if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", wakeChannel, pointID); err != nil {
			return err
		}
		requeued = true
		return nil
	})
	if errors.Is(err, storage.ErrConflict) {
		return d, fmt.Errorf("re-queue of document %q (%s): %w", id, d.State, classify(err))
	}
	if err != nil {
		return storage.Document{}, fmt.Errorf("re-queue of document %q of point %s: %w", id, pointID, classify(err))
	}
	if requeued {
		s.wake.Notify(ctx, pointID)
	}
	return d, nil
}

func (s *Store) MarkDelivered(ctx context.Context, pointID, drive string, through uint32, at time.Time) (int, error) {
	if drive == "" || through == 0 {
		return 0, nil
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH
		gone AS (DELETE FROM unacked WHERE point_id = $1 AND drive = $2 AND fd <= $3 RETURNING doc_id),
		stamped AS (UPDATE documents SET ofd_acked = $4
			WHERE point_id = $1 AND id IN (SELECT doc_id FROM gone) AND ofd_acked IS NULL)
		SELECT count(*) FROM gone`,
		pointID, drive, int64(through), at).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pgstore: OFD acknowledgement for point %s: %w", pointID, classify(err))
	}
	return n, nil
}
