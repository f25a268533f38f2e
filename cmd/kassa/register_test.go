package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// kassa register signs a new drive's registration over its serial line with
// the point's data from the cloud, only with --yes, only with a registration
// number whose check digits fit the INN and serial, and only once.
func TestRegisterDrive(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.Open(server.Config{Dir: dir, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	acc, err := srv.Sandbox()
	if err != nil {
		t.Fatal(err)
	}
	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(dir, "fn"), CheckTables: true})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	pt, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fn.Serve(ctx, pt.Master(), em)

	var s device.Settings
	s.Data, s.Cloud.URL, s.Cloud.Token, s.Drive.Port = dir, hs.URL, acc.RegisterToken, pt.Path
	b, _ := json.Marshal(s)
	config := filepath.Join(dir, "kassa.json")
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := cloud.NewClient(hs.URL, acc.RegisterToken, nil).Point(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := fiscal.RegNumber("0000000042", p.INN, device.SandboxSerial)
	if err != nil {
		t.Fatal(err)
	}
	phase := func() fn.Phase {
		st, err := em.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Phase
	}

	wrong := reg[:15] + string('0'+(reg[15]-'0'+1)%10)
	if err := runRegisterDrive(ctx, []string{"--config", config, wrong, "--yes"}); err == nil || !strings.Contains(err.Error(), "check digits") {
		t.Fatalf("a wrong registration number: %v", err)
	}
	if err := runRegisterDrive(ctx, []string{"--config", config, reg}); err != nil || phase() != fn.PhaseNotRegistered {
		t.Fatalf("without --yes: %v, the drive %s", err, phase())
	}
	if err := runRegisterDrive(ctx, []string{reg, "--config", config, "--yes"}); err != nil || phase() != fn.PhaseFiscal {
		t.Fatalf("with --yes: %v, the drive %s", err, phase())
	}
	st, err := em.State(ctx)
	if err != nil || st.RegNumber != reg {
		t.Fatalf("the drive's registration number %q, want %q (%v)", st.RegNumber, reg, err)
	}
	a, err := em.Document(ctx, 1)
	if err != nil || a.Type != fiscal.DocRegistration {
		t.Fatalf("FD 1: %v, type %v", err, a.Type)
	}
	if err := runRegisterDrive(ctx, []string{"--config", config, reg, "--yes"}); err == nil || !strings.Contains(err.Error(), "not ready for registration") {
		t.Fatalf("a second registration: %v", err)
	}
}
