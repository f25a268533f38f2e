package fn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
)

// t0 is the register's wall clock at the start of each scenario.
var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

const regNumber = "0000000001012345    "

// faults are the emulator's fault injections, reached in-process or over the UART.
type faults interface {
	FailNextWrites(n int)
	SetMemoryFull(bool)
	ExpireKey()
	SetSignDelay(time.Duration)
}

// fixture is one drive under test.
type fixture struct {
	drive  fn.Drive
	faults faults
	key    []byte
	number string
}

type driveFactory func(t *testing.T, cfg fn.EmulatorConfig) fixture

func openEmulator(t *testing.T, cfg fn.EmulatorConfig) *fn.Emulator {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	e, err := fn.NewEmulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Check(); err != nil {
			t.Errorf("drive file invariants: %v", err)
		}
		e.Close()
	})
	return e
}

func inProcess(t *testing.T, cfg fn.EmulatorConfig) fixture {
	e := openEmulator(t, cfg)
	return fixture{drive: e, faults: e, key: e.Key(), number: e.DriveNumber()}
}

// overUART serves the emulator on a pty and reaches it with the Client over
// the real serial code path.
func overUART(t *testing.T, cfg fn.EmulatorConfig) fixture {
	e := openEmulator(t, cfg)
	c, _ := serveOnPTY(t, e, nil, fn.ClientOptions{Timeout: 5 * time.Second})
	return fixture{drive: c, faults: clientFaults{t, c}, key: e.Key(), number: e.DriveNumber()}
}

// serveOnPTY serves e on a fresh pty, through wrap when given (a line fault),
// and returns a client on the pty's serial port.
func serveOnPTY(t *testing.T, e *fn.Emulator, wrap func(rw ptyRW) ptyRW, opts fn.ClientOptions) (*fn.Client, board.Port) {
	t.Helper()
	p, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	port := openPort(t, p.Path)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		if wrap == nil {
			err = fn.Serve(ctx, p.Master(), e)
		} else {
			err = fn.Serve(ctx, wrap(p.Master()), e)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		port.Close()
		p.Close()
	})
	return fn.NewClient(port, opts), port
}

func openPort(t testing.TB, path string) board.Port {
	t.Helper()
	port, err := board.OpenSerial(board.SerialConfig{Path: path, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	return port
}

type ptyRW = interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetReadDeadline(time.Time) error
}

type clientFaults struct {
	t *testing.T
	c *fn.Client
}

func (f clientFaults) FailNextWrites(n int) { f.check(f.c.FailNextWrites(context.Background(), n)) }
func (f clientFaults) SetMemoryFull(b bool) { f.check(f.c.SetMemoryFull(context.Background(), b)) }
func (f clientFaults) ExpireKey()           { f.check(f.c.ExpireKey(context.Background())) }
func (f clientFaults) SetSignDelay(d time.Duration) {
	f.check(f.c.SetSignDelay(context.Background(), d))
}
func (f clientFaults) check(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// tb is what the document builders need of a test; the power-cut child has its own.
type tb interface {
	Helper()
	Fatal(args ...any)
}

func str(t tb, dst []byte, tag fiscal.Tag, s string) []byte {
	t.Helper()
	out, err := fiscal.AppendString(dst, tag, s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func registrationTLV(t tb, rn string) []byte {
	b := str(t, nil, 1000, "ОТЧЕТ О РЕГИСТРАЦИИ")
	b = str(t, b, 1048, "ООО Ромашка")
	b = str(t, b, 1018, "7707083893  ")
	b = str(t, b, 1037, rn)
	b = fiscal.AppendByte(b, 1062, 2)
	return fiscal.AppendByte(b, 1209, 2)
}

func reportTLV(t tb, name string) []byte {
	b := str(t, nil, 1000, name)
	b = str(t, b, 1048, "ООО Ромашка")
	return fiscal.AppendByte(b, 1209, 2)
}

func receipt(t tb, at time.Time, total uint64) fn.ReceiptDoc {
	b := str(t, nil, 1000, "КАССОВЫЙ ЧЕК")
	b = fiscal.AppendByte(b, 1054, byte(fiscal.Income))
	b = fiscal.AppendByte(b, 1055, 2)
	b = fiscal.AppendVLN(b, 1020, total)
	b, m := fiscal.BeginSTLV(b, 1059)
	b = str(t, b, 1030, "Чайник")
	b = fiscal.AppendVLN(b, 1079, total)
	b = fiscal.AppendFVLN(b, 1023, 1, 0)
	b = fiscal.AppendVLN(b, 1043, total)
	b = fiscal.EndSTLV(b, m)
	b = fiscal.AppendVLN(b, 1031, 0)
	b = fiscal.AppendVLN(b, 1081, total)
	return fn.ReceiptDoc{Time: at, Sign: fiscal.Income, Total: total, TLV: b}
}

// ackFor builds the OFD's acknowledgement container exactly as ofd/sim does.
func ackFor(t tb, ofdKey []byte, drive string, fd uint32, code byte, at time.Time) []byte {
	t.Helper()
	v := str(t, nil, 1017, "7704358518  ")
	v = fiscal.AppendTLV(v, 1041, []byte(drive))
	v = fiscal.AppendUint32(v, 1040, fd)
	v = fiscal.AppendTime(v, 1012, at)
	v, m := fiscal.BeginSTLV(v, 1068)
	v = fiscal.AppendByte(v, 1022, code)
	v = fiscal.EndSTLV(v, m)
	v = fiscal.AppendTLV(v, 1078, fiscal.OperatorSign(ofdKey, v))
	doc := fiscal.AppendTLV(nil, fiscal.DocOperatorAck, v)
	c := ofd.Container{MessageType: ofd.MessageTypeFiscal, DocType: fiscal.DocOperatorAck, DriveNumber: drive, FD: fd,
		Document: doc, Sign: fiscal.MessageSign(ofdKey, doc)}
	out, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// acknowledgements is how a drive gives the OFD's acknowledgement it keeps of
// a document (41h): the emulator in process and the client alike.
type acknowledgements interface {
	Acknowledgement(ctx context.Context, fd uint32) ([]byte, error)
}

// ackDocument is the acknowledgement's STLV 7 as its container carries it.
func ackDocument(t testing.TB, ack []byte) []byte {
	t.Helper()
	c, err := ofd.ParseContainer(ack)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(c.Document)
}

// elements maps the tags of a document STLV to their values (the last of each).
func elements(t testing.TB, doc []byte) (fiscal.Tag, map[fiscal.Tag][]byte) {
	t.Helper()
	d, _, err := fiscal.NextElement(doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	els, err := fiscal.SplitElements(d.Value)
	if err != nil {
		t.Fatal(err)
	}
	m := map[fiscal.Tag][]byte{}
	for _, e := range els {
		m[e.Tag] = e.Value
	}
	return d.Tag, m
}

func u32(v []byte) uint32 {
	if len(v) != 4 {
		return 0xFFFFFFFF
	}
	return binary.LittleEndian.Uint32(v)
}

// must(x, err).ok(t) is x, or the test's end on err.
func must[T any](v T, err error) result[T] { return result[T]{v, err} }

type result[T any] struct {
	v   T
	err error
}

func (r result[T]) ok(t testing.TB) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func wantErr(t testing.TB, err, want error, fault bool) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if fn.IsFault(err) != fault {
		t.Fatalf("IsFault(%v) = %v, want %v", err, !fault, fault)
	}
}
