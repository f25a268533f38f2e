package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func entry(pointID, kind string, open bool, channel, to string) storage.AlertEntry {
	return storage.AlertEntry{Alert: storage.Alert{PointID: pointID, Kind: kind, Open: open, Title: kind}, Channel: channel, To: to}
}

func testIncidents(t *testing.T, e *env) {
	in := storage.Incident{PointID: "p1", Kind: "stopped", Message: "drive error", Since: e.now}
	doc := storage.Incident{PointID: "p1", Kind: "callback", DocumentID: "d1", Message: "refused", Since: e.now}
	for _, x := range []storage.Incident{in, doc, {PointID: "p2", Kind: "silent", Since: e.now}} {
		opened, err := e.s.OpenIncident(e.ctx, x, []storage.AlertEntry{entry(x.PointID, x.Kind, true, "email", "o@example.com")})
		if err != nil || !opened {
			t.Fatalf("open %+v: %v, %v", x, opened, err)
		}
	}
	opened, err := e.s.OpenIncident(e.ctx, storage.Incident{PointID: "p1", Kind: "stopped", Message: "other"}, []storage.AlertEntry{entry("p1", "stopped", true, "email", "o@example.com")})
	if err != nil || opened {
		t.Fatalf("an open incident opened again: %v, %v", opened, err)
	}
	got, err := e.s.Incidents(e.ctx, "p1")
	if err != nil || len(got) != 2 || got[0].Kind != "callback" || got[0].DocumentID != "d1" || got[1].Kind != "stopped" ||
		got[1].Message != "drive error" || !got[1].Since.Equal(e.now) || got[1].PointID != "p1" {
		t.Fatalf("incidents: %+v, %v", got, err)
	}
	closed, err := e.s.CloseIncident(e.ctx, in, []storage.AlertEntry{entry("p1", "stopped", false, "email", "o@example.com")})
	if err != nil || !closed {
		t.Fatalf("close: %v, %v", closed, err)
	}
	closed, err = e.s.CloseIncident(e.ctx, in, []storage.AlertEntry{entry("p1", "stopped", false, "email", "o@example.com")})
	if err != nil || closed {
		t.Fatalf("closed twice: %v, %v", closed, err)
	}
	if got, _ := e.s.Incidents(e.ctx, "p1"); len(got) != 1 || got[0].Kind != "callback" {
		t.Fatalf("after the close: %+v", got)
	}
	// The log: the three openings and one close, newest first, numbered in order.
	log, err := e.s.AlertLog(e.ctx, []string{"p1"}, 10)
	if err != nil || len(log) != 3 {
		t.Fatalf("log of p1: %+v, %v", log, err)
	}
	if log[0].Alert.Open || log[0].Alert.Kind != "stopped" || !(log[0].Seq > log[1].Seq && log[1].Seq > log[2].Seq) {
		t.Fatalf("log order: %+v", log)
	}
	if log, _ := e.s.AlertLog(e.ctx, []string{"p1", "p2"}, 2); len(log) != 2 || log[0].Alert.PointID != "p1" || log[1].Alert.PointID != "p2" {
		t.Fatalf("newest two of both points: %+v", log)
	}
}

func testIncidentOpenedOnce(t *testing.T, e *env) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			ok, err := e.s.OpenIncident(e.ctx, storage.Incident{PointID: "p1", Kind: "silent", Since: e.now},
				[]storage.AlertEntry{entry("p1", "silent", true, "webhook", "http://hook.example")})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				opened++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if opened != 1 {
		t.Fatalf("%d concurrent opens opened the incident, want 1", opened)
	}
	if log, _ := e.s.AlertLog(e.ctx, []string{"p1"}, 100); len(log) != 1 {
		t.Fatalf("%d alerts logged, want 1", len(log))
	}
}

func testAlertOutbox(t *testing.T, e *env) {
	mail, hook := [2]string{"email", "o@example.com"}, [2]string{"webhook", "http://hook.example"}
	var alerts []storage.AlertEntry
	for _, kind := range []string{"k1", "k2", "k3"} {
		alerts = append(alerts, entry("p1", kind, true, mail[0], mail[1]), entry("p1", kind, true, hook[0], hook[1]))
	}
	for i := 0; i < len(alerts); i += 2 {
		if _, err := e.s.OpenIncident(e.ctx, storage.Incident{PointID: "p1", Kind: alerts[i].Alert.Kind, Since: e.now}, alerts[i:i+2]); err != nil {
			t.Fatal(err)
		}
	}
	until := e.now.Add(time.Minute)
	// n1 takes one destination, n2 the other; nobody gets a third.
	a, err := e.s.ClaimAlert(e.ctx, "n1", "", "", e.now, until)
	if err != nil || a.Alert.Kind != "k1" {
		t.Fatalf("first claim: %+v, %v", a, err)
	}
	b, err := e.s.ClaimAlert(e.ctx, "n2", "", "", e.now, until)
	if err != nil || b.Alert.Kind != "k1" || b.Channel == a.Channel {
		t.Fatalf("second claim: %+v (first %+v), %v", b, a, err)
	}
	_, err = e.s.ClaimAlert(e.ctx, "n3", "", "", e.now, until)
	wantErr(t, "a claim with every destination held", err, storage.ErrNotFound)
	_, err = e.s.ClaimAlert(e.ctx, "n3", a.Channel, a.To, e.now, until)
	wantErr(t, "a claim of another's destination", err, storage.ErrNotFound)
	// n1 sends its destination's entries in order.
	var sent []string
	for {
		a.Attempts, a.Sent, a.Done, a.Changed = 1, true, true, e.now
		if err := e.s.SaveAlert(e.ctx, a); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, a.Alert.Kind)
		a, err = e.s.ClaimAlert(e.ctx, "n1", a.Channel, a.To, e.now, until)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(sent, []string{"k1", "k2", "k3"}) {
		t.Fatalf("sent %v, want in the order raised", sent)
	}
	// An entry saved not Done stays in the outbox; n2's hold ends and n3 takes over.
	b.Attempts, b.Error = 1, "refused"
	if err := e.s.SaveAlert(e.ctx, b); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	c, err := e.s.ClaimAlert(e.ctx, "n3", "", "", e.now, e.now.Add(time.Minute))
	if err != nil || c.Seq != b.Seq || c.Attempts != 1 || c.Error != "refused" {
		t.Fatalf("after the hold ended: %+v, %v", c, err)
	}
	wantErr(t, "saving an entry not in the log", e.s.SaveAlert(e.ctx, storage.AlertEntry{Seq: 9999, Done: true}), storage.ErrNotFound)
	log, _ := e.s.AlertLog(e.ctx, []string{"p1"}, 100)
	for _, l := range log {
		if l.Channel == mail[0] && l.Channel == a.Channel && !l.Done {
			t.Errorf("sent entry not done in the log: %+v", l)
		}
	}
}

// A node that lets go of its holds hands its callback jobs and alert
// destinations to the others at once; another node's holds stay.
func testReleaseHolds(t *testing.T, e *env) {
	e.point("p1")
	e.withCallback("p1", "cb0", "cb1")
	until := e.now.Add(time.Minute)
	take := func(node string) int {
		t.Helper()
		jobs, err := e.s.TakeCallbacks(e.ctx, node, e.now, e.now, until, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs)
	}
	if n := take("n1"); n != 2 {
		t.Fatalf("n1 took %d jobs, want 2", n)
	}
	if n := take("n2"); n != 0 {
		t.Fatalf("n2 took %d of n1's held jobs", n)
	}
	if err := e.s.ReleaseHolds(e.ctx, "n2"); err != nil { // holds nothing: changes nothing
		t.Fatal(err)
	}
	if n := take("n3"); n != 0 {
		t.Fatalf("n3 took %d jobs after n2 let go of none", n)
	}
	if err := e.s.ReleaseHolds(e.ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if n := take("n2"); n != 2 {
		t.Fatalf("n2 took %d jobs after n1 let go, want 2", n)
	}

	mail := entry("p1", "k1", true, "email", "o@example.com")
	if _, err := e.s.OpenIncident(e.ctx, storage.Incident{PointID: "p1", Kind: "k1", Since: e.now}, []storage.AlertEntry{mail}); err != nil {
		t.Fatal(err)
	}
	a, err := e.s.ClaimAlert(e.ctx, "n1", "", "", e.now, until)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ClaimAlert(e.ctx, "n2", "", "", e.now, until)
	wantErr(t, "a claim of n1's destination", err, storage.ErrNotFound)
	if err := e.s.ReleaseHolds(e.ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	b, err := e.s.ClaimAlert(e.ctx, "n2", "", "", e.now, until)
	if err != nil || b.Seq != a.Seq {
		t.Fatalf("n2's claim after n1 let go: %+v, %v; want entry %d", b, err, a.Seq)
	}
}
