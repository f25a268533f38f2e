//go:build !board

package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/sandbox"
)

// The console read from a pipe (a script, or a technician's here-document) runs
// each line against the register's socket and stops at quit.
func TestConsoleLoopFromAPipe(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s := device.Settings{Data: dir}
	s.Cloud.Addr, s.OFD.Addr, s.OFD.LookupAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	app, err := sandbox.Start(ctx, s, version, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Wait(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	var out strings.Builder
	in := strings.NewReader("status\ncash in 12.5\n\nbogus\nquit\ncash in 1\n")
	if err := consoleLoop(filepath.Join(dir, "kassa.sock"), in, &out, nil); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"register      READY", "drawer 12.50", `error: unknown command "bogus"`} {
		if !strings.Contains(got, want) {
			t.Errorf("console output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "drawer 13.50") {
		t.Error("a command after quit ran")
	}
}
