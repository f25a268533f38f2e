// Package simtest starts the OFD emulator for a test: served on loopback
// until the test ends.
package simtest

import (
	"net"
	"testing"

	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd/sim"
)

// Start runs an OFD emulator with cfg (Dir defaults to a temporary directory)
// on addr ("" for any free loopback port) until t ends, and returns it with
// the address it serves on.
func Start(t testing.TB, cfg sim.Config, addr string) (*sim.Server, string) {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	return s, ln.Addr().String()
}

// DriveKeys knows the signing key of the emulated drive d, and no other.
func DriveKeys(d *fn.Emulator) func(string) ([]byte, bool) {
	return func(n string) ([]byte, bool) {
		if n == d.DriveNumber() {
			return d.Key(), true
		}
		return nil, false
	}
}
