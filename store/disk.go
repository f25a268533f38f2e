package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// defaultMinFree is Limits.MinFree's default: bbolt grows its file by up to
// 16 MiB at a time, and a register that cannot grow it can take no document.
const defaultMinFree = 16 << 20

// DiskFull says why the store's disk is the problem, or nil: the last write
// failed for want of space, or the file's filesystem has less than
// Limits.MinFree left. Health carries it, so the register says "disk full"
// rather than READY while documents wait.
func (s *Store) DiskFull() error {
	s.mu.Lock()
	last := s.noSpace
	s.mu.Unlock()
	if last != nil {
		return fmt.Errorf("the disk of %s is full: the last write failed (%v)", filepath.Base(s.path), last)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(s.path), &st); err != nil {
		return nil // cannot tell: the writes will say
	}
	if free := st.Bavail * uint64(st.Bsize); free < s.max.MinFree {
		return fmt.Errorf("the disk of %s is full: %d KiB free, %d KiB wanted", filepath.Base(s.path), free>>10, s.max.MinFree>>10)
	}
	return nil
}

// noteWrite remembers whether a write failed for want of space; the next
// write that succeeds forgets it. Called with s.mu held.
func (s *Store) noteWrite(err error) {
	switch {
	case err == nil:
		s.noSpace = nil
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		s.noSpace = err
	}
}
