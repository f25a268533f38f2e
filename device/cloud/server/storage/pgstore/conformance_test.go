package pgstore

import (
	"context"
	"testing"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
	"github.com/openkassa/kassa/device/cloud/server/storage/storagetest"
)

// The store against the interface's contracts, each subtest on a fresh database.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
