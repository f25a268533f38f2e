package sim_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/store/boltfile"
)

// TestDamagedFile: an ofd.db cut short is refused with its name, not a panic.
func TestDamagedFile(t *testing.T) {
	dir := t.TempDir()
	cfg := sim.Config{Dir: dir, OFDKey: ofdKey, DriveKeys: func(string) ([]byte, bool) { return nil, false }}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, "ofd.db")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.New(cfg); !errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a cut file: %v, want a damaged-file error naming %s", err, path)
	}
}
