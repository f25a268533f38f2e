package server

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// TestDiskFullStatus: a register whose disk is full, and a cloud whose own
// disk is, make the point FAILED with the disk named, not READY.
func TestDiskFullStatus(t *testing.T) {
	f := newFixture(t, Config{Stale: time.Hour})
	c := f.client()
	beat := func(full string) {
		t.Helper()
		h := health(f.clock.Now())
		h.DiskFull = full
		if err := c.Heartbeat(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	beat("")
	if st := f.pointStatus(); st.Status != cloud.Ready {
		t.Fatalf("a roomy register: %+v", st)
	}
	beat("the disk of kassa.db is full: 100 KiB free, 16384 KiB wanted")
	if st := f.pointStatus(); st.Status != cloud.RegFailed || !strings.Contains(st.Message, "disk of kassa.db is full") {
		t.Fatalf("a register with its disk full: %+v", st)
	}
	beat("")
	f.srv.noteNoSpace(fmt.Errorf("write cloud.db: %w", syscall.ENOSPC))
	if st := f.pointStatus(); st.Status != cloud.RegFailed || !strings.Contains(st.Message, "cloud's disk is full") {
		t.Fatalf("after the cloud's write failed for space: %+v", st)
	}
	f.clock.Advance(noSpaceFor)
	beat("")
	if st := f.pointStatus(); st.Status != cloud.Ready {
		t.Fatalf("a minute later: %+v", st)
	}
	f.srv.cfg.MinFree = 1 << 62
	if st := f.pointStatus(); st.Status != cloud.RegFailed || !strings.Contains(st.Message, "KiB free") {
		t.Fatalf("below MinFree: %+v", st)
	}
}
