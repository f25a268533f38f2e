package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	bolt "go.etcd.io/bbolt"
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

func (p *periodTotals) add(kind string, sum cloud.Money, pays []cloud.MoneyPosition) {
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
	p.Lines[i].Count++
	p.Lines[i].Sum += sum
	p.Count++
	p.Net += sign * sum
	for _, m := range pays {
		switch m.PaymentType {
		case "CASH":
			p.Cash += sign * m.Sum
		case "CARD":
			p.Card += sign * m.Sum
		default:
			p.Other += sign * m.Sum
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
	Point pointRecord
	Today periodTotals
	Shift *periodTotals // nil: the register has not said which shift it is in
	Open  bool          // the shift is open
}

// totals sums today's receipts of the point, in its time zone, and those of
// the shift the register last reported, by the drive's number and the shift's.
func (s *Server) totals(tx *bolt.Tx, pr pointRecord, now time.Time) (pointTotals, error) {
	zone := pointZone(pr.Point)
	today := day(now, zone)
	out := pointTotals{Point: pr, Today: periodTotals{Title: "Сегодня, " + today.Format("02.01.2006")}}
	var drive string
	var shift int
	if tk := tx.Bucket(bucketPointReg).Get([]byte(pr.Point.ID)); tk != nil {
		var reg registerRecord
		if _, err := s.getRegister(tx, tk, &reg); err != nil {
			return out, err
		}
		if h := reg.Health; h != nil && h.Drive.Number != "" && h.ShiftNumber > 0 {
			drive, shift, out.Open = h.Drive.Number, int(h.ShiftNumber), h.ShiftOpen
			state := "закрыта"
			if h.ShiftOpen {
				state = "открыта"
			}
			out.Shift = &periodTotals{Title: fmt.Sprintf("Смена № %d (%s)", shift, state)}
		}
	}
	prefix := []byte(pr.Point.ID + "\x00")
	cur := tx.Bucket(bucketDocs).Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		var rec docRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return out, fmt.Errorf("document %q: %w", k, err)
		}
		fi := rec.FiscalInfo
		if fi == nil {
			continue
		}
		inToday := day(fi.Date, zone).Equal(today)
		inShift := out.Shift != nil && fi.FNNumber == drive && fi.ShiftNumber == shift
		if !inToday && !inShift {
			continue
		}
		var body struct {
			MoneyPositions []cloud.MoneyPosition `json:"moneyPositions"`
		}
		if err := json.Unmarshal(tx.Bucket(bucketBodies).Get(k), &body); err != nil {
			return out, fmt.Errorf("document %q: %w", k, err)
		}
		if inToday {
			out.Today.add(fi.CheckType, fi.Sum, body.MoneyPositions)
		}
		if inShift {
			out.Shift.add(fi.CheckType, fi.Sum, body.MoneyPositions)
		}
	}
	out.Today.sort()
	if out.Shift != nil {
		out.Shift.sort()
	}
	return out, nil
}

func (s *Server) totalsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	pts, err := s.points(c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := s.now()
	var rows []pointTotals
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, pr := range pts {
			t, err := s.totals(tx, pr, now)
			if err != nil {
				return err
			}
			rows = append(rows, t)
		}
		return nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := c.view("Выручка", "totals")
	v.Data = rows
	s.render(w, r, http.StatusOK, "totals", v)
}
