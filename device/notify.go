package device

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Notifier tells the service manager how the register is, by systemd's
// sd_notify protocol: one datagram of "KEY=value" lines per message, sent to
// the unix socket named by $NOTIFY_SOCKET. The protocol is a few lines, and
// written here rather than taken from go-systemd, whose daemon package is
// the same few lines: the register's board build carries no code for it.
type Notifier struct {
	addr *net.UnixAddr
}

// NotifierFromEnv is the notifier of $NOTIFY_SOCKET, or nil when the register
// runs under no service manager that asks (a nil *Notifier sends nothing).
func NotifierFromEnv() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Send sends one message of "KEY=value" lines, e.g. "READY=1".
func (n *Notifier) Send(lines ...string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("device: notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("device: notify: %w", err)
	}
	return nil
}

// WatchdogFromEnv is the watchdog's period systemd set ($WATCHDOG_USEC, for
// this process when $WATCHDOG_PID names it), or 0 when there is none.
func WatchdogFromEnv() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// pulse says whether the pipeline loop is alive: waiting for work, or busy
// and moving documents. A loop wedged in a drive exchange that never ends,
// or behind a lock, is busy and moves none.
type pulse struct {
	mu    sync.Mutex
	busy  bool
	seq   uint64    // changes at every start and end of a pass and every document settled
	since time.Time // when seq last changed
}

// beat marks the start (busy) or the end of a pass of the loop.
func (p *pulse) beat(busy bool) {
	p.mu.Lock()
	p.busy = busy
	p.seq++
	p.since = time.Now()
	p.mu.Unlock()
}

// progressed marks a document moved.
func (p *pulse) progressed() {
	p.mu.Lock()
	p.seq++
	p.since = time.Now()
	p.mu.Unlock()
}

// alive says whether the loop waits for work or has moved since the last
// call that saw *last; it stores what it saw there.
func (p *pulse) alive(last *uint64) (ok bool, stuckFor time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ok = !p.busy || p.seq != *last
	*last = p.seq
	return ok, time.Since(p.since)
}

// Notify tells the service manager that the register serves (READY=1 and a
// STATUS line), then at each tick feeds its watchdog (WATCHDOG=1) only if the
// pipeline loop is alive: waiting for work, or having moved since the tick
// before. A wedged pipeline gets a STATUS line that says so and no ping, and
// the service manager restarts the register once its WatchdogSec passes.
// When ctx ends it says STOPPING=1 and returns. ticks is nil with no
// watchdog; a tick every quarter of WatchdogSec leaves a pass up to three
// quarters of it.
func (r *Runtime) Notify(ctx context.Context, n *Notifier, ticks <-chan time.Time) error {
	if n == nil {
		return nil
	}
	if err := n.Send("READY=1", "STATUS="+r.statusLine()); err != nil {
		return err
	}
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return n.Send("STOPPING=1", "STATUS=stopping: finishing the document in hand")
		case <-ticks:
		}
		var err error
		if ok, stuck := r.pulse.alive(&last); ok {
			err = n.Send("WATCHDOG=1", "STATUS="+r.statusLine())
		} else {
			err = n.Send(fmt.Sprintf("STATUS=the pipeline has moved no document for %s: not feeding the watchdog",
				stuck.Round(time.Second)))
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			r.log.Debug("notify", "err", err)
		}
	}
}

// statusLine is the one line `systemctl status` shows: taking documents or
// stopped, and how many wait for the drive.
func (r *Runtime) statusLine() string {
	waiting, _ := r.store.Waiting()
	if stop, err := r.store.Stop(); err == nil && stop.Stopped && !r.remote() {
		return fmt.Sprintf("stopped: %s; %d documents wait for the drive", stop.Reason, waiting)
	}
	return fmt.Sprintf("taking documents; %d wait for the drive", waiting)
}
