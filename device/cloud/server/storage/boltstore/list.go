package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

// match says whether the document passes the query's filters other than
// its point and range; d has Kind and Total.
func match(q *storage.DocQuery, d *storage.Document) bool {
	switch {
	case q.State != "" && d.State != q.State,
		q.Kind != "" && d.Kind != q.Kind,
		q.Text != "" && !strings.Contains(strings.ToLower(d.ID), strings.ToLower(q.Text)),
		q.Min != nil && d.Total < *q.Min,
		q.Max != nil && d.Total > *q.Max:
		return false
	case !q.UndeliveredBefore.IsZero():
		return d.FiscalInfo != nil && d.OFDDeliveredAt.IsZero() && d.FiscalizedAt().Before(q.UndeliveredBefore)
	}
	return true
}

func (s *Store) ListDocuments(ctx context.Context, q storage.DocQuery) (storage.DocPage, error) {
	var after *storage.Cursor
	if q.After != "" {
		c, err := storage.ParseCursor(q.After)
		if err != nil {
			return storage.DocPage{}, err
		}
		after = &c
	}
	limit := max(q.Limit, 1)
	var out []storage.Document
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, pr := range q.Points {
			prefix := []byte(pr.PointID + "\x00")
			cur := tx.Bucket(bucketDocs).Cursor()
			for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
				var d storage.Document
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("document %q: %w", k, err)
				}
				created := d.CreatedAt()
				if !pr.From.IsZero() && created.Before(pr.From) || !pr.To.IsZero() && !created.Before(pr.To) {
					continue
				}
				if after != nil && !after.Before(storage.CursorOf(&d)) {
					continue
				}
				if d.FiscalInfo == nil { // the body gives the type and the sum until then
					d.Body = tx.Bucket(bucketBodies).Get(k)
				}
				d.Kind, d.Total = storage.KindTotal(&d)
				d.Body = nil
				if !match(&q, &d) {
					continue
				}
				d.CallbackDue = tx.Bucket(bucketCallbacks).Get(k) != nil
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return storage.DocPage{}, fmt.Errorf("cloud: listing documents: %w", err)
	}
	slices.SortFunc(out, func(a, b storage.Document) int {
		switch ca, cb := storage.CursorOf(&a), storage.CursorOf(&b); {
		case ca.Before(cb):
			return -1
		case cb.Before(ca):
			return 1
		}
		return 0
	})
	var page storage.DocPage
	if len(out) > limit {
		out = out[:limit]
		page.Next = storage.CursorOf(&out[limit-1]).String()
	}
	page.Documents = out
	return page, nil
}

func (s *Store) Totals(ctx context.Context, q storage.TotalsQuery) (storage.Totals, error) {
	var out storage.Totals
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(q.PointID + "\x00")
		cur := tx.Bucket(bucketDocs).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var d storage.Document
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("document %q: %w", k, err)
			}
			fi := d.FiscalInfo
			if fi == nil {
				continue
			}
			if q.Drive != "" {
				if fi.FNNumber != q.Drive || fi.ShiftNumber != q.Shift {
					continue
				}
			} else if !q.From.IsZero() && fi.Date.Before(q.From) || !q.To.IsZero() && !fi.Date.Before(q.To) {
				continue
			}
			var body struct {
				MoneyPositions []cloud.MoneyPosition `json:"moneyPositions"`
			}
			if err := json.Unmarshal(tx.Bucket(bucketBodies).Get(k), &body); err != nil {
				return fmt.Errorf("document %q: %w", k, err)
			}
			i := slices.IndexFunc(out.Kinds, func(t storage.KindTotals) bool { return t.Kind == fi.CheckType })
			if i < 0 {
				i = len(out.Kinds)
				out.Kinds = append(out.Kinds, storage.KindTotals{Kind: fi.CheckType, Payments: map[string]cloud.Money{}})
			}
			t := &out.Kinds[i]
			t.Count++
			t.Sum += fi.Sum
			for _, m := range body.MoneyPositions {
				t.Payments[m.PaymentType] += m.Sum
			}
		}
		return nil
	})
	if err != nil {
		return storage.Totals{}, fmt.Errorf("cloud: totals of point %s: %w", q.PointID, err)
	}
	slices.SortFunc(out.Kinds, func(a, b storage.KindTotals) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
