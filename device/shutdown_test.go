package device

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
)

// TestConsoleWaitsForConnections: ServeConsole returns only once every
// connection it took is done; a client still writing its request is cut off
// rather than left holding a goroutine past the store's close.
func TestConsoleWaitsForConnections(t *testing.T) {
	g := newRig(t, Config{})
	dir, err := os.MkdirTemp("", "kc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "k.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- g.rt.ServeConsole(ctx, sock) }()
	var conn net.Conn
	devicetest.WaitFor(t, "the console socket", 10*time.Second, func() bool {
		conn, err = net.Dial("unix", sock)
		return err == nil
	})
	defer conn.Close()
	if _, err := conn.Write([]byte(`{"args": ["sta`)); err != nil { // and never the rest
		t.Fatal(err)
	}
	// The answer to a status proves the half-written one's goroutine runs.
	if out, _, err := CallConsole(sock, []string{"version"}); err != nil || out == "" {
		t.Fatalf("version: %q, %v", out, err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	// ServeConsole has returned: the half-written connection must be closed already.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("ServeConsole returned with a connection still open")
		}
		if err != nil {
			break
		}
	}
}
