package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// fsyncRate writes 4 KiB and fsyncs it, over and over for d, on a file in dir,
// and answers how many write+fsync pairs a second this disk takes: the ceiling
// for anything that makes each receipt durable on its own.
func fsyncRate(dir string, d time.Duration) (float64, error) {
	f, err := os.CreateTemp(dir, "fsync-*.tmp")
	if err != nil {
		return 0, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	n := 0
	t0 := time.Now()
	for time.Since(t0) < d {
		if _, err := f.WriteAt(buf, int64(n%256)*4096); err != nil {
			return 0, fmt.Errorf("fsync probe: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("fsync probe: %w", err)
		}
		n++
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

func runFsync(args []string) error {
	fs := flag.NewFlagSet("fsync", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "a directory on the filesystem to measure")
	d := fs.Duration("for", 2*time.Second, "how long to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := fsyncRate(filepath.Clean(*dir), *d)
	if err != nil {
		return err
	}
	fmt.Printf("%.0f fsync/s on %s\n", r, *dir)
	return nil
}
