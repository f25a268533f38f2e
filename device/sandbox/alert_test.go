package sandbox

import (
	"context"
	"encoding/json"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
)

// subjects decodes the subjects of the mails in the sandbox's sink, oldest first.
func subjects(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	var out []string
	dec := new(mime.WordDecoder)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// A drive fault stops the register at once; the owner gets exactly one e-mail
// naming the point and the reason, and an all-clear after the resume.
func TestDriveFaultMailsTheOwnerOnce(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer stop()
	var sb File
	b, _ := os.ReadFile(filepath.Join(dir, "sandbox.json"))
	if err := json.Unmarshal(b, &sb); err != nil || sb.SMTP == "" || sb.Cabinet == "" {
		t.Fatalf("sandbox.json: %v %s", err, b)
	}
	// The fault must hit the receipt, not the OFD's acknowledgement of the registration.
	devicetest.WaitFor(t, "the registration delivered", 10*time.Second, func() bool {
		s, err := app.Drive.State(context.Background())
		return err == nil && s.Unsent == 0
	})
	app.Sandbox.Emulator.FailNextWrites(1)
	devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, devicetest.Sale("victim", "SALE", "CARD", 10))
	devicetest.WaitFor(t, "the alert e-mail", 15*time.Second, func() bool { return len(subjects(t, dir)) > 0 })
	got := subjects(t, dir)
	if len(got) != 1 || !strings.Contains(got[0], sb.RetailPoints[0].Name) || !strings.Contains(got[0], "drive error") {
		t.Fatalf("alert mails: %q", got)
	}
	// More heartbeats while stopped: still one mail.
	app.Runtime.HeartbeatNow()
	time.Sleep(300 * time.Millisecond)
	if n := len(subjects(t, dir)); n != 1 {
		t.Fatalf("%d mails for one stop", n)
	}
	if err := app.Runtime.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	devicetest.WaitFor(t, "the all-clear", 15*time.Second, func() bool { return len(subjects(t, dir)) == 2 })
	if all := subjects(t, dir); !strings.Contains(all[1], "всё в порядке") {
		t.Fatalf("the second mail is not the all-clear: %q", all[1])
	}
	devicetest.WaitFor(t, "the document after the resume", 10*time.Second, func() bool {
		return devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, "victim").Status == "COMPLETED"
	})
}
