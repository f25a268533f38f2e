package fn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal/fn"
)

// ackFD3 acknowledges FD 3 as ackNoCrypto does FD 1: container header, then
// STLV 7 (ack3Doc) with no 1078 and no trailing sign; its CRC is filled in by
// ackCommandOf.
var (
	ack3Doc = "07 00 3D 00" + // STLV 7, 61 bytes
		" 10 04 04 00 03 00 00 00" + // 1040 FD 3
		" 11 04 10 00 " + gNumber + // 1041
		" F9 03 0C 00 '7704358518  '" + // 1017 OFD INN
		" 2C 04 05 00 FE 03 01 00 00" + // 1068 { 1022 = 0 }
		" F4 03 04 00 " + u0902 // 1012
	ackFD3 = "61 00 ?? ?? A5 07 01 00 00 99 99 07 89 00 00 43 12 00 00 03" +
		" 00 00 00 00 00 00 00 00 00 00 00 00 " + ack3Doc
)

// stlvOf is the STLV 7 of a hand-written acknowledgement.
func stlvOf(ack string) string { return ack[strings.Index(ack, "07 00 "):] }

// TestGoldenAcknowledgements: 41h (FN-UART.md §6, Archive: request FD u32,
// answer the stored OFD receipt bytes; 08h "no data requested", §5) answers
// for every acknowledged document its own acknowledgement, here the STLV 7
// the OFD sent, and 08h for a document unacknowledged or not in the archive;
// so also after the drive was closed and opened again.
func TestGoldenAcknowledgements(t *testing.T) {
	dir := t.TempDir()
	cfg := fn.EmulatorConfig{Dir: dir, Key: []byte("golden drive key")}
	answers := []step{
		{name: "41h FD 1", req: "41 01 00 00 00", ans: "00 " + stlvOf(ackNoCrypto)},
		{name: "41h FD 2", req: "41 02 00 00 00", ans: "00 " + stlvOf(ackWithMessage)},
		{name: "41h FD 3", req: "41 03 00 00 00", ans: "00 " + ack3Doc},
		{name: "41h FD 4, not in the archive: 08h", req: "41 04 00 00 00", ans: "08"},
		{name: "41h FD 0: 08h", req: "41 00 00 00 00", ans: "08"},
		{name: "41h with 3 bytes: 01h", req: "41 01 00 00", ans: "01"},
	}
	script := append([]step{
		{name: "02h", req: "02 00", ans: "00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "03h", req: "03 " + d0900 + " " + gINN + " " + gRegNo + " 01 00", ans: "00 01 00 00 00 ?? ?? ?? ??"},
		{name: "11h", req: "11 " + d0901, ans: "00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "12h", req: "12", ans: "00 01 00 02 00 00 00 ?? ?? ?? ??"},
		{name: "15h", req: "15 " + d0902, ans: "00"},
		{name: "07h", req: "07 1F 04 01 00 01", ans: "00"},
		{name: "16h", req: "16 " + d0902 + " 01 10 A4 00 00 00", ans: "00 01 00 03 00 00 00 ?? ?? ?? ??"},
		{name: "41h FD 3, unacknowledged: 08h", req: "41 03 00 00 00", ans: "08"},
		{name: "26h FD 1", req: ackCommandOf(ackNoCrypto), ans: "00 00"},
		{name: "26h FD 2", req: ackCommandOf(ackWithMessage), ans: "00 00 2C 04 0B 00 FE 03 01 00 00 2D 04 02 00 'OK'"},
		{name: "41h FD 3, still unacknowledged: 08h", req: "41 03 00 00 00", ans: "08"},
		{name: "26h FD 3", req: ackCommandOf(ackFD3), ans: "00 00"},
	}, answers...)
	e, err := fn.NewEmulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	speak(t, e, script)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	speak(t, openEmulator(t, cfg), answers)
}

// speak serves e on a pty for the steps, and holds each answer to its golden bytes.
func speak(t *testing.T, e *fn.Emulator, steps []step) {
	t.Helper()
	port := serveRaw(t, e)
	for _, s := range steps {
		if _, err := port.Write(frameOf(pat(s.req))); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		expectFrame(t, port, s.name, pat(s.ans))
	}
}

// TestGoldenClientAcknowledgement: the client asks 41h with the FD and takes
// the drive's answer as it is; 08h is ErrNoDocument, and an empty answer is
// refused.
func TestGoldenClientAcknowledgement(t *testing.T) {
	ctx := context.Background()
	c, wait := scripted(t, fn.ClientOptions{},
		cstep{req: "41 01 00 00 00", ans: "00 " + stlvOf(ackNoCrypto)},
		cstep{req: "41 03 00 00 00", ans: "00 " + ack3Doc},
		cstep{req: "41 04 00 00 00", ans: "08"},
		cstep{req: "41 05 00 00 00", ans: "00"},
	)
	for _, fd := range []uint32{1, 3} {
		want := map[uint32]string{1: stlvOf(ackNoCrypto), 3: ack3Doc}[fd]
		if got := must(c.Acknowledgement(ctx, fd)).ok(t); !pat(want).match(got) {
			t.Fatalf("FD %d: % x, want %v", fd, got, pat(want))
		}
	}
	if got, err := c.Acknowledgement(ctx, 4); !errors.Is(err, fn.ErrNoDocument) {
		t.Fatalf("FD 4 answered 08h: % x, %v; want ErrNoDocument", got, err)
	}
	if got, err := c.Acknowledgement(ctx, 5); !errors.Is(err, fn.ErrFrame) {
		t.Fatalf("FD 5 answered with no bytes: % x, %v; want ErrFrame", got, err)
	}
	wait()
}
