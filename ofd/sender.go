package ofd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Drive is what the sender needs of the fiscal drive (fn.Drive satisfies it).
type Drive interface {
	// NextMessage returns the container of the first unsent document; nil, nil when none.
	NextMessage(ctx context.Context) ([]byte, error)
	// Acknowledge hands the OFD's ack container to the drive, unchanged; it
	// may be durable only once Sync returns.
	Acknowledge(ctx context.Context, ack []byte) error
	// Sync returns once everything the drive took is durable.
	Sync(ctx context.Context) error
}

// SenderConfig configures a Sender. Zero fields take the defaults noted.
type SenderConfig struct {
	Addr        string        // the OFD, host:port
	DialTimeout time.Duration // connect timeout; default 10 s
	IOTimeout   time.Duration // per write of a message and per read of its answer; default 30 s
	Idle        time.Duration // poll period while the queue is empty; default 5 s
	// Linger is how long a connection is kept once the queue is empty, for the
	// next document: a connection per document costs both ends a handshake.
	// Default 1 s.
	Linger time.Duration
	// Backoff paces retries while the OFD is unreachable or the drive refuses
	// acks; reset after each delivered document. Default: exponential from 1 s
	// to at most 5 min, ±50 % jitter, never giving up.
	Backoff backoff.BackOff
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default discards
}

// SenderStatus is the sender's view of the OFD, kept apart from the drive's
// own state: the OFD may be reachable while the drive refuses its acks.
type SenderStatus struct {
	Reachable    bool      // the last attempt got an answer from the OFD
	LastExchange time.Time // when the OFD last answered
	LastError    string    // the last failure, network or drive; "" after a delivery
	Delivered    uint64    // acks the drive accepted
	Refused      uint64    // acks the drive refused
}

// Sender streams the drive's unsent documents to the OFD and hands each
// acknowledgement back to the drive. It never builds, alters or fakes a message
// or an ack: the drive alone decides what is delivered.
type Sender struct {
	drive Drive
	cfg   SenderConfig
	log   *slog.Logger
	wake  chan struct{}

	delivered atomic.Uint64
	refused   atomic.Uint64
	mu        sync.Mutex
	status    SenderStatus
}

// NewSender returns a sender for d; Run starts it.
func NewSender(d Drive, cfg SenderConfig) *Sender {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 30 * time.Second
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 5 * time.Second
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Backoff == nil {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval = time.Second
		b.RandomizationFactor = 0.5
		b.Multiplier = 2
		b.MaxInterval = 5 * time.Minute
		b.MaxElapsedTime = 0
		cfg.Backoff = b
	}
	cfg.Backoff.Reset()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{
		drive: d,
		cfg:   cfg,
		log:   log.With("component", "ofd-sender", "ofd", cfg.Addr),
		wake:  make(chan struct{}, 1),
	}
}

// Notify tells the sender a new document was signed, so it sends now rather
// than at the next poll. It never blocks; it does not cut a backoff short.
func (s *Sender) Notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Status is a snapshot of the sender's view of the OFD.
func (s *Sender) Status() SenderStatus {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.Delivered = s.delivered.Load()
	st.Refused = s.refused.Load()
	return st
}

// Run sends until ctx ends, then returns nil.
func (s *Sender) Run(ctx context.Context) error {
	if s.cfg.Addr == "" {
		return errors.New("ofd: sender has no OFD address")
	}
	for ctx.Err() == nil {
		n, err := s.batch(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			s.fail(err)
			d := s.cfg.Backoff.NextBackOff()
			if d == backoff.Stop {
				d = s.cfg.Idle
			}
			s.log.Warn("ofd exchange failed", "err", err, "delivered", n, "retry_in", d)
			sleep(ctx, d, nil)
		case n == 0:
			sleep(ctx, s.cfg.Idle, s.wake)
		}
	}
	return nil
}

// batch delivers the drive's queue over one connection, until the queue is
// empty for Linger or something fails, and says how many documents were delivered.
func (s *Sender) batch(ctx context.Context) (int, error) {
	msg, err := s.drive.NextMessage(ctx)
	if err != nil {
		return 0, fmt.Errorf("ofd: drive's next message: %w", err)
	}
	if msg == nil {
		return 0, nil
	}
	dialer := net.Dialer{Timeout: s.cfg.DialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		s.setReachable(false)
		return 0, fmt.Errorf("ofd: connecting: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	n := 0
	for msg != nil {
		drive, fd, ack, err := s.exchange(conn, msg)
		if err != nil {
			s.setReachable(false)
			return n, err
		}
		s.setReachable(true)
		// An ack names the FD it acknowledges, and a drive takes an ack as
		// acknowledging every earlier document too: an ack for another FD
		// than the one sent would either do nothing or mark documents the OFD
		// never had as delivered. It is not handed over. One whose header does
		// not parse is: the drive judges and refuses a corrupt ack itself.
		if a, err := ParseContainer(ack); err == nil && (a.FD != fd || a.DriveNumber != drive) {
			s.refused.Add(1)
			return n, fmt.Errorf("ofd: OFD acknowledged FD %d of drive %s for FD %d of drive %s", a.FD, a.DriveNumber, fd, drive)
		}
		if err := s.drive.Acknowledge(ctx, ack); err != nil {
			s.refused.Add(1)
			return n, fmt.Errorf("ofd: drive refused the OFD's acknowledgement: %w", err)
		}
		n++
		s.delivered.Add(1)
		s.cfg.Backoff.Reset()
		s.mu.Lock()
		s.status.LastError = ""
		s.mu.Unlock()
		if msg, err = s.drive.NextMessage(ctx); err != nil {
			return n, fmt.Errorf("ofd: drive's next message: %w", err)
		}
		if msg == nil {
			// Caught up: make the acknowledgements durable now rather than
			// with the drive's next document, whenever that comes.
			if err := s.drive.Sync(ctx); err != nil {
				return n, fmt.Errorf("ofd: drive's sync: %w", err)
			}
		}
		// Keep the connection a while for the next document.
		for end := time.Now().Add(s.cfg.Linger); msg == nil && time.Now().Before(end) && ctx.Err() == nil; {
			sleep(ctx, time.Until(end), s.wake)
			if msg, err = s.drive.NextMessage(ctx); err != nil {
				return n, fmt.Errorf("ofd: drive's next message: %w", err)
			}
		}
	}
	return n, nil
}

// exchange sends one container and returns its drive number and FD with the
// OFD's ack container.
func (s *Sender) exchange(conn net.Conn, msg []byte) (drive string, fd uint32, ack []byte, err error) {
	c, err := ParseContainer(msg)
	if err != nil {
		return "", 0, nil, fmt.Errorf("ofd: drive's message: %w", err)
	}
	out, err := AppendSession(make([]byte, 0, SessionHeaderLen+len(msg)), SessionHeader{
		AppVersion:  AppProtocolFFD105,
		DriveNumber: c.DriveNumber,
		Flags:       RegisterFlags,
	}, msg)
	if err != nil {
		return "", 0, nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
	if _, err := conn.Write(out); err != nil {
		return "", 0, nil, fmt.Errorf("ofd: sending FD %d: %w", c.FD, err)
	}
	conn.SetReadDeadline(time.Now().Add(s.cfg.IOTimeout))
	if _, ack, err = ReadMessage(conn); err != nil {
		return "", 0, nil, fmt.Errorf("ofd: answer to FD %d: %w", c.FD, err)
	}
	return c.DriveNumber, c.FD, ack, nil
}

func (s *Sender) setReachable(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Reachable = ok
	if ok {
		s.status.LastExchange = s.cfg.Clock()
	}
}

func (s *Sender) fail(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

// sleep waits d, or until wake fires or ctx ends.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
	}
}
