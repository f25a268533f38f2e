package emu_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
)

// TestFileModes: printed receipts carry buyers' e-mails; the directory and
// the pages are not for every user of the machine.
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "receipts")
	p, _ := printer.ProfileByName("emu-58")
	e := emu.New(emu.Config{Dir: dir, Profile: p})
	rw := e.Pipe()
	defer rw.Close()
	if _, err := rw.Write([]byte{0x1B, '@', 'O', 'K', '\n', 0x1D, 'V', 1, 0x10, 0x04, 0x01}); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatal("no page written")
	}
	for _, f := range append(files, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o027 != 0 {
			t.Errorf("%s: mode %o, want no write for the group and nothing for others", f, fi.Mode().Perm())
		}
	}
}
