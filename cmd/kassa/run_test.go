//go:build !board

package main

import (
	"bytes"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/sandbox"
)

// A register alone runs on one P at GC target 60; one hosting the sandbox's
// cloud or OFD emulator, or told otherwise by GOMAXPROCS or GOGC, keeps them.
func TestRegisterRuntime(t *testing.T) {
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) })
	alone := device.Settings{}
	alone.Cloud.URL, alone.OFD.Server = "https://cloud.example", "ofd.example:7777"
	embeddedOFD := alone
	embeddedOFD.OFD.Server = ""
	for _, c := range []struct {
		name      string
		s         device.Settings
		env       map[string]string
		procs, gc int
	}{
		{"sandbox", device.Settings{}, nil, 2, 100},
		{"embedded OFD emulator", embeddedOFD, nil, 2, 100},
		{"alone", alone, nil, 1, 60},
		{"alone, GOMAXPROCS set", alone, map[string]string{"GOMAXPROCS": "2"}, 2, 60},
		{"alone, GOGC set", alone, map[string]string{"GOGC": "100"}, 1, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			runtime.GOMAXPROCS(2)
			debug.SetGCPercent(100)
			registerRuntime(c.s)
			if p, g := runtime.GOMAXPROCS(0), debug.SetGCPercent(100); p != c.procs || g != c.gc {
				t.Fatalf("GOMAXPROCS %d, GOGC %d; want %d, %d", p, g, c.procs, c.gc)
			}
		})
	}
}

// TestSandboxReadyLine: the log line names the credentials' file, not its secrets.
func TestSandboxReadyLine(t *testing.T) {
	sb := sandbox.File{Cloud: "http://127.0.0.1:8780", Login: "pointlogin", Password: "point-secret",
		CabinetLogin: "cab", CabinetPassword: "cabinet-secret",
		RetailPoints: []server.SandboxPoint{{Login: "pointlogin", Password: "point-secret"}}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sandbox ready", sandboxReady(sb, "var")...)
	if line := buf.String(); strings.Contains(line, "secret") || !strings.Contains(line, "sandbox.json") || !strings.Contains(line, "pointlogin") {
		t.Fatalf("sandbox ready: %s", line)
	}
}
