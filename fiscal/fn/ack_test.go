package fn_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
)

// copyDrive copies the drive's files as they stand on disk now, what a power
// cut at this instant would leave, to a new directory.
func copyDrive(t *testing.T, dir string) string {
	t.Helper()
	cp := t.TempDir()
	for _, name := range []string{"fn.db", "fn.journal"} {
		src, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(cp, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
	return cp
}

// openCopy opens a copy of the drive's files as they stand on disk now.
func openCopy(t *testing.T, dir string) *fn.Emulator {
	t.Helper()
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: copyDrive(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// onDisk is the state of the drive's files as they stand on disk now.
func onDisk(t *testing.T, dir string) fn.State {
	t.Helper()
	e := openCopy(t, dir)
	defer e.Close()
	return must(e.State(context.Background())).ok(t)
}

// An acknowledgement is in the drive's file once Sync returns, whether the
// drive is idle or receipts are being signed meanwhile.
func TestAcknowledgementDurableAfterSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openEmulator(t, fn.EmulatorConfig{Dir: dir})
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0.Add(time.Minute), TLV: reportTLV(t, "ОТКРЫТИЕ СМЕНЫ")})).ok(t)

	time.Sleep(20 * time.Millisecond) // the drive is idle
	must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), 1, 0, t0))).ok(t)
	must(0, e.Sync(ctx)).ok(t)
	if st := onDisk(t, dir); st.Unsent != 1 || st.FirstUnsentFD != 2 {
		t.Fatalf("after an idle acknowledgement the file says %d unsent from FD %d, want 1 from FD 2", st.Unsent, st.FirstUnsentFD)
	}

	// Receipts stream while the OFD's acknowledgements come in.
	const receipts = 40
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range receipts {
			if _, err := e.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), uint64(100+i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for fd := uint32(2); fd <= receipts; fd++ {
		for must(e.State(ctx)).ok(t).LastFD < fd {
			time.Sleep(100 * time.Microsecond)
		}
		must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), fd, 0, t0))).ok(t)
		must(0, e.Sync(ctx)).ok(t)
		if st := onDisk(t, dir); st.LastFD-st.Unsent < fd {
			t.Fatalf("Acknowledge(FD %d) returned, the file says acknowledged through %d", fd, st.LastFD-st.Unsent)
		}
	}
	wg.Wait()
	st := must(e.State(ctx)).ok(t)
	if st.LastFD != receipts+2 || st.Unsent != 2 || st.FirstUnsentFD != receipts+1 {
		t.Fatalf("state: last FD %d, %d unsent from FD %d; want %d, 2 from %d", st.LastFD, st.Unsent, st.FirstUnsentFD, receipts+2, receipts+1)
	}
}

// Documents are durable once Sync returns, whether still in the drive's
// journal or already checkpointed into its bbolt file, and survive a cut
// between checkpoints with every document readable and verifying.
func TestDocumentsDurableAcrossCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := shiftOpen(t, fn.EmulatorConfig{Dir: dir})
	var docs [][]byte
	for i := range 300 {
		s := must(e.Receipt(ctx, receipt(t, t0.Add(time.Minute), uint64(100+i)))).ok(t)
		if i%97 != 0 {
			continue
		}
		must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), s.FD-1, 0, t0))).ok(t)
		must(0, e.Sync(ctx)).ok(t)
		c := openCopy(t, dir)
		st := must(c.State(ctx)).ok(t)
		if st.LastFD != s.FD || st.FirstUnsentFD != s.FD {
			t.Fatalf("after FD %d the file holds last FD %d, first unsent %d", s.FD, st.LastFD, st.FirstUnsentFD)
		}
		if err := c.Check(); err != nil {
			t.Fatalf("after FD %d: %v", s.FD, err)
		}
		c.Close()
	}
	for fd := uint32(1); fd <= 302; fd++ {
		docs = append(docs, must(e.Document(ctx, fd)).ok(t).TLV)
	}
	c := openCopy(t, dir)
	for fd := uint32(1); fd <= 302; fd++ {
		if got := must(c.Document(ctx, fd)).ok(t).TLV; !bytes.Equal(got, docs[fd-1]) {
			t.Fatalf("FD %d differs after the cut", fd)
		}
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// Receipts and acknowledgements are written when their call returns and made
// durable together by one sync: Sync's, or that of any other document. The OFD
// gets only durable documents.
func TestReceiptsSyncedTogether(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := shiftOpen(t, fn.EmulatorConfig{Dir: dir})
	must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), 2, 0, t0))).ok(t)
	before := e.Syncs()
	for i := range 20 {
		must(e.Receipt(ctx, receipt(t, t0.Add(time.Minute), uint64(100+i)))).ok(t)
	}
	if n := e.Syncs() - before; n != 0 {
		t.Fatalf("20 receipts made %d syncs before Sync, want 0", n)
	}
	must(0, e.Sync(ctx)).ok(t)
	must(0, e.Sync(ctx)).ok(t) // nothing new to sync
	if n := e.Syncs() - before; n != 1 {
		t.Fatalf("20 receipts and two Syncs made %d syncs, want 1", n)
	}
	if st := onDisk(t, dir); st.LastFD != 22 || st.Unsent != 20 {
		t.Fatalf("after Sync the file holds last FD %d with %d unsent, want 22 with 20", st.LastFD, st.Unsent)
	}
	// Check reads the journaled documents where they are: it checkpoints nothing.
	n := e.Journaled()
	if err := e.Check(); err != nil || n == 0 || e.Journaled() != n {
		t.Fatalf("Check = %v; journaled documents %d before, %d after", err, n, e.Journaled())
	}

	// Acknowledgements wait for a sync too.
	before = e.Syncs()
	for fd := uint32(3); fd <= 22; fd++ {
		must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), fd, 0, t0))).ok(t)
	}
	if n := e.Syncs() - before; n != 0 {
		t.Fatalf("20 acknowledgements made %d syncs, want 0", n)
	}

	// The next unsent document is durable before the OFD gets it.
	s := must(e.Receipt(ctx, receipt(t, t0.Add(time.Minute), 999))).ok(t)
	before = e.Syncs()
	msg := must(e.NextMessage(ctx)).ok(t)
	if c, err := ofd.ParseContainer(msg); err != nil || c.FD != s.FD {
		t.Fatalf("NextMessage = FD %d, %v; want FD %d", c.FD, err, s.FD)
	}
	if n := e.Syncs() - before; n != 1 {
		t.Fatalf("NextMessage of an unsynced receipt made %d syncs, want 1", n)
	}
	must(e.NextMessage(ctx)).ok(t)
	if n := e.Syncs() - before; n != 1 {
		t.Fatalf("NextMessage of a durable receipt synced again")
	}
}

// Receipts signed while the OFD's acknowledgements come in and others wait in
// Sync: every call sees a consistent drive, and the file ends up whole.
func TestSyncWhileSigning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := shiftOpen(t, fn.EmulatorConfig{Dir: dir})
	const receipts = 300
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range receipts {
			if _, err := e.Receipt(ctx, receipt(t, t0.Add(time.Minute), uint64(100+i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range receipts / 3 {
			if err := e.Sync(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { // the OFD sender
		defer wg.Done()
		for acked := uint32(0); acked < receipts+2; {
			msg, err := e.NextMessage(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if msg == nil {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			c, err := ofd.ParseContainer(msg)
			if err != nil || c.FD != acked+1 {
				t.Errorf("NextMessage = FD %d, %v; want FD %d", c.FD, err, acked+1)
				return
			}
			if err := e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), c.FD, 0, t0)); err != nil {
				t.Error(err)
				return
			}
			acked = c.FD
		}
	}()
	wg.Wait()
	must(0, e.Sync(ctx)).ok(t)
	if st := onDisk(t, dir); st.LastFD != receipts+2 || st.Unsent != 0 {
		t.Fatalf("the file holds last FD %d with %d unsent, want %d with 0", st.LastFD, st.Unsent, receipts+2)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}
