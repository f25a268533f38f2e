package printer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
)

// TestStatusOverPTY drives the emulator's paper and cover and reads them back
// through DLE EOT on a real pty.
func TestStatusOverPTY(t *testing.T) {
	p := profile(t, "emu-58")
	r := newRig(t, p, "")
	ctx := context.Background()
	cases := []struct {
		name            string
		paperOut, cover bool
		nearEnd         bool
		want            printer.Status
		ready           bool
	}{
		{"ready", false, false, false, printer.Status{Online: true}, true},
		{"near end prints", false, false, true, printer.Status{Online: true, PaperNearEnd: true}, true},
		{"paper out", true, false, false, printer.Status{PaperOut: true}, false},
		{"cover open", false, true, false, printer.Status{CoverOpen: true}, false},
		{"both", true, true, false, printer.Status{PaperOut: true, CoverOpen: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.emu.SetPaperOut(c.paperOut)
			r.emu.SetCoverOpen(c.cover)
			r.emu.SetPaperNearEnd(c.nearEnd)
			st, err := r.pr.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st != c.want || st.Ready() != c.ready {
				t.Errorf("status %+v ready %v, want %+v ready %v", st, st.Ready(), c.want, c.ready)
			}
		})
	}
}

// TestPrintRefused: a printer without paper or with its cover open is not sent
// the job, and says why.
func TestPrintRefused(t *testing.T) {
	p := profile(t, "emu-58")
	r := newRig(t, p, "")
	job := must[[]byte](t)(printer.SelfTest(printer.SelfTestData{Time: t0}, p).ESCPOS(p))
	for _, c := range []struct {
		name string
		set  func(bool)
		word string
	}{{"paper out", r.emu.SetPaperOut, "paper out"}, {"cover open", r.emu.SetCoverOpen, "cover open"}} {
		t.Run(c.name, func(t *testing.T) {
			c.set(true)
			defer c.set(false)
			err := r.pr.Print(context.Background(), job)
			if !errors.Is(err, printer.ErrNotReady) {
				t.Fatalf("Print: %v, want ErrNotReady", err)
			}
			if got := err.Error(); !contains(got, c.word) {
				t.Errorf("error %q does not say %q", got, c.word)
			}
		})
	}
	if n := len(r.emu.Pages()); n != 0 {
		t.Errorf("%d pages printed while not ready", n)
	}
	if err := r.pr.Print(context.Background(), job); err != nil {
		t.Fatalf("after the paper and cover are back: %v", err)
	}
	if n := len(r.emu.Pages()); n != 1 {
		t.Errorf("%d pages printed, want 1", n)
	}
}

// TestPaperRunsOutMidJob: bytes sent while the paper is out are lost, the page
// is not delivered, and the status after says so — what Print checks after a job.
func TestPaperRunsOutMidJob(t *testing.T) {
	p := profile(t, "emu-58")
	r := newRig(t, p, "")
	job := must[[]byte](t)(printer.SelfTest(printer.SelfTestData{Time: t0}, p).ESCPOS(p))
	half := len(job) / 2
	if _, err := r.port.Write(job[:half]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pr.Status(context.Background()); err != nil { // the first half is printed by now
		t.Fatal(err)
	}
	r.emu.SetPaperOut(true)
	if _, err := r.port.Write(job[half:]); err != nil {
		t.Fatal(err)
	}
	st, err := r.pr.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.PaperOut || st.Ready() {
		t.Errorf("status after the paper ran out: %+v", st)
	}
	if n := len(r.emu.Pages()); n != 0 {
		t.Errorf("a page cut after the paper ran out was delivered (%d pages)", n)
	}
}

// TestStatusTimeout: a line nobody answers on times out rather than hanging.
func TestStatusTimeout(t *testing.T) {
	pt, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	port, err := board.OpenSerial(board.SerialConfig{Path: pt.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	pr := printer.New(port, profile(t, "emu-58"), printer.Options{Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err = pr.Status(context.Background())
	if !errors.Is(err, printer.ErrTimeout) {
		t.Fatalf("Status on a silent line: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timed out after %s, want about 100ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pr.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Status with a cancelled context: %v", err)
	}
}

// TestPipe prints through the emulator's in-process line, as the sandbox does,
// and opens the drawer.
func TestPipe(t *testing.T) {
	p := profile(t, "emu-80")
	dir := t.TempDir()
	e := emu.New(emu.Config{Profile: p, Dir: dir})
	line := e.Pipe()
	defer line.Close()
	pr := printer.New(line, p, printer.Options{})
	d := reportDoc(t, fiscal.DocShiftOpen, 120, nil)
	pg := must[*printer.Page](t)(printer.Layout(d.doc, d.fpd, printer.Extra{}, p))
	job := must[[]byte](t)(pg.ESCPOS(p))
	ctx := context.Background()
	for range 2 {
		if err := pr.Print(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	if err := pr.KickDrawer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Status(ctx); err != nil { // the kick is interpreted by the time the status comes back
		t.Fatal(err)
	}
	if n := e.DrawerKicks(); n != 1 {
		t.Errorf("drawer kicked %d times, want 1", n)
	}
	pages := e.Pages()
	if len(pages) != 2 || pages[0].Name != "120" || pages[1].Name != "120-2" {
		var names []string
		for _, pg := range pages {
			names = append(names, pg.Name)
		}
		t.Fatalf("pages %q, want the document and its reprint as 120 and 120-2", names)
	}
	txt, err := os.ReadFile(filepath.Join(dir, "120.txt"))
	if err != nil || string(txt) != pages[0].Text {
		t.Errorf("120.txt: %v, holds %d bytes, want the page's text", err, len(txt))
	}
	if png, err := os.ReadFile(filepath.Join(dir, "120-2.png")); err != nil || !bytes.Equal(png, pages[1].PNG) {
		t.Errorf("120-2.png: %v, want the reprint's PNG", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
