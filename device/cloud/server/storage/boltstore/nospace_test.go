package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	bolt "go.etcd.io/bbolt"
)

// A full disk reaches bbolt's caller as the file's error (a write, a sync)
// or, from the growth of the file or its mapping, as its text alone.
func TestClassify(t *testing.T) {
	write := &fs.PathError{Op: "write", Path: "cloud.db", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name    string
		err     error
		noSpace bool
	}{
		{"write", write, true},
		{"wrapped write", fmt.Errorf("commit: %w", write), true},
		{"quota", &fs.PathError{Op: "write", Path: "cloud.db", Err: syscall.EDQUOT}, true},
		{"grow", fmt.Errorf("file resize error: %s", &fs.PathError{Op: "truncate", Path: "cloud.db", Err: syscall.ENOSPC}), true},
		{"mmap", fmt.Errorf("mmap allocate error: %s", fmt.Errorf("file sync error: %s", syscall.ENOSPC)), true},
		{"other errno", &fs.PathError{Op: "write", Path: "cloud.db", Err: syscall.EIO}, false},
		{"bbolt's own", bolt.ErrDatabaseNotOpen, false},
		{"not found", fmt.Errorf("x: %w", storage.ErrNotFound), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if errors.Is(got, storage.ErrNoSpace) != tc.noSpace {
				t.Fatalf("classify(%v) = %v: ErrNoSpace %v, want %v", tc.err, got, !tc.noSpace, tc.noSpace)
			}
			if !errors.Is(got, tc.err) {
				t.Fatalf("classify(%v) = %v lost the error", tc.err, got)
			}
			if tc.noSpace && classify(got) != got {
				t.Fatalf("classify of a classified error wrapped it again: %v", classify(got))
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// The store's writes, alone or batched, pass their failures through classify.
func TestWritesNoSpace(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	full := func(*bolt.Tx) error { return &fs.PathError{Op: "write", Path: "cloud.db", Err: syscall.ENOSPC} }
	for name, write := range map[string]func(context.Context, func(*bolt.Tx) error) error{"update": s.update, "batch": s.batch} {
		err := write(context.Background(), full)
		if !errors.Is(err, storage.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s on a full disk: %v", name, err)
		}
	}
}
