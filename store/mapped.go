package store

import (
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// releaseEvery bounds how often a file's mapped pages are released.
const releaseEvery = 200 * time.Millisecond

// Releaser drops, at most once every releaseEvery, this process's mappings of
// the pages of a bbolt file it has read (madvise MADV_DONTNEED on bbolt's
// read-only shared map). The pages stay in the page cache and a later read
// maps them again; the process's RSS, which the kernel's OOM score counts, no
// longer grows with the file.
type Releaser struct {
	db   *bolt.DB
	mu   sync.Mutex
	last time.Time
}

// NewReleaser returns a Releaser for db.
func NewReleaser(db *bolt.DB) *Releaser { return &Releaser{db: db} }

// Release releases the mapped pages if the last release is older than releaseEvery.
func (r *Releaser) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < releaseEvery {
		return nil
	}
	r.last = time.Now()
	// Inside a read transaction, so bbolt cannot remap the file meanwhile (a
	// remap waits for every reader): the range is bbolt's map and nothing else.
	return r.db.View(func(tx *bolt.Tx) error {
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.db.Info().Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
		if errno != 0 {
			return errno
		}
		return nil
	})
}
