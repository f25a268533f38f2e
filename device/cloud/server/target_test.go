package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cenkalti/backoff/v4"
)

func TestPublicAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"93.184.215.14": true, "2a00:1450:4010:c05::64": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.8.9.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false,
		"::": false, "100.64.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "224.0.0.1": false,
		"255.255.255.255": false, "64:ff9b::a9fe:a9fe": false,
	} {
		if got := publicAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", a, got, want)
		}
	}
}

// TestCallbackTargets: a hosted cloud (AllowPrivateTargets off) refuses to
// connect to loopback whether the URL names an address or a name resolving to
// one, at once and for good; redirects to such addresses are not followed.
func TestCallbackTargets(t *testing.T) {
	var hits atomic.Int32
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer shop.Close()
	clk := newClock()
	strict, err := Open(Config{Dir: t.TempDir(), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	port := shop.URL[strings.LastIndex(shop.URL, ":"):]
	for _, u := range []string{shop.URL, "http://localhost" + port, "http://[::ffff:127.0.0.1]" + port} {
		err := strict.postJSON(context.Background(), "callback", u, []byte(`{}`))
		var perm *backoff.PermanentError
		if !errors.Is(err, errPrivateTarget) || !errors.As(err, &perm) {
			t.Errorf("%s: %v, want a permanent refusal", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback shop got %d requests", n)
	}
	req, _ := http.NewRequest("POST", "http://169.254.169.254/latest/meta-data", nil)
	if err := strict.cfg.Client.CheckRedirect(req, []*http.Request{req}); !errors.Is(err, errPrivateTarget) {
		t.Fatalf("redirect to the metadata address: %v", err)
	}

	// The sandbox allows them.
	open, err := Open(Config{Dir: t.TempDir(), Clock: clk.Now, AllowPrivateTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.postJSON(context.Background(), "callback", shop.URL, []byte(`{}`)); err != nil || hits.Load() != 1 {
		t.Fatalf("sandbox callback to loopback: %v, %d hits", err, hits.Load())
	}
}
