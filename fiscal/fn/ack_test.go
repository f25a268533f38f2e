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

// An acknowledgement is in the drive's file when Acknowledge returns, whether
// it got a commit of its own (no documents being signed) or rode in the commit
// of a document signed meanwhile.
func TestAcknowledgementDurableOnReturn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openEmulator(t, fn.EmulatorConfig{Dir: dir})
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0.Add(time.Minute), TLV: reportTLV(t, "ОТКРЫТИЕ СМЕНЫ")})).ok(t)

	time.Sleep(20 * time.Millisecond) // the drive is idle
	must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), 1, 0, t0))).ok(t)
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

// Documents are durable when the drive returns them, whether still in its
// journal or already checkpointed into its bbolt file, and survive a cut
// between checkpoints with every document readable and verifying.
func TestDocumentsDurableAcrossCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openEmulator(t, fn.EmulatorConfig{Dir: dir})
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "ОТКРЫТИЕ СМЕНЫ")})).ok(t)
	var docs [][]byte
	for i := range 300 {
		s := must(e.Receipt(ctx, receipt(t, t0.Add(time.Minute), uint64(100+i)))).ok(t)
		if i%97 != 0 {
			continue
		}
		must(0, e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), s.FD-1, 0, t0))).ok(t)
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

// An acknowledgement of every document so far rides in the commit of the next
// one, which is then the first unsent.
func TestAcknowledgementOfAllRidesNextDocument(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := openEmulator(t, fn.EmulatorConfig{Dir: dir})
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "ОТКРЫТИЕ СМЕНЫ")})).ok(t)
	e.PendAcknowledgement(2)
	at := t0.Add(time.Minute)
	s := must(e.Receipt(ctx, receipt(t, at, 100))).ok(t)
	for _, st := range []fn.State{must(e.State(ctx)).ok(t), onDisk(t, dir)} {
		if st.Unsent != 1 || st.FirstUnsentFD != s.FD || !st.FirstUnsentTime.Equal(s.Time) {
			t.Fatalf("state %+v: want FD %d alone unsent since %v", st, s.FD, s.Time)
		}
	}
}
