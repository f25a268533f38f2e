package device

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/store"
)

// rig is a register wired to the real cloud server (over loopback HTTP) and the
// emulated drive, with a clock the test moves. It drives the pipeline by hand:
// lease, accept, drain, report — the same calls the loops make.
type rig struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	fake   *clockwork.FakeClock
	server *server.Server
	http   *httptest.Server
	sb     server.Sandbox
	client *cloud.Client
	em     *fn.Emulator
	st     *store.Store
	rt     *Runtime
}

var msk = time.FixedZone("MSK", 3*3600)

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	dir := t.TempDir()
	g := &rig{t: t, ctx: context.Background(), dir: dir, fake: clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, msk))}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	g.server, err = server.Open(server.Config{Dir: dir, Clock: g.clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.server.Close() })
	if g.sb, err = g.server.Sandbox(); err != nil {
		t.Fatal(err)
	}
	g.http = httptest.NewServer(g.server.Handler())
	t.Cleanup(g.http.Close)
	g.client = cloud.NewClient(g.http.URL, g.sb.RegisterToken, g.http.Client())
	g.em, err = fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(dir, "fn"), CheckTables: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.em.Close() })
	p, err := g.client.Point(g.ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := fiscal.RegNumber("0000000001", p.INN, SandboxSerial)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Registration(SandboxSerial, "0.1.0", reg)
	r.OFDName, r.OFDINN = "ОФД-эмулятор kassa", sim.DefaultOFDINN
	if _, err := RegisterDrive(g.ctx, g.em, r, g.clock()); err != nil {
		t.Fatal(err)
	}
	g.st, err = store.Open(filepath.Join(dir, "kassa.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.st.Close() })
	cfg.Location = msk
	cfg.Serial, cfg.Version = SandboxSerial, "0.1.0"
	g.rt = New(cfg, g.em, g.st, g.client, nil, g.clock, log)
	if err := g.rt.loadPoint(g.ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.rt.reconcile(g.ctx); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *rig) clock() time.Time { return g.fake.Now() }

func (g *rig) advance(d time.Duration) { g.fake.Advance(d) }

// post sends a shop document with the first point's credentials and returns the HTTP status.
func (g *rig) post(doc map[string]any) int {
	return devicetest.PostDoc(g.t, g.http.URL, g.sb.Login, g.sb.Password, doc)
}

// cycle moves queued documents through the register once: lease, accept,
// fiscalize, report — what the poller and the pipeline loop do.
func (g *rig) cycle() {
	g.t.Helper()
	leases, err := g.client.Lease(g.ctx, 0, 16)
	if err != nil {
		g.t.Fatal(err)
	}
	if len(leases) > 0 {
		if err := g.rt.Accept(g.ctx, leases); err != nil {
			g.t.Logf("accept: %v", err)
		}
	}
	g.rt.drain(g.ctx)
	res, err := g.rt.Unreported(g.ctx)
	if err != nil {
		g.t.Fatal(err)
	}
	if len(res) > 0 {
		if err := g.client.Report(g.ctx, res); err != nil {
			g.t.Fatal(err)
		}
		ids := make([]string, len(res))
		for i, r := range res {
			ids[i] = r.ID
		}
		if err := g.rt.Reported(g.ctx, ids); err != nil {
			g.t.Fatal(err)
		}
	}
}

func (g *rig) status(id string) cloud.DocumentStatus {
	return devicetest.DocStatus(g.t, g.http.URL, g.sb.Login, g.sb.Password, id)
}

func (g *rig) ledger() store.Ledger {
	l, err := g.st.Ledger()
	if err != nil {
		g.t.Fatal(err)
	}
	return l
}

var quickClient = &http.Client{Timeout: 5 * time.Second}
