package fn_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal/fn"
)

// onDisk opens a copy of the drive's file as it stands on disk now: what a
// power cut at this instant would leave.
func onDisk(t *testing.T, dir string) fn.State {
	t.Helper()
	src, err := os.Open(filepath.Join(dir, "fn.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cp := t.TempDir()
	dst, err := os.Create(filepath.Join(cp, "fn.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: cp})
	if err != nil {
		t.Fatal(err)
	}
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
