package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
)

// startApp runs the whole sandbox in-process on free loopback ports.
func startApp(t *testing.T, dir string) (*App, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := device.Settings{Data: dir}
	s.Cloud.Addr, s.OFD.Addr, s.OFD.LookupAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	s.Cloud.PollInterval = device.Duration{Duration: 100 * time.Millisecond}
	var logTo io.Writer = io.Discard
	if os.Getenv("KASSA_TEST_LOG") != "" {
		logTo = os.Stderr
	}
	app, err := Start(ctx, s, "0.1.0", slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Wait(ctx); close(done) }()
	return app, func() { cancel(); <-done }
}

// consoleOn runs one command over the console socket at sock, as `kassa …` does,
// and fails the test on an error.
func consoleOn(t *testing.T, sock string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, _, err := device.CallConsole(sock, args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
}

func TestEndToEndSale(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer stop()
	var sb File
	b, err := os.ReadFile(filepath.Join(dir, "sandbox.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sb); err != nil {
		t.Fatal(err)
	}
	if len(sb.RetailPoints) != 2 || sb.OFD == "" || sb.OFDLookup == "" {
		t.Fatalf("sandbox.json lacks parts: %s", b)
	}
	doc := devicetest.Sale("3769574b-d082-4fe2-8cf0-dee21f9a7e0f", "SALE", "CARD", 1990.00)
	if code := devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, doc); code != 200 {
		t.Fatalf("POST: %d", code)
	}
	var st cloud.DocumentStatus
	devicetest.WaitFor(t, "COMPLETED", 10*time.Second, func() bool {
		st = devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, "3769574b-d082-4fe2-8cf0-dee21f9a7e0f")
		return st.Status == cloud.Completed
	})
	fi := st.FiscalInfo
	if fi == nil || fi.FNDocNumber == 0 || fi.FNDocMark == 0 || fi.CheckType != "SALE" || int64(fi.Sum) != 199000 {
		t.Fatalf("fiscalInfo: %+v", fi)
	}
	// The ФПД the shop got is the one the drive signed, and it verifies with the drive's key.
	a, err := app.Drive.Document(context.Background(), uint32(fi.FNDocNumber))
	if err != nil {
		t.Fatal(err)
	}
	fpd, err := fiscal.VerifyFiscalSign(app.Sandbox.Emulator.Key(), a.TLV)
	if err != nil || int64(fpd) != fi.FNDocMark {
		t.Fatalf("ФПД %d from the drive (%v), the shop got %d", fpd, err, fi.FNDocMark)
	}
	d, err := fiscal.Decode(a.TLV)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Elements.Money(1020); v != 199000 {
		t.Fatalf("1020 in the drive = %d", v)
	}
	if !strings.Contains(fi.QR, fmt.Sprintf("&i=%d&fp=%d&n=1", fi.FNDocNumber, fi.FNDocMark)) || !strings.Contains(fi.QR, "s=1990.00") {
		t.Fatalf("QR %q", fi.QR)
	}
	// Delivered to the OFD: the drive's queue empties and the OFD's look-up finds it by the QR's fields.
	devicetest.WaitFor(t, "the OFD's acknowledgement", 10*time.Second, func() bool {
		s, err := app.Drive.State(context.Background())
		return err == nil && s.Unsent == 0
	})
	url := fmt.Sprintf("%s/receipt?fn=%s&i=%d&fp=%d", sb.OFDLookup, fi.FNNumber, fi.FNDocNumber, fi.FNDocMark)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("OFD look-up: %d", resp.StatusCode)
	}

	// A receipt the shop asks to print comes out of the emulated printer as text and PNG.
	printed := devicetest.Sale("printed-1", "SALE", "CASH", 100)
	printed["printReceipt"] = true
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, printed)
	var pst cloud.DocumentStatus
	devicetest.WaitFor(t, "the printed receipt COMPLETED", 10*time.Second, func() bool {
		pst = devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, "printed-1")
		return pst.Status == cloud.Completed
	})
	base := filepath.Join(dir, "receipts", fmt.Sprint(pst.FiscalInfo.FNDocNumber))
	devicetest.WaitFor(t, "the receipt's files", 10*time.Second, func() bool {
		_, e1 := os.Stat(base + ".png")
		_, e2 := os.Stat(base + ".txt")
		return e1 == nil && e2 == nil
	})
	if txt, _ := os.ReadFile(base + ".txt"); !strings.Contains(string(txt), fmt.Sprintf("%010d", pst.FiscalInfo.FNDocMark)) {
		t.Fatalf("the printed receipt lacks its ФП:\n%s", txt)
	}

	// The technician's console over the real socket.
	out, _, err := device.CallConsole(sb.Socket, []string{"status"})
	if err != nil || !strings.Contains(out, "READY") || !strings.Contains(out, "0 for the OFD") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, _, err = device.CallConsole(sb.Socket, []string{"status", "--json"})
	var h cloud.Health
	if err != nil || json.Unmarshal([]byte(out), &h) != nil || !h.ShiftOpen || h.Drive.LastFD != uint32(pst.FiscalInfo.FNDocNumber) || h.Printer.State != "ready" {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if _, _, err := device.CallConsole(sb.Socket, []string{"cash", "in", "1500.50"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := device.CallConsole(sb.Socket, []string{"cash", "out", "2000"}); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("cash out beyond the drawer: %v", err)
	}
	_, raw, err := device.CallConsole(sb.Socket, []string{"doc", fmt.Sprint(fi.FNDocNumber), "--tlv"})
	if err != nil || string(raw) != string(a.TLV) {
		t.Fatalf("doc --tlv: %v, %d bytes", err, len(raw))
	}
	out, _, err = device.CallConsole(sb.Socket, []string{"doc", fmt.Sprint(fi.FNDocNumber)})
	if err != nil || !strings.Contains(out, `"ofdAcknowledged": true`) || !strings.Contains(out, "Товар 1") {
		t.Fatalf("doc: %v\n%s", err, out)
	}
	out, _, err = device.CallConsole(sb.Socket, []string{"selftest"})
	if err != nil || strings.Contains(out, "FAIL") {
		t.Fatalf("selftest: %v\n%s", err, out)
	}
	if _, _, err := device.CallConsole(sb.Socket, []string{"frobnicate"}); err == nil {
		t.Fatal("an unknown console command succeeded")
	}
	out, _, err = device.CallConsole(sb.Socket, []string{"report", "z"})
	if err != nil || !strings.Contains(out, "Z REPORT") || !strings.Contains(out, "drawer 1600.50") {
		t.Fatalf("report z: %v\n%s", err, out)
	}
	info, err := os.Stat(sb.Socket)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("console socket mode: %v %v", info.Mode(), err)
	}
}
