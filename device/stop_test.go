package device

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/store"
)

// badLease is a document that reaches the register but cannot be registered: its
// tax system is not one the point is registered for.
func badLease(id string) cloud.Lease {
	doc := devicetest.Sale(id, "SALE", "CARD", 10)
	doc["taxMode"] = "PATENT"
	b, _ := json.Marshal(doc)
	return cloud.Lease{ID: id, Document: b}
}

func goodLease(id string) cloud.Lease {
	b, _ := json.Marshal(devicetest.Sale(id, "SALE", "CARD", 10))
	return cloud.Lease{ID: id, Document: b}
}

func (g *rig) stopState() store.Stop {
	s, err := g.st.Stop()
	if err != nil {
		g.t.Fatal(err)
	}
	return s
}

func TestFourBadDocumentsInARowStop(t *testing.T) {
	g := newRig(t, Config{})
	for i, id := range []string{"b1", "b2", "b3"} {
		g.rt.Accept(g.ctx, []cloud.Lease{badLease(id)})
		g.rt.drain(g.ctx)
		if s := g.stopState(); s.Stopped || s.Consecutive != i+1 {
			t.Fatalf("after %d bad documents: %+v", i+1, s)
		}
	}
	// A good one in between resets the count.
	g.rt.Accept(g.ctx, []cloud.Lease{goodLease("ok1")})
	g.rt.drain(g.ctx)
	if s := g.stopState(); s.Consecutive != 0 {
		t.Fatalf("a good document did not reset the count: %+v", s)
	}
	for _, id := range []string{"b4", "b5", "b6", "b7"} {
		g.rt.Accept(g.ctx, []cloud.Lease{badLease(id)})
		g.rt.drain(g.ctx)
	}
	s := g.stopState()
	if !s.Stopped || !strings.Contains(s.Reason, "4 documents in a row") {
		t.Fatalf("4 bad documents in a row: %+v", s)
	}
	h := g.rt.Health(g.ctx)
	if !h.Stopped || h.StopReason == "" {
		t.Fatalf("health does not show the stop: %+v", h)
	}
	// Stopped: the poller takes no new documents, and none is signed.
	if g.rt.Taking() {
		t.Fatal("a stopped register is still taking documents")
	}
	g.rt.Accept(g.ctx, []cloud.Lease{goodLease("after")})
	g.rt.drain(g.ctx)
	if d, _ := g.st.Get("after"); d.State != store.Accepted {
		t.Fatalf("a stopped register fiscalized a document: %s", d.State)
	}
	// The cloud shows the register FAILED with the reason once the heartbeat says so.
	if err := g.client.Heartbeat(g.ctx, h); err != nil {
		t.Fatal(err)
	}
	if ps := g.pointStatus(); ps.Status != "FAILED" || !strings.Contains(ps.Message, "in a row") {
		t.Fatalf("point status after a stop: %+v", ps)
	}
	if ans := g.rt.Console(g.ctx, []string{"resume"}); !ans.OK {
		t.Fatalf("resume: %s", ans.Error)
	}
	if s := g.stopState(); s.Stopped || s.Consecutive != 0 {
		t.Fatalf("after resume: %+v", s)
	}
	if !g.rt.Taking() {
		t.Fatal("a resumed register is not taking documents")
	}
	g.rt.drain(g.ctx)
	if d, _ := g.st.Get("after"); d.State != store.Fiscalized {
		t.Fatalf("after resume the document is %s", d.State)
	}
}

func TestDriveFaultStopsAtOnceAndResumeReconciles(t *testing.T) {
	g := newRig(t, Config{})
	g.rt.Accept(g.ctx, []cloud.Lease{goodLease("warm")})
	g.rt.drain(g.ctx)
	g.em.FailNextWrites(1)
	g.rt.Accept(g.ctx, []cloud.Lease{goodLease("victim")})
	g.rt.drain(g.ctx)
	s := g.stopState()
	if !s.Stopped || !strings.Contains(s.Reason, "drive") {
		t.Fatalf("one drive fault: %+v", s)
	}
	if d, _ := g.st.Get("victim"); d.State != store.Accepted {
		t.Fatalf("the document hit by the fault is %s, want still accepted", d.State)
	}
	if h := g.rt.Health(g.ctx); h.Drive.Error == "" {
		t.Fatal("health does not name the drive error")
	}
	if err := g.rt.Resume(g.ctx); err != nil {
		t.Fatal(err)
	}
	g.rt.drain(g.ctx)
	d, _ := g.st.Get("victim")
	if d.State != store.Fiscalized {
		t.Fatalf("after resume: %s", d.State)
	}
	if err := g.st.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteModeNeverStops(t *testing.T) {
	g := newRig(t, Config{RemoteMode: true})
	for _, id := range []string{"b1", "b2", "b3", "b4", "b5", "b6"} {
		g.rt.Accept(g.ctx, []cloud.Lease{badLease(id)})
		g.rt.drain(g.ctx)
	}
	if s := g.stopState(); s.Stopped {
		t.Fatalf("remote mode stopped: %+v", s)
	}
	g.em.FailNextWrites(1)
	g.rt.Accept(g.ctx, []cloud.Lease{goodLease("g")})
	g.rt.drain(g.ctx) // the fault: not stopped, the document waits for the next pass
	if s := g.stopState(); s.Stopped {
		t.Fatalf("remote mode stopped on a drive fault: %+v", s)
	}
	if d, _ := g.st.Get("g"); d.State != store.Accepted {
		t.Fatalf("remote mode: after a drive fault the document is %s, want accepted until the next pass", d.State)
	}
	g.rt.drain(g.ctx) // retried
	if d, _ := g.st.Get("g"); d.State != store.Fiscalized {
		t.Fatalf("remote mode: the document is %s after the retry", d.State)
	}
	st, _ := g.em.State(g.ctx)
	if err := g.st.Check(); err != nil || st.ReceiptsInShift != 1 {
		t.Fatalf("check %v, receipts in shift %d (want 1)", err, st.ReceiptsInShift)
	}
}

// In remote-fiscalization mode a drive that refuses every document for good
// (archive full, key expired) fails each one with that reason, so the shop can
// send it elsewhere; the register neither stops nor spins on it.
func TestRemoteModeFailsWhatTheDriveRefusesForGood(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault func(g *rig)
		want  string
	}{
		{"archive full", func(g *rig) { g.em.SetMemoryFull(true) }, cloud.FailureFNMemoryOverflow},
		{"key expired", func(g *rig) { g.em.ExpireKey() }, cloud.FailureFNExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newRig(t, Config{RemoteMode: true})
			g.rt.Accept(g.ctx, []cloud.Lease{goodLease("warm")})
			g.rt.drain(g.ctx)
			c.fault(g)
			g.rt.Accept(g.ctx, []cloud.Lease{goodLease("r1"), goodLease("r2")})
			done := make(chan struct{})
			go func() { g.rt.drain(g.ctx); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the pipeline does not return while the drive refuses")
			}
			for _, id := range []string{"r1", "r2"} {
				d, err := g.st.Get(id)
				if err != nil || d.State != store.Failed {
					t.Fatalf("%s: %v %v, want failed", id, d.State, err)
				}
				var res cloud.Result
				if err := json.Unmarshal(d.Result, &res); err != nil || res.FailureInfo == nil || res.FailureInfo.Type != c.want {
					t.Fatalf("%s: result %s (%v), want failure type %s", id, d.Result, err, c.want)
				}
			}
			if s := g.stopState(); s.Stopped {
				t.Fatalf("remote mode stopped: %+v", s)
			}
		})
	}
}

func (g *rig) pointStatus() cloud.PointStatus {
	req, _ := http.NewRequest("GET", g.http.URL+"/api/fn/v1/status", nil)
	req.SetBasicAuth(g.sb.Login, g.sb.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ps cloud.PointStatus
	json.NewDecoder(resp.Body).Decode(&ps)
	return ps
}
