package fn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// readTimeouter is a serial port (board.Port): Read returns 0, nil once the timeout passes.
type readTimeouter interface {
	SetReadTimeout(time.Duration) error
}

// readDeadliner is a file or a connection with deadlines.
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// pollSlice is how often a waiting reader looks at its context.
const pollSlice = 100 * time.Millisecond

// frameReader reads frames from a byte stream, dropping garbage with a log line
// that says which byte at which stream offset.
type frameReader struct {
	r    io.Reader
	log  *slog.Logger
	buf  []byte
	off  int64 // stream offset of buf[0]
	side string
	// interByte, when set, is how long a frame begun may wait for its next
	// byte; then it is dropped and the reader looks for the next start byte.
	interByte time.Duration
	lastByte  time.Time
}

// next returns the next frame's byte and a copy of its data. A CRC mismatch is
// returned (the frame dropped) so the caller can ask for it again; garbage is
// skipped. With a zero deadline the read blocks until ctx is done or a frame comes.
func (fr *frameReader) next(ctx context.Context, deadline time.Time) (byte, []byte, error) {
	chunk := make([]byte, 512)
	for {
		code, data, n, err := parseFrame(fr.buf)
		switch {
		case err == nil:
			out := append([]byte(nil), data...)
			fr.drop(n)
			return code, out, nil
		case errors.Is(err, ErrFrameCRC), errors.Is(err, errEmptyFrame):
			fr.log.Warn("fn: frame dropped", "side", fr.side, "offset", fr.off, "err", err)
			fr.drop(n)
			return 0, nil, fmt.Errorf("stream offset %d: %w", fr.off, err)
		case !errors.Is(err, ErrIncomplete):
			fr.log.Warn("fn: garbage skipped", "side", fr.side, "offset", fr.off, "byte", fmt.Sprintf("%02x", fr.buf[0]), "err", err)
			fr.drop(n)
			continue
		}
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		wait := pollSlice
		if fr.interByte > 0 && len(fr.buf) > 0 {
			left := fr.interByte - time.Since(fr.lastByte)
			if left <= 0 {
				fr.log.Warn("fn: frame cut short dropped", "side", fr.side, "offset", fr.off, "bytes", len(fr.buf), "waited", fr.interByte)
				fr.drop(1) // the start byte: what follows is searched for the next one
				continue
			}
			wait = min(wait, left)
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return 0, nil, ErrTimeout
			}
			wait = min(wait, left)
		}
		if err := fr.setWait(wait); err != nil {
			return 0, nil, fmt.Errorf("fn: setting read timeout: %w", err)
		}
		k, err := fr.r.Read(chunk)
		fr.buf = append(fr.buf, chunk[:k]...)
		if k > 0 {
			fr.lastByte = time.Now()
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil, fmt.Errorf("fn: reading at stream offset %d: %w", fr.off+int64(len(fr.buf)), err)
		}
	}
}

func (fr *frameReader) setWait(d time.Duration) error {
	switch r := fr.r.(type) {
	case readTimeouter:
		return r.SetReadTimeout(d)
	case readDeadliner:
		return r.SetReadDeadline(time.Now().Add(d))
	}
	return nil // a plain reader blocks; only ctx-less callers should hand one in
}

// discard drops whatever is buffered or arrives within quiet, so a late
// answer is not taken for the answer to the next command.
func (fr *frameReader) discard(quiet time.Duration) {
	dropped := len(fr.buf)
	fr.drop(len(fr.buf))
	switch fr.r.(type) {
	case readTimeouter, readDeadliner:
		chunk := make([]byte, 512)
		for fr.setWait(quiet) == nil {
			k, err := fr.r.Read(chunk)
			fr.off += int64(k)
			dropped += k
			if k == 0 || err != nil {
				break
			}
		}
	}
	if dropped > 0 {
		fr.log.Warn("fn: stale bytes dropped", "side", fr.side, "bytes", dropped)
	}
}

func (fr *frameReader) drop(n int) {
	fr.buf = fr.buf[:copy(fr.buf, fr.buf[n:])]
	fr.off += int64(n)
}
