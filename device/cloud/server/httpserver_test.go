package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// serveLimited serves the fixture's handler with lim on loopback.
func serveLimited(t *testing.T, f *fixture, lim ServerLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := HTTPServer(f.srv.Handler(), lim)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// closedWithin reads from c until the server closes it, failing if that takes
// longer than d (far longer than the limit under test, so a busy machine does
// not fail it).
func closedWithin(t *testing.T, c net.Conn, d time.Duration, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: still open after %s (%v)", what, d, err)
	}
}

// TestSlowClient: a client that trickles its body, or its headers, loses its
// connection at the read limits instead of holding it.
func TestSlowClient(t *testing.T) {
	f := newFixture(t, Config{})
	addr := serveLimited(t, f, ServerLimits{ReadHeader: 200 * time.Millisecond, Read: 500 * time.Millisecond})
	body := withID("slow")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/fn/v2/doc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Basic %s\r\n\r\n",
		len(body), basic(f.sb.Login, f.sb.Password))
	stop := make(chan struct{})
	go func() { // a byte every 50 ms: the body would take a minute
		for _, b := range body {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	closedWithin(t, c, 20*time.Second, "a trickled body")
	close(stop)

	h, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fmt.Fprint(h, "GET /api/fn/v1/status HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	closedWithin(t, h, 20*time.Second, "unfinished headers")

	// The server still answers others.
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/fn/v1/status", nil)
	req.SetBasicAuth(f.sb.Login, f.sb.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status after the slow clients: HTTP %d", resp.StatusCode)
	}
}

// TestConnectionCap: past MaxConns, new connections are closed as they come,
// and a place frees when a connection ends.
func TestConnectionCap(t *testing.T) {
	f := newFixture(t, Config{})
	addr := serveLimited(t, f, ServerLimits{MaxConns: 3})
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /api/fn/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c) // kept alive, idle
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	closedWithin(t, extra, 20*time.Second, "a fourth connection")
	held[0].Close()
	cloudtest.WaitFor(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprint(c, "GET /api/fn/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = http.ReadResponse(bufio.NewReader(c), nil)
		return err == nil
	})
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")[len("Basic "):]
}
