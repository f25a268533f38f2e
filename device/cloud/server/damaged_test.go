package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkassa/kassa/store/boltfile"
	bolt "go.etcd.io/bbolt"
)

// TestDamagedFile: a cloud.db cut short, or from a newer build, is refused
// with an error naming it; a cut file used to serve a while and then fault.
func TestDamagedFile(t *testing.T) {
	f := newFixture(t, Config{})
	for i := range 50 {
		f.post(withID("doc-" + string(rune('a'+i%26)) + string(rune('a'+i/26))))
	}
	f.close()
	path := filepath.Join(f.dir, "cloud.db")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{Dir: f.dir, Clock: f.clock.Now})
	if !errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("open of a cut file: %v, want a damaged-file error naming %s", err, path)
	}

	// A newer schema is not ours to run on.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cloud.db"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "cloud.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(Config{Dir: dir, Clock: f.clock.Now}); err == nil || !strings.Contains(err.Error(), "schema 99") {
		t.Fatalf("open of a newer file: %v", err)
	}
}
