package device

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// Drills through the console, as a script does them against `kassa run`.
func TestFaultDrillsThroughTheConsole(t *testing.T) {
	dir := t.TempDir()
	_, stop := startApp(t, dir)
	defer stop()
	var sb SandboxFile
	b, _ := os.ReadFile(filepath.Join(dir, "sandbox.json"))
	if err := json.Unmarshal(b, &sb); err != nil {
		t.Fatal(err)
	}
	console := func(args ...string) string {
		t.Helper()
		out, _, err := CallConsole(sb.Socket, args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	status := func(id string) cloud.DocState { return docStatus(t, sb.Cloud, sb.Login, sb.Password, id).Status }

	// Paper out: a receipt to print waits; paper back: it completes.
	console("fault", "printer", "paper", "out")
	d := sale("drill-paper", "SALE", "CARD", 10)
	d["printReceipt"] = true
	postDoc(t, sb.Cloud, sb.Login, sb.Password, d)
	waitFor(t, "the printer's state in status", 10*time.Second, func() bool {
		return strings.Contains(console("status"), "paper out")
	})
	if s := status("drill-paper"); s == cloud.Completed {
		t.Fatal("a receipt to print completed with the paper out")
	}
	console("fault", "printer", "paper", "in")
	waitFor(t, "the receipt after the paper came back", 10*time.Second, func() bool { return status("drill-paper") == cloud.Completed })

	// The OFD refuses a few connections: the documents get there all the same.
	console("fault", "ofd", "refuse", "2")
	postDoc(t, sb.Cloud, sb.Login, sb.Password, sale("drill-ofd", "SALE", "CARD", 10))
	waitFor(t, "delivery past the refusals", 20*time.Second, func() bool {
		return strings.Contains(console("status"), "0 for the OFD") && status("drill-ofd") == cloud.Completed
	})

	// A drive write failure stops the register at once.
	console("fault", "drive", "fail-writes", "1")
	postDoc(t, sb.Cloud, sb.Login, sb.Password, sale("drill-drive", "SALE", "CARD", 10))
	waitFor(t, "the stop", 10*time.Second, func() bool { return strings.Contains(console("status"), "STOPPED: drive error") })
	console("resume")
	waitFor(t, "the document after the resume", 10*time.Second, func() bool { return status("drill-drive") == cloud.Completed })

	for _, bad := range [][]string{{"fault", "drive", "fail-writes", "many"}, {"fault", "printer", "paper", "maybe"},
		{"fault", "ofd", "explode"}, {"fault", "kettle", "on"}} {
		if _, _, err := CallConsole(sb.Socket, bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
