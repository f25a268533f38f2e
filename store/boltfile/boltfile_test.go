package boltfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// sample writes a file of some dozens of pages: two buckets, a thousand keys.
func sample(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 500 {
				if err := b.Put(fmt.Appendf(nil, "key %05d", i), fmt.Appendf(nil, "value %d of bucket %s, long enough to fill pages", i, name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("KASSA_SEED"); v != "" {
		s, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (KASSA_SEED=%d replays it)", s, s)
	return s
}

func mustDamaged(t *testing.T, err error, what string) {
	t.Helper()
	var d *DamagedError
	if !errors.Is(err, ErrDamaged) || !errors.As(err, &d) || d.Path == "" || d.Advice != "restore it" {
		t.Fatalf("%s: %v, want a DamagedError with the advice", what, err)
	}
}

func TestOpenRefusesDamage(t *testing.T) {
	const advice = "restore it"
	path := sample(t)
	good, _ := os.ReadFile(path)
	pageSize := os.Getpagesize()

	db, err := Open(path, nil, advice)
	if err != nil {
		t.Fatalf("a sound file: %v", err)
	}
	db.Close()
	if err := Check(path); err != nil {
		t.Fatalf("Check of a sound file: %v", err)
	}

	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"cut to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"cut to one page", func(b []byte) []byte { return b[:pageSize] }},
		{"a few bytes", func(b []byte) []byte { return b[:100] }},
		{"metas zeroed", func(b []byte) []byte { clear(b[:2*pageSize]); return b }},
		{"not bbolt", func(b []byte) []byte {
			for i := range b {
				b[i] = byte(i * 7)
			}
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			if err := os.WriteFile(path, c.damage(append([]byte(nil), good...)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path, nil, advice)
			mustDamaged(t, err, c.name)
			if err := Check(path); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Check: %v, want ErrDamaged", err)
			}
		})
	}

	// Random bytes over each page but the metas: never a panic or a fault;
	// refused unless the page was free.
	rng := rand.New(rand.NewPCG(seed(t), 0))
	refused := 0
	for pg := 2; pg < len(good)/pageSize; pg++ {
		path := filepath.Join(t.TempDir(), "x.db") // a file of its own: a refused open may keep its lock
		b := append([]byte(nil), good...)
		for i := pg * pageSize; i < (pg+1)*pageSize; i++ {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, nil, advice)
		if err != nil {
			mustDamaged(t, err, fmt.Sprintf("page %d scribbled", pg))
			refused++
			continue
		}
		// Opened: every value must still read back.
		err = db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error { return nil })
			})
		})
		db.Close()
		if err != nil {
			t.Fatalf("page %d scribbled, opened, then: %v", pg, err)
		}
	}
	if refused == 0 {
		t.Fatal("no scribbled page was refused")
	}
	t.Logf("%d of %d scribbled pages refused", refused, len(good)/pageSize-2)
}

func TestOpenCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := Open(path, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := Check(path); err != nil {
		t.Fatal(err)
	}
	if err := Check(filepath.Join(t.TempDir(), "absent.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Check of an absent file: %v", err)
	}
}

// BenchmarkOpen opens a file of 100,000 keys, the check included.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n < 100_000; n += 10_000 {
		err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("docs"))
			if err != nil {
				return err
			}
			for i := n; i < n+10_000; i++ {
				if err := bk.Put(fmt.Appendf(nil, "doc-%08d", i), make([]byte, 200)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	b.ResetTimer()
	for range b.N {
		db, err := Open(path, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	fi, _ := os.Stat(path)
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB")
}
