package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/sandbox"
)

// The register in this process, so that `go test -cpuprofile` sees the whole
// path of a receipt (cloud, store, drive, OFD emulator).
func startInProcess(t testing.TB, dir string) (app *sandbox.App, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := device.Settings{Data: dir}
	s.Cloud.Addr, s.OFD.Addr, s.OFD.LookupAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	lf, err := os.Create(filepath.Join(filepath.Dir(dir), "register.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() })
	app, err = sandbox.Start(ctx, s, "0.1.0", slog.New(slog.NewTextHandler(lf, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return app, func() { cancel(); app.Wait(ctx) }
}

// BenchmarkRegister posts b.N receipts, 128 in flight, and waits for each one's
// callback: the register's whole path per receipt, for profiling. In "apart"
// the cloud's and the OFD emulator's files are on tmpfs (/dev/shm), as on the
// other machines they stand for, so only the register's own files meet the disk.
//
//	go test -run=NONE -bench=Register/apart -benchtime=2000x -cpuprofile cpu.out ./scripts/loadgen
func BenchmarkRegister(b *testing.B) {
	b.Run("sandbox", func(b *testing.B) { benchRegister(b, "") })
	b.Run("apart", func(b *testing.B) {
		if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
			b.Skip("no /dev/shm")
		}
		benchRegister(b, "/dev/shm")
	})
}

func benchRegister(b *testing.B, remote string) {
	data := filepath.Join(b.TempDir(), "data")
	if remote != "" {
		shm, err := os.MkdirTemp(remote, "kassa-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(shm) })
		if err := os.MkdirAll(data, 0o700); err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"cloud.db", "ofd.db"} {
			if err := os.Symlink(filepath.Join(shm, name), filepath.Join(data, name)); err != nil {
				b.Fatal(err)
			}
		}
	}
	app, stop := startInProcess(b, data)
	defer stop()
	s := newShop(app.Sandbox.File.Cloud, app.Sandbox.File.Login, app.Sandbox.File.Password)
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
