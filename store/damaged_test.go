package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/openkassa/kassa/store/boltfile"
	bolt "go.etcd.io/bbolt"
)

// TestOpenDamaged: a kassa.db cut short, or missing a bucket, is refused
// with an error naming the file and the way back; it never panics.
func TestOpenDamaged(t *testing.T) {
	fill := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "kassa.db")
		s, err := Open(path, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			id := fmt.Sprint("doc-", i)
			s.Accept([]NewDoc{{id, body(id + strings.Repeat("x", 200))}}, t0)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"cut to half", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"a bucket gone", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketAccepted) }); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := fill(t)
			c.damage(t, path)
			_, err := Open(path, Limits{})
			if !errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "drive's archive") {
				t.Fatalf("open: %v, want a damaged-file error naming %s and the drive's archive", err, path)
			}
		})
	}
}

// TestDiskFull: below MinFree free, or after a write failed for want of
// space, the store says its disk is the problem.
func TestDiskFull(t *testing.T) {
	s, _ := open(t, Limits{})
	if err := s.DiskFull(); err != nil {
		t.Fatalf("a roomy disk: %v", err)
	}
	s.max.MinFree = 1 << 62
	if err := s.DiskFull(); err == nil || !strings.Contains(err.Error(), "disk") {
		t.Fatalf("below MinFree: %v", err)
	}
	s.max.MinFree = 1
	s.mu.Lock()
	s.noteWrite(fmt.Errorf("write kassa.db: %w", syscall.ENOSPC))
	s.mu.Unlock()
	if err := s.DiskFull(); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("after ENOSPC: %v", err)
	}
	if err := s.SetLedger(Ledger{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DiskFull(); err != nil {
		t.Fatalf("after a write that succeeded: %v", err)
	}
}
