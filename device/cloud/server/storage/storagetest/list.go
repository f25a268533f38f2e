package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func (e *env) list(q storage.DocQuery) storage.DocPage {
	e.t.Helper()
	p, err := e.s.ListDocuments(e.ctx, q)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func money(k int64) *cloud.Money {
	m := cloud.Money(k)
	return &m
}

func testListFilters(t *testing.T, e *env) {
	e.point("p1")
	e.point("p2")
	day1 := e.now
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "Sale-1", Hash: "h", Body: body("Sale-1", "SALE", "CARD", 1000), At: e.now})
	e.advance(time.Hour)
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "ret-2", Hash: "h", Body: body("ret-2", "RETURN", "CASH", 5000), At: e.now})
	e.advance(24 * time.Hour)
	day2 := e.now
	e.postDoc(storage.NewDocument{PointID: "p1", ID: "sale-3", Hash: "h", Body: body("sale-3", "SALE", "CASH", 20000), At: e.now})
	e.postDoc(storage.NewDocument{PointID: "p2", ID: "sale-4", Hash: "h", Body: body("sale-4", "SALE", "CASH", 1000), At: e.now})
	e.lease("p1", "reg-p1", 1, false, "")
	e.printed("p1", 1, "Sale-1") // fiscalized as SALE of 10.00

	both := []storage.PointRange{{PointID: "p1"}, {PointID: "p2"}}
	cases := []struct {
		name string
		q    storage.DocQuery
		want []string
	}{
		{"all, newest first", storage.DocQuery{Points: both}, []string{"sale-4", "sale-3", "ret-2", "Sale-1"}},
		{"one point", storage.DocQuery{Points: both[:1]}, []string{"sale-3", "ret-2", "Sale-1"}},
		{"state", storage.DocQuery{Points: both, State: cloud.Completed}, []string{"Sale-1"}},
		{"kind", storage.DocQuery{Points: both, Kind: "RETURN"}, []string{"ret-2"}},
		{"text ignores case", storage.DocQuery{Points: both, Text: "SALE"}, []string{"sale-4", "sale-3", "Sale-1"}},
		{"min", storage.DocQuery{Points: both, Min: money(5000)}, []string{"sale-3", "ret-2"}},
		{"max", storage.DocQuery{Points: both, Max: money(5000)}, []string{"sale-4", "ret-2", "Sale-1"}},
		{"range", storage.DocQuery{Points: []storage.PointRange{{PointID: "p1", From: day1, To: day2}}}, []string{"ret-2", "Sale-1"}},
		{"range from", storage.DocQuery{Points: []storage.PointRange{{PointID: "p1", From: day2}, {PointID: "p2", From: day2.Add(time.Hour)}}}, []string{"sale-3"}},
		{"undelivered", storage.DocQuery{Points: both, UndeliveredBefore: e.now.Add(time.Second)}, []string{"Sale-1"}},
		{"undelivered longer", storage.DocQuery{Points: both, UndeliveredBefore: e.now}, nil},
	}
	for _, c := range cases {
		p := e.list(storage.DocQuery{Points: c.q.Points, State: c.q.State, Kind: c.q.Kind, Text: c.q.Text, Min: c.q.Min, Max: c.q.Max,
			UndeliveredBefore: c.q.UndeliveredBefore, Limit: 100})
		if got := ids(p.Documents); !slices.Equal(got, c.want) || p.Next != "" {
			t.Errorf("%s: %v next %q, want %v", c.name, got, p.Next, c.want)
		}
	}
	p := e.list(storage.DocQuery{Points: both, Limit: 100})
	for _, d := range p.Documents {
		kind, total := "SALE", cloud.Money(0)
		switch d.ID {
		case "Sale-1", "sale-4":
			total = 1000
		case "ret-2":
			kind, total = "RETURN", 5000
		case "sale-3":
			total = 20000
		}
		if d.Kind != kind || d.Total != total || d.Body != nil {
			t.Errorf("%s listed as %s %v (body %s)", d.ID, d.Kind, d.Total, d.Body)
		}
	}
	if _, err := e.s.MarkDelivered(e.ctx, "p1", "D1", 1, e.now); err != nil {
		t.Fatal(err)
	}
	if p := e.list(storage.DocQuery{Points: both, UndeliveredBefore: e.now.Add(time.Hour), Limit: 10}); len(p.Documents) != 0 {
		t.Errorf("undelivered after the acknowledgement: %v", ids(p.Documents))
	}
}

func testListPagesWhilePosting(t *testing.T, e *env) {
	e.point("p1")
	e.point("p2")
	var want []string
	for i := range 30 {
		point := []string{"p1", "p2"}[i%2]
		id := fmt.Sprintf("d%02d", i)
		e.post(point, id)
		want = append(want, point+"/"+id)
		if i%3 == 0 { // several documents share a creation time
			e.advance(time.Millisecond)
		}
	}
	q := storage.DocQuery{Points: []storage.PointRange{{PointID: "p1"}, {PointID: "p2"}}, Limit: 7}
	seen := map[string]int{}
	var order []storage.Document
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("pages never end")
		}
		p := e.list(q)
		if len(p.Documents) > q.Limit {
			t.Fatalf("page of %d, limit %d", len(p.Documents), q.Limit)
		}
		for _, d := range p.Documents {
			seen[d.PointID+"/"+d.ID]++
			order = append(order, d)
		}
		// Newer documents arrive between pages, and one is reported.
		e.advance(time.Millisecond)
		e.post("p1", fmt.Sprintf("new%02d", page))
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	for _, k := range want {
		if seen[k] != 1 {
			t.Errorf("%s listed %d times", k, seen[k])
		}
	}
	for k := range seen {
		if !slices.Contains(want, k) {
			t.Errorf("%s, posted after the first page, listed", k)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i].CreatedAt().After(order[i-1].CreatedAt()) {
			t.Fatalf("not newest first at %d: %s after %s", i, order[i].ID, order[i-1].ID)
		}
	}
}

func testTotals(t *testing.T, e *env) {
	e.point("p1")
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	docs := []struct {
		id, kind, pay string
		sum           int64
		fd            int
		date          time.Time
		shift         int
	}{
		{"s1", "SALE", "CARD", 1000, 1, day.Add(10 * time.Hour), 1},
		{"s2", "SALE", "CASH", 2000, 2, day.Add(11 * time.Hour), 1},
		{"r1", "RETURN", "CASH", 500, 3, day.Add(12 * time.Hour), 2},
		{"old", "SALE", "CASH", 7000, 4, day.Add(-time.Hour), 1},
	}
	for _, d := range docs {
		e.postDoc(storage.NewDocument{PointID: "p1", ID: d.id, Hash: "h", Body: body(d.id, d.kind, d.pay, d.sum), At: e.now})
	}
	e.post("p1", "unfiscalized")
	e.lease("p1", "reg-p1", 10, false, "")
	for _, d := range docs {
		_, err := e.s.Report(e.ctx, "p1", []string{d.id}, e.now, func(_ int, doc *storage.Document) {
			doc.State, doc.Changed = cloud.Completed, e.now
			doc.FiscalInfo = &cloud.FiscalInfo{FNNumber: "D1", FNDocNumber: d.fd, ShiftNumber: d.shift, Date: d.date, Sum: cloud.Money(d.sum), CheckType: d.kind}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.s.Totals(e.ctx, storage.TotalsQuery{PointID: "p1", From: day, To: day.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.KindTotals{
		{Kind: "RETURN", Count: 1, Sum: 500, Payments: map[string]cloud.Money{"CASH": 500}},
		{Kind: "SALE", Count: 2, Sum: 3000, Payments: map[string]cloud.Money{"CARD": 1000, "CASH": 2000}},
	}
	check := func(name string, got storage.Totals, want []storage.KindTotals) {
		t.Helper()
		if len(got.Kinds) != len(want) {
			t.Fatalf("%s: %+v, want %+v", name, got.Kinds, want)
		}
		for i, w := range want {
			g := got.Kinds[i]
			if g.Kind != w.Kind || g.Count != w.Count || g.Sum != w.Sum || len(g.Payments) != len(w.Payments) {
				t.Fatalf("%s: %+v, want %+v", name, got.Kinds, want)
			}
			for k, v := range w.Payments {
				if g.Payments[k] != v {
					t.Fatalf("%s: %s payments %v, want %v", name, g.Kind, g.Payments, w.Payments)
				}
			}
		}
	}
	check("the day", got, want)
	got, err = e.s.Totals(e.ctx, storage.TotalsQuery{PointID: "p1", Drive: "D1", Shift: 1})
	if err != nil {
		t.Fatal(err)
	}
	check("shift 1", got, []storage.KindTotals{{Kind: "SALE", Count: 3, Sum: 10000, Payments: map[string]cloud.Money{"CARD": 1000, "CASH": 9000}}})
	got, err = e.s.Totals(e.ctx, storage.TotalsQuery{PointID: "p1", Drive: "D2", Shift: 1})
	if err != nil || len(got.Kinds) != 0 {
		t.Fatalf("another drive's shift: %+v, %v", got, err)
	}
}
