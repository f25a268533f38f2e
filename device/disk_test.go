package device

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/store"
)

// TestHealthDiskFull: with its disk full the register's health, its status
// line and the heartbeat say so, rather than READY.
func TestHealthDiskFull(t *testing.T) {
	g := newRig(t, Config{})
	if h := g.rt.Health(g.ctx); h.DiskFull != "" {
		t.Fatalf("a roomy disk: %q", h.DiskFull)
	}
	if err := g.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(g.dir, "kassa.db"), store.Limits{MinFree: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	g.st = st
	g.rt = New(Config{Location: msk, Serial: SandboxSerial, Version: "0.1.0"}, g.em, st, g.client, nil, g.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.rt.loadPoint(g.ctx); err != nil {
		t.Fatal(err)
	}
	h := g.rt.Health(g.ctx)
	if !strings.Contains(h.DiskFull, "disk of kassa.db is full") {
		t.Fatalf("health with the disk full: %q", h.DiskFull)
	}
	if ans := g.rt.Console(g.ctx, []string{"status"}); !strings.Contains(ans.Output, "DISK FULL") {
		t.Fatalf("status with the disk full:\n%s", ans.Output)
	}
	if err := g.client.Heartbeat(g.ctx, h); err != nil {
		t.Fatal(err)
	}
	if st := docStatusPoint(t, g); st != "FAILED" {
		t.Fatalf("the point's status with the register's disk full: %s", st)
	}
}

// docStatusPoint is the point's status as a shop sees it.
func docStatusPoint(t *testing.T, g *rig) string {
	t.Helper()
	resp, err := quickClient.Do(func() *http.Request {
		req, _ := http.NewRequest("GET", g.http.URL+"/api/fn/v1/status", nil)
		req.SetBasicAuth(g.sb.Login, g.sb.Password)
		return req
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st cloud.PointStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return string(st.Status)
}
