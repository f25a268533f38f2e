package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openkassa/kassa/store"
)

func TestDBCheck(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "kassa.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := runDB(context.Background(), []string{"check", "--data", dir}); err != nil {
		t.Fatalf("a sound kassa.db: %v", err)
	}
	path := filepath.Join(dir, "kassa.db")
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := runDB(context.Background(), []string{"check", path}); err == nil || !strings.Contains(err.Error(), "1 of 1") {
		t.Fatalf("a cut kassa.db: %v", err)
	}
	if err := runDB(context.Background(), []string{"check", "--data", t.TempDir()}); err == nil {
		t.Fatal("an empty data directory passed")
	}
}
