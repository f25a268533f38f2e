package server

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"golang.org/x/sys/unix"
)

// noSpaceFor is how long a write that failed for want of space keeps the
// cloud saying its disk is full.
const noSpaceFor = time.Minute

// diskFull says why the cloud's own disk is the problem, or "": a write failed
// for want of space in the last minute, or Dir's filesystem (cloud.db's, with
// the embedded store) has less than Config.MinFree left. The retail points' status says it, so a shop sees
// why its posts fail rather than READY.
func (s *Server) diskFull() string {
	s.mu.Lock()
	at := s.noSpaceAt
	s.mu.Unlock()
	if !at.IsZero() && s.now().Sub(at) < noSpaceFor {
		return "the cloud's disk is full: a write failed at " + at.Format(time.RFC3339)
	}
	var st unix.Statfs_t
	if s.cfg.Dir == "" {
		return ""
	}
	if err := unix.Statfs(s.cfg.Dir, &st); err != nil {
		return ""
	}
	if free := st.Bavail * uint64(st.Bsize); free < s.cfg.MinFree {
		return fmt.Sprintf("the cloud's disk is full: %d KiB free, %d KiB wanted", free>>10, s.cfg.MinFree>>10)
	}
	return ""
}

// noteNoSpace remembers a failure for want of space: the store's disk (the
// bbolt file's, or the PostgreSQL server's) is full.
func (s *Server) noteNoSpace(err error) {
	if errors.Is(err, storage.ErrNoSpace) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		s.mu.Lock()
		s.noSpaceAt = s.now()
		s.mu.Unlock()
	}
}
