// Package boltfile opens the project's bbolt files only once they pass the
// checks that are cheap enough for every start: both meta pages read by hand
// (bbolt itself may panic or fault on a file cut short), bbolt's own open
// with its panics caught, and bbolt's page check (tx.Check). A file that fails
// is refused with a *DamagedError naming the file and what to do; nothing is
// ever written to it. The owners of the files check their own schema on top.
package boltfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is what every *DamagedError matches with errors.Is.
var ErrDamaged = errors.New("damaged database file")

// DamagedError says which file failed its check, how, and what to do.
type DamagedError struct {
	Path    string
	Problem string // what the check found
	Advice  string // what to do, from the file's owner
}

func (e *DamagedError) Error() string {
	msg := fmt.Sprintf("%s is damaged: %s; refusing to run on it", e.Path, e.Problem)
	if e.Advice != "" {
		msg += ". " + e.Advice
	}
	return msg
}

func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// maxProblems bounds the page problems a DamagedError lists.
const maxProblems = 5

// Open opens the bbolt file at path as bolt.Open does (creating it if absent,
// mode 0600) after checking it; advice tells the operator what to do if the
// check fails, e.g. "restore it from a backup". The page check reads every
// page once: 19 ms for a 56 MiB file in the page cache (BenchmarkOpen); read
// cold from a slow card it costs that card's time to read the file.
func Open(path string, opts *bolt.Options, advice string) (*bolt.DB, error) {
	if opts == nil || opts.Timeout == 0 {
		o := bolt.Options{Timeout: 2 * time.Second} // another process holding it: say so rather than hang
		if opts != nil {
			o = *opts
			o.Timeout = 2 * time.Second
		}
		opts = &o
	}
	damaged := func(problem string) error { return &DamagedError{Path: path, Problem: problem, Advice: advice} }
	if problem, err := checkMeta(path); err != nil {
		return nil, err
	} else if problem != "" {
		return nil, damaged(problem)
	}
	db, problem, err := open(path, opts)
	if err != nil {
		return nil, err
	}
	if problem != "" {
		return nil, damaged(problem)
	}
	if problem, err := checkPages(db); err != nil || problem != "" {
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: checking its pages: %w", path, err)
		}
		return nil, damaged(problem)
	}
	return db, nil
}

// Check checks the file at path as Open does, read-only: the file must exist,
// and no other process may hold it open for writing (a running register or
// cloud does; stop it first).
func Check(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	damaged := func(problem string) error { return &DamagedError{Path: path, Problem: problem} }
	if problem, err := checkMeta(path); err != nil {
		return err
	} else if problem != "" {
		return damaged(problem)
	}
	db, problem, err := open(path, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%s is in use by another process: stop it first", path)
	}
	if err != nil {
		return err
	}
	if problem != "" {
		return damaged(problem)
	}
	defer db.Close()
	problem, err = checkPages(db)
	if err != nil {
		return fmt.Errorf("%s: checking its pages: %w", path, err)
	}
	if problem != "" {
		return damaged(problem)
	}
	return nil
}

// open runs bolt.Open, turning its panics and memory faults into a problem.
// On such a panic the file's lock and mapping stay held (bbolt returns no
// handle to release them): the process is to stop anyway, and another Open of
// the file times out.
func open(path string, opts *bolt.Options) (db *bolt.DB, problem string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, problem, err = nil, fmt.Sprintf("bbolt could not read it (%v)", r), nil
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	if err == nil {
		return db, "", nil
	}
	switch {
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch),
		errors.Is(err, bolt.ErrInvalidMapping), strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Sprintf("bbolt could not open it (%v)", err), nil
	}
	return nil, "", fmt.Errorf("open %s: %w", path, err)
}

// checkPages runs bbolt's page check; its panics it reports itself.
func checkPages(db *bolt.DB) (string, error) {
	var problems []string
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if n++; n <= maxProblems {
				problems = append(problems, err.Error())
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		return "", err
	}
	if n > maxProblems {
		problems = append(problems, fmt.Sprintf("and %d more", n-maxProblems))
	}
	return "its pages fail bbolt's check: " + strings.Join(problems, "; "), nil
}

// bbolt's file layout (go.etcd.io/bbolt/internal/common): each page starts
// with a 16-byte header; pages 0 and 1 hold a meta each, in the machine's byte
// order, and the newer valid one is the file's state.
const (
	pageHeader = 16
	magic      = 0xED0CDAED
	version    = 2
	metaLen    = 56 // magic … txid: what the checksum covers
	minPage    = 512
)

type meta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	pgid     uint64 // the high-water mark: pages below it are in the file
	txid     uint64
}

const (
	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	noFreelist   = ^uint64(0)
)

// checkMeta reads both meta pages and reports a problem ("" for none) when
// neither is valid or when the file is shorter than the valid one says.
// An empty or absent file is fine: bbolt makes a new one.
func checkMeta(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	if size == 0 {
		return "", nil
	}
	m0, ok0 := readMeta(f, 0)
	var best *meta
	if ok0 {
		best = &m0
	}
	// The second meta is one page further: the first's page size, or, when
	// the first is unreadable, one of the sizes bbolt uses.
	sizes := []int64{int64(os.Getpagesize()), 4096, 16384, 65536}
	if ok0 {
		sizes = []int64{int64(m0.pageSize)}
	}
	for _, ps := range sizes {
		if m1, ok := readMeta(f, ps); ok && int64(m1.pageSize) == ps {
			if best == nil || m1.txid > best.txid {
				best = &m1
			}
			break
		}
	}
	if best == nil {
		if size < 2*minPage {
			return fmt.Sprintf("it is %d bytes, too short for a bbolt file", size), nil
		}
		return "neither meta page is valid (not a bbolt file, or overwritten)", nil
	}
	if need := int64(best.pgid) * int64(best.pageSize); size < need {
		return fmt.Sprintf("it is %d bytes but its pages need %d: cut short", size, need), nil
	}
	// bbolt reads these two pages as it opens, and panics on a wrong one.
	if best.root >= best.pgid || pageFlags(f, best.root, best.pageSize)&(branchPage|leafPage) == 0 {
		return fmt.Sprintf("its root page %d is not a tree page", best.root), nil
	}
	if best.freelist != noFreelist && (best.freelist >= best.pgid || pageFlags(f, best.freelist, best.pageSize) != freelistPage) {
		return fmt.Sprintf("its freelist page %d is not a freelist", best.freelist), nil
	}
	return "", nil
}

// pageFlags reads the flags of page id (0 if unreadable).
func pageFlags(r io.ReaderAt, id uint64, pageSize uint32) uint16 {
	var b [pageHeader]byte
	if _, err := r.ReadAt(b[:], int64(id)*int64(pageSize)); err != nil {
		return 0
	}
	return binary.NativeEndian.Uint16(b[8:])
}

func readMeta(r io.ReaderAt, off int64) (meta, bool) {
	var b [pageHeader + metaLen + 8]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return meta{}, false
	}
	m := b[pageHeader:]
	le := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:metaLen])
	out := meta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	ok := le.Uint32(m[0:]) == magic && le.Uint32(m[4:]) == version && le.Uint64(m[metaLen:]) == h.Sum64() && out.pageSize >= minPage
	return out, ok
}
