package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Conditions a caller acts on.
var (
	ErrNotReady = errors.New("printer: not ready")         // paper out, cover open, offline or in error
	ErrTimeout  = errors.New("printer: no answer in time") // a status query went unanswered
	ErrClosed   = errors.New("printer: connection closed")
)

// Options tune a Printer.
type Options struct {
	Timeout time.Duration // for each status reply and each block written; default 2 s
	Logger  *slog.Logger  // default discards
}

// writeBlock is how much of a job goes out between checks of the context.
const writeBlock = 512

// Printer talks ESC/POS to one printer over a byte stream: a serial port, a pty
// or the emulator's pipe. One exchange runs at a time.
type Printer struct {
	rw      io.ReadWriter
	profile Profile
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex // one exchange at a time
	start   sync.Once
	replies chan byte
	readErr error // set before replies closes
}

// New wraps rw. Replies are read by a goroutine that runs until rw's Read
// fails: close the port to end it.
func New(rw io.ReadWriter, p Profile, opts Options) *Printer {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Printer{rw: rw, profile: p, timeout: opts.Timeout, log: opts.Logger, replies: make(chan byte, 64)}
}

// Profile is the profile the printer was opened with.
func (pr *Printer) Profile() Profile { return pr.profile }

// reader moves reply bytes to the channel, so that a reply can be awaited with
// a timeout on any io.Reader. A port whose read timeout passes returns 0, nil: it
// is read again.
func (pr *Printer) reader() {
	buf := make([]byte, 64)
	for {
		n, err := pr.rw.Read(buf)
		for _, b := range buf[:n] {
			pr.replies <- b
		}
		if err != nil {
			pr.readErr = err
			close(pr.replies)
			return
		}
	}
}

// Status asks DLE EOT 1, 2, 3 and 4 and parses the replies.
func (pr *Printer) Status(ctx context.Context) (Status, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.status(ctx)
}

func (pr *Printer) status(ctx context.Context) (Status, error) {
	pr.start.Do(func() { go pr.reader() })
	// Bytes left over from a reply that came too late belong to no question.
	for drained := false; !drained; {
		select {
		case _, ok := <-pr.replies:
			if !ok {
				return Status{}, fmt.Errorf("%w: %v", ErrClosed, pr.readErr)
			}
		default:
			drained = true
		}
	}
	var r [4]byte
	for i := range r {
		n := byte(i + 1)
		if err := pr.write(ctx, []byte{DLE, EOT, n}); err != nil {
			return Status{}, fmt.Errorf("printer: DLE EOT %d: %w", n, err)
		}
		t := time.NewTimer(pr.timeout)
		select {
		case b, ok := <-pr.replies:
			t.Stop()
			if !ok {
				return Status{}, fmt.Errorf("printer: DLE EOT %d: %w: %v", n, ErrClosed, pr.readErr)
			}
			r[i] = b
		case <-t.C:
			return Status{}, fmt.Errorf("printer: DLE EOT %d: %w (%s)", n, ErrTimeout, pr.timeout)
		case <-ctx.Done():
			t.Stop()
			return Status{}, fmt.Errorf("printer: DLE EOT %d: %w", n, ctx.Err())
		}
	}
	return ParseStatus(r)
}

// Print sends one job (from Page.ESCPOS). It asks the status first and refuses
// to start on a printer that is not ready, and asks again once the job is out:
// a printer that ran out of paper or opened its cover on the way has not
// printed it, and that is an error wrapping ErrNotReady.
func (pr *Printer) Print(ctx context.Context, job []byte) error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	st, err := pr.status(ctx)
	if err != nil {
		return fmt.Errorf("printer: before printing: %w", err)
	}
	if !st.Ready() {
		return fmt.Errorf("%w: %s", ErrNotReady, st)
	}
	if err := pr.write(ctx, job); err != nil {
		return fmt.Errorf("printer: sending a job of %d bytes: %w", len(job), err)
	}
	if st, err = pr.status(ctx); err != nil {
		return fmt.Errorf("printer: after printing: %w", err)
	}
	if !st.Ready() {
		return fmt.Errorf("%w: the job did not complete: %s", ErrNotReady, st)
	}
	pr.log.Debug("printed", "bytes", len(job), "status", st.String())
	return nil
}

// KickDrawer opens the cash drawer (ESC p, pin 2).
func (pr *Printer) KickDrawer(ctx context.Context) error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if err := pr.write(ctx, DrawerKick); err != nil {
		return fmt.Errorf("printer: drawer kick: %w", err)
	}
	return nil
}

// write sends b in blocks, checking ctx between them; a stream with write
// deadlines (a pty, a pipe) gets one per block, so a stalled printer times out.
func (pr *Printer) write(ctx context.Context, b []byte) error {
	dl, hasDeadline := pr.rw.(interface{ SetWriteDeadline(time.Time) error })
	for len(b) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(b), writeBlock)
		if hasDeadline {
			// A stream that cannot take deadlines still writes; only the timeout is lost.
			_ = dl.SetWriteDeadline(time.Now().Add(pr.timeout))
		}
		w, err := pr.rw.Write(b[:n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("%w: writing (%s)", ErrTimeout, pr.timeout)
			}
			return err
		}
		b = b[w:]
	}
	return nil
}
