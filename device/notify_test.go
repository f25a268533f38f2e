package device

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// notifySocket listens on a real unixgram socket named by $NOTIFY_SOCKET, as
// systemd does, and hands over each message it takes.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return msgs
}

// TestNotifyWatchdog: the register says READY=1 with a STATUS line, pings the
// watchdog at each tick while its pipeline loop runs, stops pinging while the
// loop is wedged (here: behind the lock a document needs), pings again once
// it moves, and says STOPPING=1 at the end. The ticks are the test's, so
// nothing here depends on how fast the machine is.
func TestNotifyWatchdog(t *testing.T) {
	msgs := notifySocket(t)
	g := newRig(t, Config{})
	n := NotifierFromEnv()
	if n == nil {
		t.Fatal("no notifier with $NOTIFY_SOCKET set")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ticks := make(chan time.Time)
	wg.Add(2)
	go func() { defer wg.Done(); g.rt.pipelineLoop(ctx) }()
	go func() {
		defer wg.Done()
		if err := g.rt.Notify(ctx, n, ticks); err != nil {
			t.Error(err)
		}
	}()
	next := func() string {
		t.Helper()
		m, ok := <-msgs
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	}
	tick := func() string { ticks <- time.Now(); return next() }

	if m := next(); !strings.HasPrefix(m, "READY=1\nSTATUS=taking documents") {
		t.Fatalf("first message %q; want READY=1 and a STATUS", m)
	}
	for i := range 3 {
		if m := tick(); !strings.HasPrefix(m, "WATCHDOG=1\n") {
			t.Fatalf("idle pipeline, tick %d: %q; want WATCHDOG=1", i, m)
		}
	}

	// Wedge the loop: a drive that takes a receipt and never answers.
	stuck := &stuckDrive{Drive: g.em, entered: make(chan struct{}), release: make(chan struct{})}
	g.rt.drive = stuck
	defer stuck.unblock() // a failing test lets the loop end
	g.st.Accept([]store.NewDoc{{ID: "wedge", Body: mustJSON(devicetest.Sale("wedge", "SALE", "CARD", 10))}}, g.clock())
	g.rt.Wake()
	<-stuck.entered
	tick() // may still see the pass begin
	for i := range 3 {
		if m := tick(); strings.Contains(m, "WATCHDOG=1") || !strings.Contains(m, "STATUS=the pipeline has moved no document") {
			t.Fatalf("wedged pipeline, tick %d: %q; want no ping and a STATUS that says so", i, m)
		}
	}

	stuck.unblock()
	for {
		if d, err := g.st.Get("wedge"); err == nil && d.State != store.Accepted {
			break
		}
		time.Sleep(time.Millisecond) // until the document is signed and committed
	}
	if m := tick(); !strings.HasPrefix(m, "WATCHDOG=1\n") {
		t.Fatalf("pipeline moving again: %q; want WATCHDOG=1", m)
	}
	if d, err := g.st.Get("wedge"); err != nil || d.State != store.Fiscalized {
		t.Fatalf("the wedged document: %+v, %v", d, err)
	}
	cancel()
	if m := next(); !strings.HasPrefix(m, "STOPPING=1\n") {
		t.Fatalf("at the end: %q; want STOPPING=1", m)
	}
}

// stuckDrive answers its first receipt only once released.
type stuckDrive struct {
	fn.Drive
	once, released   sync.Once
	entered, release chan struct{}
}

func (d *stuckDrive) unblock() { d.released.Do(func() { close(d.release) }) }

func (d *stuckDrive) Receipt(ctx context.Context, r fn.ReceiptDoc) (fn.Signed, error) {
	d.once.Do(func() { close(d.entered); <-d.release })
	return d.Drive.Receipt(ctx, r)
}

func TestWatchdogFromEnv(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "120000000")
	t.Setenv("WATCHDOG_PID", "")
	if got := WatchdogFromEnv(); got != 2*time.Minute {
		t.Errorf("WATCHDOG_USEC=120000000: %v", got)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if got := WatchdogFromEnv(); got != 0 {
		t.Errorf("another process's watchdog: %v", got)
	}
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	if got := WatchdogFromEnv(); got != 0 {
		t.Errorf("no watchdog: %v", got)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if n := NotifierFromEnv(); n != nil || n.Send("READY=1") != nil {
		t.Error("a notifier with no $NOTIFY_SOCKET")
	}
}
