package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
)

// The register in this process, so that `go test -cpuprofile` sees the whole
// path of a receipt (cloud, store, drive, OFD emulator) and a drill can reach the
// emulated drive's fault switches, which `kassa run` does not expose.
func startInProcess(t testing.TB, dir string) (app *device.App, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := device.Settings{Data: dir}
	s.Cloud.Addr, s.OFD.Addr, s.OFD.LookupAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	lf, err := os.Create(filepath.Join(filepath.Dir(dir), "register.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	app, err = device.Start(ctx, s, "0.1.0", slog.New(slog.NewTextHandler(lf, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return app, func() { cancel(); app.Wait(ctx) }
}

// BenchmarkRegister posts b.N receipts, 128 in flight, and waits for each one's
// callback: the register's whole path per receipt, for profiling.
//
//	go test -run=NONE -bench=Register -benchtime=2000x -cpuprofile cpu.out ./scripts/loadgen
func BenchmarkRegister(b *testing.B) {
	app, stop := startInProcess(b, filepath.Join(b.TempDir(), "data"))
	defer stop()
	s := newShop(app.Sandbox.Cloud, app.Sandbox.Login, app.Sandbox.Password)
	cb, err := listenCallbacks()
	if err != nil {
		b.Fatal(err)
	}
	defer cb.close()
	b.ResetTimer()
	lat, _, errs, firstErr := drive(s, cb, "inproc", b.N, 128, 0)
	b.StopTimer()
	if errs > 0 {
		b.Fatalf("%d errors, the first: %v", errs, firstErr)
	}
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "receipts/s")
	b.ReportMetric(quantile(lat, .5), "p50-ms")
}

// TestDriveFaultDrill: the drive fails a write; the register stops at once, the
// document waits; after `kassa resume` it is fiscalized once and the invariants hold.
// Slow and noisy on purpose, so only with KASSA_DRILLS=1 (scripts/torture --drills).
func TestDriveFaultDrill(t *testing.T) {
	if os.Getenv("KASSA_DRILLS") == "" {
		t.Skip("a drill: KASSA_DRILLS=1 runs it")
	}
	dir := filepath.Join(t.TempDir(), "data")
	app, stop := startInProcess(t, dir)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	s := newShop(app.Sandbox.Cloud, app.Sandbox.Login, app.Sandbox.Password)
	want := expectation{receipts: map[string]receipt{}, told: map[string]uint32{}}
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	post := func(id string) {
		d, r := newDoc(rng, id)
		if err := s.post(d); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		want.receipts[id] = r
		mu.Unlock()
	}
	complete := func(id string) {
		st, err := s.waitCompleted(id, 10*time.Millisecond, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		want.told[id] = st.FiscalInfo.FNDocNumber
	}
	post("before")
	complete("before")
	// Acknowledgements are drive commits too: let the OFD queue empty, so that the
	// failed write is the next receipt's.
	r := &register{sb: sandboxFile{Socket: app.Sandbox.Socket}}
	if _, err := r.waitOFD(time.Minute); err != nil {
		t.Fatal(err)
	}

	app.Emulator.FailNextWrites(1)
	post("during")
	var h health
	for deadline := time.Now().Add(30 * time.Second); !h.Stopped; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the drive failed a write and the register did not stop")
		}
		var err error
		if h, err = r.health(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stopped: %s", h.StopReason)
	post("while-stopped")
	time.Sleep(500 * time.Millisecond)
	if st, _ := s.status("while-stopped"); st.Status == "COMPLETED" {
		t.Fatal("a stopped register fiscalized a document")
	}
	if _, _, err := callConsole(app.Sandbox.Socket, []string{"resume"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"during", "while-stopped"} {
		complete(id)
	}
	// A burst after the resume, completed together (one at a time each would wait
	// out the poller's interval).
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf("after-%02d", i))
		post(ids[i])
	}
	for _, id := range ids {
		complete(id)
	}
	if _, err := r.waitOFD(time.Minute); err != nil {
		t.Fatal(err)
	}
	stop()
	stopped = true
	key, err := readKey(filepath.Join(dir, "ofd.key"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := checkData(dir, dir, key, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drive fault drill OK: %s", v)
}
