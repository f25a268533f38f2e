package server

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

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
	receiver, up, done := shopReceiver(t)
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
	f.printedAwaitingCallback("h1", receiver)
	hs.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	up.Store(true)
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
