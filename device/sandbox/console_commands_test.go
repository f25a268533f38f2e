package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
)

// TestTechnicianCommandsThroughTheConsole drives the technician's one-shot
// commands over the console socket of a running sandbox, as `kassa …` does:
// shift open, docs and docs --failed, events, reprint, and the drive drills
// sign-delay, memory-full and expire-key.
func TestTechnicianCommandsThroughTheConsole(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer stop()
	sb := app.Sandbox.File
	console := consoleOn(t, sb.Socket)
	status := func(id string) cloud.DocumentStatus {
		return devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, id)
	}
	settled := func(id string) cloud.DocumentStatus {
		t.Helper()
		var st cloud.DocumentStatus
		devicetest.WaitFor(t, id+" settled", 15*time.Second, func() bool {
			st = status(id)
			return st.Status == cloud.Completed || st.Status == cloud.Failed
		})
		return st
	}

	// A shift opened by hand; a second open is refused.
	if out := console("shift", "open"); !strings.HasPrefix(out, "shift 1 opened, FD ") {
		t.Fatalf("shift open: %q", out)
	}
	if _, _, err := device.CallConsole(sb.Socket, []string{"shift", "open"}); err == nil {
		t.Fatal("a second shift open was accepted")
	}

	// A printed receipt, listed by docs with its FD, and a copy of it reprinted.
	d := devicetest.Sale("printed", "SALE", "CARD", 10)
	d["printReceipt"] = true
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, d)
	fi := settled("printed").FiscalInfo
	if fi == nil {
		t.Fatal("the printed receipt has no fiscal data")
	}
	line := docsLine(console("docs"), "printed")
	if !strings.Contains(line, "fiscalized") || !strings.Contains(line, "FD "+itoa(fi.FNDocNumber)) {
		t.Fatalf("docs: %q, want it fiscalized as FD %d", line, fi.FNDocNumber)
	}
	receipt := filepath.Join(dir, "receipts", itoa(fi.FNDocNumber)+".txt")
	devicetest.WaitFor(t, "the receipt on paper", 10*time.Second, func() bool { _, err := os.Stat(receipt); return err == nil })
	if out := console("reprint", itoa(fi.FNDocNumber)); !strings.Contains(out, "queued for printing (a copy)") {
		t.Fatalf("reprint: %q", out)
	}
	// The emulated printer keeps a second page of one FD as <FD>-2.
	cp := filepath.Join(dir, "receipts", strconv.Itoa(fi.FNDocNumber)+"-2.txt")
	devicetest.WaitFor(t, "the copy on paper", 10*time.Second, func() bool {
		b, _ := os.ReadFile(cp)
		return strings.HasPrefix(strings.TrimSpace(string(b)), "КОПИЯ")
	})
	if _, _, err := device.CallConsole(sb.Socket, []string{"reprint", "many"}); err == nil {
		t.Fatal("reprint of a non-number was accepted")
	}

	// A cash refund the drawer cannot pay fails; docs --failed lists it alone.
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("no-cash", "RETURN", "CASH", 5000))
	if st := settled("no-cash"); st.Status != cloud.Failed {
		t.Fatalf("a refund beyond the drawer: %s", st.Status)
	}
	failed := console("docs", "--failed")
	if docsLine(failed, "no-cash") == "" || docsLine(failed, "printed") != "" {
		t.Fatalf("docs --failed:\n%s", failed)
	}
	if ev := console("events"); !strings.Contains(ev, "shift 1 opened") || !strings.Contains(ev, `"no-cash" not fiscalized`) {
		t.Fatalf("events:\n%s", ev)
	}

	// Signing slowed down: the receipt stays accepted while the drive works.
	console("fault", "drive", "sign-delay", "3s")
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("slow", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "the register to take the slow receipt", 10*time.Second, func() bool {
		return strings.Contains(docsLine(console("docs"), "slow"), "accepted")
	})
	time.Sleep(300 * time.Millisecond)
	if line := docsLine(console("docs"), "slow"); !strings.Contains(line, "accepted") {
		t.Fatalf("300 ms into a 3 s signature: %q, want it still accepted", line)
	}
	console("fault", "drive", "sign-delay", "0s")
	if st := settled("slow"); st.Status != cloud.Completed {
		t.Fatalf("the slow receipt: %s", st.Status)
	}

	// A full archive stops the register at once, saying why; the receipt waits
	// unsigned and goes through once the archive has room and the stop is lifted.
	console("fault", "drive", "memory-full", "on")
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("full", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "the stop for the full archive", 10*time.Second, func() bool {
		return strings.Contains(console("status"), "STOPPED: drive error")
	})
	if line := docsLine(console("docs"), "full"); !strings.Contains(line, "accepted") {
		t.Fatalf("with the archive full: %q, want it accepted and unsigned", line)
	}
	console("fault", "drive", "memory-full", "off")
	console("resume")
	if st := settled("full"); st.Status != cloud.Completed {
		t.Fatalf("after the archive had room: %s", st.Status)
	}
	// An expired key stops it too; nothing more is signed.
	console("fault", "drive", "expire-key")
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("expired", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "the stop for the expired key", 10*time.Second, func() bool {
		return strings.Contains(console("status"), "STOPPED: drive error")
	})
	if line := docsLine(console("docs"), "expired"); !strings.Contains(line, "accepted") {
		t.Fatalf("with the key expired: %q, want it accepted and unsigned", line)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
