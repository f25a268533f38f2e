package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// ListDocuments pages by keyset: the next page starts below the last row's
// (created, point_id, id), so a page costs the same however deep, and posts
// made meanwhile (newer) never shift it. Each point is its own branch of a
// UNION ALL, read down documents_created from the cursor on and cut at the
// page's size, so a page of an owner with many points sorts a few rows per
// point, not all their documents.
func (s *Store) ListDocuments(ctx context.Context, q storage.DocQuery) (storage.DocPage, error) {
	if len(q.Points) == 0 {
		return storage.DocPage{}, nil
	}
	var after *storage.Cursor
	if q.After != "" {
		c, err := storage.ParseCursor(q.After)
		if err != nil {
			return storage.DocPage{}, err
		}
		after = &c
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var filters []string
	if q.State != "" {
		filters = append(filters, "d.state = "+arg(string(q.State)))
	}
	if q.Kind != "" {
		filters = append(filters, "d.kind = "+arg(q.Kind))
	}
	if q.Text != "" {
		// strpos, not LIKE: the text's % and _ are the shop's characters.
		// Both sides folded by Go, as the embedded store folds them.
		filters = append(filters, "strpos(d.id_lower, "+arg(strings.ToLower(q.Text))+") > 0")
	}
	if q.Min != nil {
		filters = append(filters, "d.total >= "+arg(int64(*q.Min)))
	}
	if q.Max != nil {
		filters = append(filters, "d.total <= "+arg(int64(*q.Max)))
	}
	if !q.UndeliveredBefore.IsZero() {
		filters = append(filters, "d.fiscal_info IS NOT NULL AND d.ofd_acked IS NULL AND coalesce(d.fiscalized, d.changed) < "+
			arg(q.UndeliveredBefore))
	}
	limit := max(q.Limit, 1)
	limitArg := arg(limit + 1)
	var branches []string
	for _, p := range q.Points {
		where := append([]string{"d.point_id = " + arg(p.PointID)}, filters...)
		if !p.From.IsZero() {
			where = append(where, "d.created >= "+arg(p.From))
		}
		if !p.To.IsZero() {
			where = append(where, "d.created < "+arg(p.To))
		}
		// The cursor's (created, point_id, id) with point_id fixed: the
		// rows of a point ordered after the cursor's point are those of
		// the same created on; before it, those older; the cursor's own,
		// those below it in (created, id). Ids compare in byte order,
		// Go's and COLLATE "C"'s.
		if after != nil {
			switch c := strings.Compare(p.PointID, after.PointID); {
			case c < 0:
				where = append(where, "d.created <= "+arg(after.Created))
			case c > 0:
				where = append(where, "d.created < "+arg(after.Created))
			default:
				where = append(where, "(d.created, d.id) < ("+arg(after.Created)+", "+arg(after.ID)+")")
			}
		}
		branches = append(branches, "(SELECT "+docCols+" FROM documents d WHERE "+strings.Join(where, " AND ")+
			" ORDER BY d.created DESC, d.id DESC LIMIT "+limitArg+")")
	}
	sql := "SELECT * FROM (" + strings.Join(branches, " UNION ALL ") + ") u ORDER BY u.created DESC, u.point_id DESC, u.id DESC LIMIT " + limitArg
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return storage.DocPage{}, fmt.Errorf("pgstore: listing documents: %w", classify(err))
	}
	defer rows.Close()
	out := []storage.Document{}
	for rows.Next() {
		var d storage.Document
		if err := scanDoc(rows, &d); err != nil {
			return storage.DocPage{}, fmt.Errorf("pgstore: listing documents: %w", classify(err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return storage.DocPage{}, fmt.Errorf("pgstore: listing documents: %w", classify(err))
	}
	var page storage.DocPage
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		page.Next = storage.Cursor{Created: last.Created, PointID: last.PointID, ID: last.ID}.String()
	}
	page.Documents = out
	return page, nil
}

// Totals reads the selected documents' bodies for their payments; the
// selection itself is the indexes' (documents_fiscal_date, documents_shift).
func (s *Store) Totals(ctx context.Context, q storage.TotalsQuery) (storage.Totals, error) {
	sql := "SELECT fiscal_info, body FROM documents WHERE point_id = $1 AND fiscal_info IS NOT NULL"
	args := []any{q.PointID}
	if q.Drive != "" {
		sql += " AND fn_number = $2 AND shift_number = $3"
		args = append(args, q.Drive, q.Shift)
	} else {
		if !q.From.IsZero() {
			args = append(args, q.From)
			sql += " AND fiscal_date >= $" + strconv.Itoa(len(args))
		}
		if !q.To.IsZero() {
			args = append(args, q.To)
			sql += " AND fiscal_date < $" + strconv.Itoa(len(args))
		}
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return storage.Totals{}, fmt.Errorf("pgstore: totals of point %s: %w", q.PointID, classify(err))
	}
	defer rows.Close()
	var out storage.Totals
	for rows.Next() {
		var fiscal, body []byte
		if err := rows.Scan(&fiscal, &body); err != nil {
			return storage.Totals{}, fmt.Errorf("pgstore: totals of point %s: %w", q.PointID, classify(err))
		}
		var fi cloud.FiscalInfo
		var b struct {
			MoneyPositions []cloud.MoneyPosition `json:"moneyPositions"`
		}
		if err := json.Unmarshal(fiscal, &fi); err != nil {
			return storage.Totals{}, fmt.Errorf("pgstore: totals of point %s: %w", q.PointID, classify(err))
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return storage.Totals{}, fmt.Errorf("pgstore: totals of point %s: %w", q.PointID, classify(err))
		}
		i := slices.IndexFunc(out.Kinds, func(t storage.KindTotals) bool { return t.Kind == fi.CheckType })
		if i < 0 {
			i = len(out.Kinds)
			out.Kinds = append(out.Kinds, storage.KindTotals{Kind: fi.CheckType, Payments: map[string]cloud.Money{}})
		}
		t := &out.Kinds[i]
		t.Count++
		t.Sum += fi.Sum
		for _, m := range b.MoneyPositions {
			t.Payments[m.PaymentType] += m.Sum
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Totals{}, fmt.Errorf("pgstore: totals of point %s: %w", q.PointID, classify(err))
	}
	slices.SortFunc(out.Kinds, func(a, b storage.KindTotals) int { return strings.Compare(a.Kind, b.Kind) })
	return out, nil
}
