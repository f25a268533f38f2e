package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"github.com/openkassa/kassa/device/cloud/server/storage/boltstore"
)

// A node that closes hands the callbacks it held to the next node on its
// store at once, not when its hold would have ended a minute later.
func TestCloseHandsOverCallbacks(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ok atomic.Bool
	done := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var ds cloud.DocumentStatus
		json.NewDecoder(r.Body).Decode(&ds)
		done <- ds.ID
	}))
	defer receiver.Close()
	cfg := Config{Store: st, PasswordCost: bcrypt.MinCost, AllowPrivateTargets: true,
		CallbackInitial: 10 * time.Millisecond, CallbackMax: 20 * time.Millisecond, CallbackFor: time.Hour}
	first, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(first.Handler())
	sb, err := first.Sandbox()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: first, http: hs, sb: sb}
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "h1"; m["responseURL"] = receiver.URL }))
	c := f.client()
	if _, err := c.Lease(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(context.Background(), []cloud.Result{{ID: "h1", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	cloudtest.WaitFor(t, func() bool { return f.status("h1").Status == cloud.WaitForCallback })
	hs.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ok.Store(true)
	second, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	select {
	case id := <-done:
		if id != "h1" {
			t.Fatalf("callback for %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the callback the closed node held was not taken by the next one")
	}
}
