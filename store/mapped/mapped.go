// Package mapped releases the pages of a bbolt file that a process has mapped by
// reading it, so that the process's RSS does not grow with the file.
package mapped

import (
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// releaseEvery bounds how often a file's mapped pages are released: under
// load, every 50 ms keeps 0.5 MiB fewer of them resident than every 200 ms,
// for no CPU that a benchmark tells from noise.
const releaseEvery = 50 * time.Millisecond

// Releaser drops, at most once every releaseEvery, this process's mappings of
// the pages of a bbolt file it has read (madvise MADV_DONTNEED on bbolt's
// read-only shared map). The pages stay in the page cache and a later read
// maps them again; the process's RSS, which the kernel's OOM score counts, no
// longer grows with the file.
type Releaser struct {
	db      *bolt.DB
	after   func(time.Duration, func()) // time.AfterFunc; tests call f themselves
	now     func() time.Time            // time.Now; tests stop it
	mu      sync.Mutex
	last    time.Time
	pending bool // a release is due at last+releaseEvery
}

// NewReleaser returns a Releaser for db.
func NewReleaser(db *bolt.DB) *Releaser {
	return &Releaser{db: db, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, now: time.Now}
}

// Release releases the mapped pages if the last release is older than
// releaseEvery, and otherwise makes sure that one follows when that time is up:
// the pages the last reads of a burst mapped are let go after it too.
func (r *Releaser) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wait := releaseEvery - r.now().Sub(r.last); wait > 0 {
		if !r.pending {
			r.pending = true
			r.after(wait, func() {
				r.mu.Lock()
				defer r.mu.Unlock()
				r.pending = false
				r.releaseLocked() // advice only, and nobody to tell: an error leaves the pages mapped
			})
		}
		return nil
	}
	return r.releaseLocked()
}

func (r *Releaser) releaseLocked() error {
	r.last = r.now()
	// Inside a read transaction, so bbolt cannot remap the file meanwhile (a
	// remap waits for every reader) nor close it: the range is bbolt's map and
	// nothing else.
	return r.db.View(func(tx *bolt.Tx) error {
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.db.Info().Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
		if errno != 0 {
			return errno
		}
		return nil
	})
}
