package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/boltstore"
	"github.com/openkassa/kassa/device/cloud/server/storage/storagetest"
)

func open(t *testing.T) storage.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storagetest.Run(t, open) }
