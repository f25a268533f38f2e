package device

import (
	"strings"
	"testing"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
)

// console runs one command as the console socket would and returns its text.
func (g *rig) console(args ...string) (string, error) {
	g.t.Helper()
	ans := g.rt.Console(g.ctx, args)
	if !ans.OK {
		return ans.Output, errString(ans.Error)
	}
	return ans.Output, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// archivedType is the type of the drive's document fd.
func (g *rig) archivedType(fd uint32) fiscal.Tag {
	g.t.Helper()
	a, err := g.em.Document(g.ctx, fd)
	if err != nil {
		g.t.Fatal(err)
	}
	return a.Type
}

// TestDriveReportsFromTheConsole: the state report, the registration change and
// the drive close are signed from the technician's console, printed, and the
// irreversible two only once confirmed.
func TestDriveReportsFromTheConsole(t *testing.T) {
	cfg, pe := withPrinter(t)
	g := newRig(t, cfg)
	g.post(devicetest.Sale("s1", "SALE", "CARD", 10))
	g.cycle()

	// A state report while the shift is open: what waits for the OFD.
	out, err := g.console("state-report")
	if err != nil || !strings.Contains(out, "state report signed: FD") {
		t.Fatalf("state-report: %q, %v", out, err)
	}
	fd := g.lastFD()
	if typ := g.archivedType(fd); typ != fiscal.DocStateReport {
		t.Fatalf("FD %d is a document of type %d, want the state report (21)", fd, typ)
	}
	if led := g.ledger(); led.LastFD != fd {
		t.Fatalf("the ledger accounts up to FD %d, want %d", led.LastFD, fd)
	}
	g.rt.printQueued(g.ctx)
	if text := printed(pe); !strings.Contains(text, "ОТЧЕТ О ТЕКУЩЕМ СОСТОЯНИИ") || !strings.Contains(text, "НЕПЕРЕДАННЫХ ФД") {
		t.Fatalf("the state report was not printed:\n%s", text)
	}

	// A registration change needs the shift closed, a valid reason and confirmation.
	if _, err := g.console("reregister", "3", "--yes"); err == nil || !strings.Contains(err.Error(), "close the shift") {
		t.Fatalf("reregister in an open shift: %v, want a refusal naming the shift", err)
	}
	if _, err := g.console("report", "z"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.console("reregister", "9", "--yes"); err == nil || !strings.Contains(err.Error(), "reason \"9\"") {
		t.Fatalf("reregister with reason 9: %v, want a refusal naming the reason", err)
	}
	before := g.lastFD()
	out, err = g.console("reregister", "3,4")
	if err != nil || !strings.Contains(out, "--yes") || g.lastFD() != before {
		t.Fatalf("reregister without --yes: %q, %v; FD %d → %d: want a question and nothing signed", out, err, before, g.lastFD())
	}
	if out, err = g.console("reregister", "3,4", "--yes"); err != nil {
		t.Fatalf("reregister: %q, %v", out, err)
	}
	if typ := g.archivedType(g.lastFD()); typ != fiscal.DocRegistrationChange {
		t.Fatalf("FD %d is a document of type %d, want the registration change (11)", g.lastFD(), typ)
	}

	// The drive close: asked first, then signed, and the register stops.
	before = g.lastFD()
	if out, err = g.console("close-drive"); err != nil || !strings.Contains(out, "close-drive --yes") || g.lastFD() != before {
		t.Fatalf("close-drive without --yes: %q, %v; want a question and nothing signed", out, err)
	}
	if out, err = g.console("close-drive", "--yes"); err != nil {
		t.Fatalf("close-drive: %q, %v", out, err)
	}
	if typ := g.archivedType(g.lastFD()); typ != fiscal.DocDriveClose {
		t.Fatalf("FD %d is a document of type %d, want the drive close (6)", g.lastFD(), typ)
	}
	if st, err := g.st.Stop(); err != nil || !st.Stopped || st.Kind != stopDrive {
		t.Fatalf("after the drive close: stop %+v (%v), want a drive stop", st, err)
	}
	// A closed drive signs nothing more.
	if _, err := g.console("state-report"); err == nil {
		t.Fatal("a closed drive signed a state report")
	}
}
