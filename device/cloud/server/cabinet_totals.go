package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// kindOrder lists the receipts' types in the order the totals show them; the
// register's checkType names are folded into the shop's (kindCanon).
var kindOrder = []string{"SALE", "RETURN", "BUY", "BUY_RETURN", "SALE_CORRECTION", "BUY_CORRECTION"}

var kindCanon = map[string]string{
	"PURCHASE": "BUY", "RETURN_PURCHASE": "BUY_RETURN", "PURCHASE_CORRECTION": "BUY_CORRECTION",
}

// kindLine is one type's receipts in a period.
type kindLine struct {
	Kind  string
	Count int
	Sum   cloud.Money
	Out   bool // money paid out: counted against the takings
}

// periodTotals sums a point's fiscalized receipts of a period from the
// documents the cloud holds.
type periodTotals struct {
	Title string
	Lines []kindLine
	Count int
	// Net is the money in less the money out; Cash, Card and Other split it by
	// the payments' types (Other: prepayment, postpayment and other forms).
	Net, Cash, Card, Other cloud.Money
}

func (p *periodTotals) add(t storage.KindTotals) {
	kind := t.Kind
	if c, ok := kindCanon[kind]; ok {
		kind = c
	}
	sign := cloud.Money(1)
	if kindSign[kind] < 0 {
		sign = -1
	}
	i := 0
	for i < len(p.Lines) && p.Lines[i].Kind != kind {
		i++
	}
	if i == len(p.Lines) {
		p.Lines = append(p.Lines, kindLine{Kind: kind, Out: sign < 0})
	}
	p.Lines[i].Count += t.Count
	p.Lines[i].Sum += t.Sum
	p.Count += t.Count
	p.Net += sign * t.Sum
	for pay, sum := range t.Payments {
		switch pay {
		case "CASH":
			p.Cash += sign * sum
		case "CARD":
			p.Card += sign * sum
		default:
			p.Other += sign * sum
		}
	}
}

// sort puts the lines in kindOrder, unknown types last.
func (p *periodTotals) sort() {
	var out []kindLine
	for _, k := range kindOrder {
		for _, l := range p.Lines {
			if l.Kind == k {
				out = append(out, l)
			}
		}
	}
	for _, l := range p.Lines {
		known := false
		for _, k := range kindOrder {
			known = known || l.Kind == k
		}
		if !known {
			out = append(out, l)
		}
	}
	p.Lines = out
}

// pointTotals is a point's today and its register's current (or last) shift.
type pointTotals struct {
	Point storage.Point
	Today periodTotals
	Shift *periodTotals // nil: the register has not said which shift it is in
	Open  bool          // the shift is open
}

// totals sums today's receipts of the point, in its time zone, and those of
// the shift the register last reported, by the drive's number and the shift's.
func (s *Server) totals(ctx context.Context, pr storage.Point, now time.Time) (pointTotals, error) {
	zone := pointZone(pr.Point)
	today := day(now, zone)
	out := pointTotals{Point: pr, Today: periodTotals{Title: "Сегодня, " + today.Format("02.01.2006")}}
	y, m, d := today.Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, zone)
	t, err := s.store.Totals(ctx, storage.TotalsQuery{PointID: pr.Point.ID, From: from, To: from.AddDate(0, 0, 1)})
	if err != nil {
		return out, err
	}
	for _, k := range t.Kinds {
		out.Today.add(k)
	}
	out.Today.sort()
	reg, err := s.store.PointRegister(ctx, pr.Point.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if h := reg.Health; h != nil && h.Drive.Number != "" && h.ShiftNumber > 0 {
		out.Open = h.ShiftOpen
		state := "закрыта"
		if h.ShiftOpen {
			state = "открыта"
		}
		out.Shift = &periodTotals{Title: fmt.Sprintf("Смена № %d (%s)", h.ShiftNumber, state)}
		t, err := s.store.Totals(ctx, storage.TotalsQuery{PointID: pr.Point.ID, Drive: h.Drive.Number, Shift: int(h.ShiftNumber)})
		if err != nil {
			return out, err
		}
		for _, k := range t.Kinds {
			out.Shift.add(k)
		}
		out.Shift.sort()
	}
	return out, nil
}

func (s *Server) totalsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	pts, err := s.points(r, c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := s.now()
	var rows []pointTotals
	for _, pr := range pts {
		t, err := s.totals(r.Context(), pr, now)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		rows = append(rows, t)
	}
	v := c.view("Выручка", "totals")
	v.Data = rows
	s.render(w, r, http.StatusOK, "totals", v)
}
