package fn_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal/fn"
)

// line sits on the pty between the drive and the wire and spoils chosen
// writes, as a noisy cable would.
type line struct {
	ptyRW
	mu     sync.Mutex
	writes int
	spoil  func(n int, b []byte) []byte // n counts writes from 1
}

func (l *line) Write(b []byte) (int, error) {
	l.mu.Lock()
	l.writes++
	out := l.spoil(l.writes, bytes.Clone(b))
	l.mu.Unlock()
	if _, err := l.ptyRW.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// noisyPort spoils the register's writes the same way.
type noisyPort struct {
	board.Port
	l *line
}

func (p noisyPort) Write(b []byte) (int, error) {
	p.l.mu.Lock()
	p.l.writes++
	out := p.l.spoil(p.l.writes, bytes.Clone(b))
	p.l.mu.Unlock()
	if _, err := p.Port.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// shiftOpen is an emulated drive registered with shift 1 open, in-process.
func shiftOpen(t *testing.T, cfg fn.EmulatorConfig) *fn.Emulator {
	e := openEmulator(t, cfg)
	ctx := context.Background()
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "open")})).ok(t)
	return e
}

func flipLast(b []byte) []byte { b[len(b)-3] ^= 0x40; return b }

func TestLineFaults(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		answer func(n int, b []byte) []byte // spoils the drive's answers
		ask    func(n int, b []byte) []byte // spoils the register's commands
	}{
		{"GarbageBeforeAnswers", func(n int, b []byte) []byte {
			return append([]byte{0xFF, 0x00, 0x13, 0x04, 0xFF, 0xFF, 0x37}, b...)
		}, nil},
		{"CorruptAnswerToFinish", func(n int, b []byte) []byte {
			if n == 4 { // 30h (the client learns the last FD), 15h, 07h, then the 16h answer
				return flipLast(b)
			}
			return b
		}, nil},
		{"CorruptAnswerToData", func(n int, b []byte) []byte {
			if n == 3 { // the 07h answer: the drive may have the chunk, so the document begins again
				return flipLast(b)
			}
			return b
		}, nil},
		{"CorruptCommand", nil, func(n int, b []byte) []byte {
			if n == 2 || n == 4 { // 15h and 16h arrive spoiled; the drive answers 01h and they are sent again
				return flipLast(b)
			}
			return b
		}},
		{"AnswerInPieces", func(n int, b []byte) []byte {
			return append(append([]byte{0x04, 0xFF, 0xFF}, b...), 0x04) // a bad LEN, then a frame, then a stray start byte
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := shiftOpen(t, fn.EmulatorConfig{})
			keep := func(n int, b []byte) []byte { return b }
			answers, asks := &line{spoil: keep}, &line{spoil: keep}
			if tc.answer != nil {
				answers.spoil = tc.answer
			}
			if tc.ask != nil {
				asks.spoil = tc.ask
			}
			_, port := serveOnPTY(t, e, func(rw ptyRW) ptyRW { answers.ptyRW = rw; return answers }, fn.ClientOptions{})
			c := fn.NewClient(noisyPort{port, asks}, fn.ClientOptions{Timeout: 2 * time.Second})
			r := receipt(t, t0.Add(time.Minute), 4200)
			s, err := c.Receipt(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if s.FD != 3 || s.Number != 1 {
				t.Fatalf("signed %+v, want FD 3 number 1", s)
			}
			a := must(c.Document(ctx, 3)).ok(t)
			if bytes.Count(a.TLV, r.TLV) != 1 || len(a.TLV) > len(r.TLV)+80 {
				t.Fatalf("archived receipt of %d bytes does not hold the register's %d bytes once", len(a.TLV), len(r.TLV))
			}
			// The exchange is in step: the next document and the state agree.
			if s := must(c.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 1))).ok(t); s.FD != 4 || s.Number != 2 {
				t.Fatalf("next receipt %+v, want FD 4 number 2", s)
			}
			if st := must(c.State(ctx)).ok(t); st.LastFD != 4 || st.DriveNumber != e.DriveNumber() {
				t.Fatalf("state %+v", st)
			}
		})
	}
}

func TestSigningSlowerThanTimeout(t *testing.T) {
	ctx := context.Background()
	e := shiftOpen(t, fn.EmulatorConfig{SignDelay: 500 * time.Millisecond})
	c, _ := serveOnPTY(t, e, nil, fn.ClientOptions{Timeout: 200 * time.Millisecond, SignTimeout: 200 * time.Millisecond, Retries: 4})
	s := must(c.Receipt(ctx, receipt(t, t0.Add(time.Minute), 1))).ok(t)
	e.SetSignDelay(0)
	if s.FD != 3 {
		t.Fatalf("signed FD %d, want 3", s.FD)
	}
	if s := must(c.Receipt(ctx, receipt(t, t0.Add(time.Minute), 1))).ok(t); s.FD != 4 {
		t.Fatalf("next receipt FD %d, want 4: a repeated finish signed twice or answers are out of step", s.FD)
	}
	if st := must(c.State(ctx)).ok(t); st.LastFD != 4 {
		t.Fatalf("drive's last FD %d, want 4", st.LastFD)
	}
}

func TestSilentDrive(t *testing.T) {
	p, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	port, err := board.OpenSerial(board.SerialConfig{Path: p.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	c := fn.NewClient(port, fn.ClientOptions{Timeout: 150 * time.Millisecond, Retries: 1})
	start := time.Now()
	_, err = c.State(context.Background())
	took := time.Since(start)
	if !errors.Is(err, fn.ErrTimeout) || !fn.IsFault(err) {
		t.Fatalf("silent drive: %v", err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("two attempts of 150 ms took %v", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c = fn.NewClient(port, fn.ClientOptions{Timeout: time.Hour})
	if _, err := c.State(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestServeStops(t *testing.T) {
	e := openEmulator(t, fn.EmulatorConfig{})
	p, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn.Serve(ctx, p.Master(), e) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("serve ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("serve did not stop with its context")
	}
}
