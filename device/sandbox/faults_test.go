package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal/fn"
)

// Drills through the console, as a script does them against `kassa run`.
func TestFaultDrillsThroughTheConsole(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer stop()
	sb := app.Sandbox.File
	console := consoleOn(t, sb.Socket)
	status := func(id string) cloud.DocState {
		return devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, id).Status
	}

	// Paper out: a receipt to print waits; paper back: it completes.
	console("fault", "printer", "paper", "out")
	d := devicetest.Sale("drill-paper", "SALE", "CARD", 10)
	d["printReceipt"] = true
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, d)
	devicetest.WaitFor(t, "the printer's state in status", 10*time.Second, func() bool {
		return strings.Contains(console("status"), "paper out")
	})
	// The register has taken the receipt and holds it unsigned: neither still
	// in the cloud's queue nor signed behind the printer's back.
	devicetest.WaitFor(t, "the register to hold the receipt", 10*time.Second, func() bool {
		return strings.Contains(console("docs"), "drill-paper")
	})
	if line := docsLine(console("docs"), "drill-paper"); !strings.Contains(line, "accepted") || strings.Contains(line, "FD") {
		t.Fatalf("with the paper out the register has %q, want it accepted and unsigned", line)
	}
	if s := status("drill-paper"); s != cloud.Pending {
		t.Fatalf("with the paper out the cloud has the receipt %s, want PENDING", s)
	}
	console("fault", "printer", "paper", "in")
	devicetest.WaitFor(t, "the receipt after the paper came back", 10*time.Second, func() bool { return status("drill-paper") == cloud.Completed })

	// The OFD refuses a few connections: the documents get there all the same.
	console("fault", "ofd", "refuse", "2")
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("drill-ofd", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "delivery past the refusals", 20*time.Second, func() bool {
		return strings.Contains(console("status"), "0 for the OFD") && status("drill-ofd") == cloud.Completed
	})

	// A drive write failure stops the register at once.
	console("fault", "drive", "fail-writes", "1")
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("drill-drive", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "the stop", 10*time.Second, func() bool { return strings.Contains(console("status"), "STOPPED: drive error") })
	console("resume")
	devicetest.WaitFor(t, "the document after the resume", 10*time.Second, func() bool { return status("drill-drive") == cloud.Completed })

	for _, bad := range [][]string{{"fault", "drive", "fail-writes", "many"}, {"fault", "printer", "paper", "maybe"},
		{"fault", "ofd", "explode"}, {"fault", "kettle", "on"}} {
		if _, _, err := device.CallConsole(sb.Socket, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// docsLine is the line of `kassa docs` about id, or "".
func docsLine(out, id string) string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == id {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// The sandbox clock moved through the console, as scripts/torture --drills does
// against `kassa run`: with the OFD away, the drive warns from day 25, the
// register stops at day 30 saying why, and once the OFD has everything the stop
// lifts itself. The offset survives a restart; a real drive refuses it.
func TestFaultClockAdvanceThroughTheOFDLimit(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer func() { stop() }()
	ctx := context.Background()
	sb := app.Sandbox.File
	console := consoleOn(t, sb.Socket)
	status := func(id string) cloud.DocumentStatus {
		return devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, id)
	}
	post := func(id string) {
		t.Helper()
		devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale(id, "SALE", "CARD", 10))
	}
	complete := func(id string) {
		t.Helper()
		devicetest.WaitFor(t, id+" COMPLETED", 20*time.Second, func() bool { return status(id).Status == cloud.Completed })
	}
	drive := func() fn.State {
		t.Helper()
		st, err := app.Sandbox.Emulator.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	warned := func() bool { return drive().Warnings&fn.WarnOFDTimeout != 0 }

	console("fault", "ofd", "close") // every message stored, its acknowledgement cut off
	post("day-0")
	complete("day-0")
	if drive().Unsent == 0 {
		t.Fatal("the OFD acknowledged a document through the fault")
	}

	// The drive has no clock: it judges its limits at each document's time, which
	// the register stamps with the sandbox clock.
	console("fault", "clock", "advance", "480h")
	post("day-20")
	complete("day-20")
	if warned() {
		t.Fatal("the drive warns of the OFD limit after 20 days")
	}
	console("fault", "clock", "advance", "6d")
	post("day-26")
	complete("day-26")
	if !warned() {
		t.Fatalf("26 days without the OFD and no warning: %v", drive().Warnings)
	}
	if h := app.Runtime.Health(ctx); h.Stopped || !slices.Contains(h.Drive.Warnings, "OFD timeout near") {
		t.Fatalf("day 26: stopped %v (%s), warnings %v", h.Stopped, h.StopReason, h.Drive.Warnings)
	}

	console("fault", "clock", "advance", "5d") // 31 days in all
	post("day-31")
	devicetest.WaitFor(t, "the stop at 30 days", 20*time.Second, func() bool {
		h := app.Runtime.Health(ctx)
		return h.Stopped && strings.Contains(h.StopReason, "OFD")
	})
	if s := status("day-31"); s.Status == cloud.Completed || s.Status == cloud.Failed {
		t.Fatalf("day 31: the document is %s, want it waiting", s.Status)
	}

	console("fault", "ofd", "none")
	// The sender's backoff and the heartbeat's period (15 s) bound the wait.
	devicetest.WaitFor(t, "the catch-up and the stop lifted", time.Minute, func() bool {
		return !app.Runtime.Health(ctx).Stopped && status("day-31").Status == cloud.Completed
	})
	devicetest.WaitFor(t, "the OFD queue empty", 20*time.Second, func() bool { return drive().Unsent == 0 })
	docs, err := app.Sandbox.OFD.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if last := drive().LastFD; len(docs) != int(last) {
		t.Fatalf("the OFD holds %d documents, the drive %d", len(docs), last)
	}
	for i := 1; i < len(docs); i++ {
		if docs[i].FirstAt.Before(docs[i-1].FirstAt) {
			t.Fatalf("the OFD got FD %d before FD %d", docs[i].FD, docs[i-1].FD)
		}
	}
	if last := docs[len(docs)-1].FirstAt; time.Until(last) < 30*24*time.Hour {
		t.Errorf("the OFD emulator dates its last arrival %v, not on the sandbox clock", last)
	}

	// A restart keeps the sandbox's time: the drive would refuse an older one.
	stop()
	if b, _ := os.ReadFile(filepath.Join(dir, clockFile)); string(b) != "744h0m0s\n" {
		t.Fatalf("%s holds %q", clockFile, b)
	}
	app, stop = startApp(t, dir)
	sb = app.Sandbox.File
	if off := app.Sandbox.clock.Offset(); off != 31*24*time.Hour {
		t.Fatalf("after a restart the clock is %v ahead, want 744h", off)
	}
	post("after-restart")
	complete("after-restart")

	for _, bad := range [][]string{{"fault", "clock", "advance", "-1h"}, {"fault", "clock", "advance", "0d"},
		{"fault", "clock", "advance", "soon"}, {"fault", "clock", "back", "1h"}, {"fault", "clock", "advance"}} {
		if _, _, err := device.CallConsole(sb.Socket, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// A real drive keeps the system's clock: no offset for it.
	if _, err := (&Sandbox{}).Fault([]string{"clock", "advance", "1h"}); !errors.Is(err, errNoEmulator) {
		t.Errorf("clock advance with a real drive: %v", err)
	}
}
