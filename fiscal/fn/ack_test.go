package fn_test

import (
	"bytes"
	"context"
	"errors"
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

// keptAcks holds each acknowledgement the drive took, by its FD, and checks
// a drive against them: 41h gives each one's STLV 7, and ErrNoDocument for
// the FDs given in none.
type keptAcks map[uint32][]byte

func (k keptAcks) take(t *testing.T, e *fn.Emulator, fd uint32) {
	t.Helper()
	ack := ackFor(t, nil, e.DriveNumber(), fd, 0, t0.Add(time.Duration(fd)*time.Minute))
	must(0, e.Acknowledge(context.Background(), ack)).ok(t)
	k[fd] = ackDocument(t, ack)
}

func (k keptAcks) check(t *testing.T, what string, e *fn.Emulator, through uint32) {
	t.Helper()
	for fd := range through + 1 {
		got, err := e.Acknowledgement(context.Background(), fd)
		if want := k[fd]; want != nil && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("%s: FD %d: acknowledgement % x, %v; want % x", what, fd, got, err, want)
		}
		if k[fd] == nil && !errors.Is(err, fn.ErrNoDocument) {
			t.Fatalf("%s: FD %d, given in no acknowledgement: % x, %v; want ErrNoDocument", what, fd, got, err)
		}
	}
}

// Each acknowledgement is kept by the FD it acknowledged, in the drive's
// journal and then in its bbolt file: 41h gives it after a power cut (the
// files as Sync left them on disk) and after the drive was closed and opened
// again, before and after checkpoints.
func TestAcknowledgementsKeptByFD(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := fn.EmulatorConfig{Dir: dir}
	e := must(fn.NewEmulator(cfg)).ok(t)
	defer func() { e.Close() }()
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "open")})).ok(t)
	must(e.Receipt(ctx, receipt(t, t0, 100))).ok(t)
	kept := keptAcks{}
	for fd := uint32(1); fd <= 3; fd++ {
		kept.take(t, e, fd)
	}
	must(0, e.Sync(ctx)).ok(t)
	kept.check(t, "FD 1–3 acknowledged", e, 5)
	c := openCopy(t, dir)
	kept.check(t, "after a power cut", c, 5)
	c.Close()

	// Enough of them to checkpoint several times over.
	for i := range 300 {
		s := must(e.Receipt(ctx, receipt(t, t0, uint64(200+i)))).ok(t)
		if i%3 != 1 { // FD 4 is acknowledged by FD 5's acknowledgement, and so on
			kept.take(t, e, s.FD)
		}
	}
	must(0, e.Sync(ctx)).ok(t)
	c = openCopy(t, dir)
	kept.check(t, "300 more, after a power cut", c, 305)
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	must(0, e.Close()).ok(t)
	e = must(fn.NewEmulator(cfg)).ok(t)
	kept.check(t, "closed and opened again", e, 305)
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}

// A drive directory written before acknowledgements were kept by FD, whose
// state held only the last one, still opens: its last checkpointed
// acknowledgement (FD 2) and those only in its journal (FD 3 and 4, as a power
// cut left them) are kept by FD from then on; FD 1's was never kept. The
// fixture was written by the emulator of that time: receipts FD 3–5,
// acknowledgements of FD 1 and 2, closed; opened, acknowledgements of FD 3
// and 4, receipt FD 6, synced, and its files copied as they stood.
func TestDriveDirectoryWithLastAckOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"fn.db", "fn.journal"} {
		b, err := os.ReadFile(filepath.Join("testdata", "drive-last-ack-only", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fn.EmulatorConfig{Dir: dir, Key: []byte("fixture drive key")}
	e := must(fn.NewEmulator(cfg)).ok(t)
	defer func() { e.Close() }()
	if st := must(e.State(ctx)).ok(t); st.LastFD != 6 || st.Unsent != 2 || st.FirstUnsentFD != 5 {
		t.Fatalf("the old drive opens at last FD %d, %d unsent from FD %d; want 6, 2 from 5", st.LastFD, st.Unsent, st.FirstUnsentFD)
	}
	kept := keptAcks{}
	for fd := uint32(2); fd <= 4; fd++ {
		kept[fd] = ackDocument(t, ackFor(t, nil, e.DriveNumber(), fd, 0, t0))
	}
	kept.check(t, "opened", e, 7)
	kept.take(t, e, 5)
	must(0, e.Close()).ok(t)
	e = must(fn.NewEmulator(cfg)).ok(t)
	kept.check(t, "FD 5 acknowledged, closed and opened again", e, 7)
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
}
