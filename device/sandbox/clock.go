package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clockFile keeps the sandbox clock's offset in the data directory.
const clockFile = "clock-offset"

// clock is the sandbox's wall clock: the system's plus an offset that a
// drill moves forward (`kassa fault clock advance`), so that the drive's 30-day
// OFD limit and the 24-hour shift can be drilled against a running `kassa run`.
// The runtime stamps every document with it and the OFD emulator dates its
// acknowledgements by it; the emulated drive reads no clock of its own (it judges
// its limits at the documents' times), so it follows. The cloud keeps the system's
// clock: it is another party, and judges leases and a register's silence by its own.
//
// The offset only grows, and is kept in data/clock-offset before it takes effect:
// a restarted sandbox must not go back in time, or the drive refuses every
// document dated before its last one.
type clock struct {
	path   string
	mu     sync.Mutex   // serialises Advance
	offset atomic.Int64 // nanoseconds ahead of the system's clock
}

// openClock reads the offset kept at path; none means zero.
func openClock(path string) (*clock, error) {
	c := &clock{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox clock: %w", err)
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil || d < 0 {
		return nil, fmt.Errorf("sandbox clock: %s: %q is not an offset", path, strings.TrimSpace(string(b)))
	}
	c.offset.Store(int64(d))
	return c, nil
}

// Now is the system's clock plus the offset.
func (c *clock) Now() time.Time { return time.Now().Add(c.Offset()) }

// Offset is how far ahead of the system's clock the sandbox is.
func (c *clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Advance moves the clock forward by d, durably, and returns the new offset.
func (c *clock) Advance(d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, fmt.Errorf("sandbox clock: advance by %v: only forward", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.Offset() + d
	if next < c.Offset() {
		return 0, fmt.Errorf("sandbox clock: advance by %v: too far", d)
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(next.String()+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("sandbox clock: %w", err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		return 0, fmt.Errorf("sandbox clock: %w", err)
	}
	c.offset.Store(int64(next))
	return next, nil
}

// parseAdvance reads a Go duration ("480h", "90m") or a whole number of days ("20d").
func parseAdvance(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err == nil && days > 0 && days <= 100*365 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("fault clock advance: %q is not a duration forward (480h, 20d)", s)
}
