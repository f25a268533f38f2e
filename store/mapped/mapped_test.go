package mapped

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedKiB is the resident size of this process's maps of path, from /proc/self/smaps.
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = len(fields) >= 6 && fields[5] == path
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			total += n
		}
	}
	return total
}

// Pages a read mapped stay resident until Release, and the file reads the same after.
func TestReleaserDropsMappedPages(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU user-mode (the -short runs) answers /proc/self/smaps with its own maps")
	}
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte("к"), 2000)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < 2000; i++ {
			err = b.Put([]byte(strconv.Itoa(i)), val)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func() int {
		n := 0
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("b")).ForEach(func(_, v []byte) error {
				if bytes.Equal(v, val) {
					n++
				}
				return nil
			})
		})
		return n
	}
	if n := read(); n != 2000 {
		t.Fatalf("read %d values, want 2000", n)
	}
	before := mappedKiB(t, path)
	if before < 2000 {
		t.Fatalf("reading 4 MB mapped only %d KiB", before)
	}
	r := NewReleaser(db)
	stopped := time.Now()
	r.now = func() time.Time { return stopped } // every later Release comes within releaseEvery
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	if after := mappedKiB(t, path); after > before/10 {
		t.Fatalf("resident map of the file: %d KiB before Release, %d KiB after", before, after)
	}
	if n := read(); n != 2000 {
		t.Fatalf("after Release read %d values, want 2000", n)
	}
	again := mappedKiB(t, path)
	var due []func()
	r.after = func(_ time.Duration, f func()) { due = append(due, f) }
	for range 2 {
		if err := r.Release(); err != nil || mappedKiB(t, path) != again {
			t.Fatalf("a Release within %v of the last did something (err %v)", releaseEvery, err)
		}
	}
	if len(due) != 1 {
		t.Fatalf("two Releases within %v scheduled %d later ones, want 1", releaseEvery, len(due))
	}
	due[0]()
	if after := mappedKiB(t, path); after > again/10 {
		t.Fatalf("resident map of the file: %d KiB before the scheduled release, %d KiB after", again, after)
	}
}
