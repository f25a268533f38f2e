package fn_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal/fn"
)

// step is one golden exchange: a request (command byte and data) and the
// answer (code and data). raw, when set, is sent as it is instead of a framed
// request, after pause; an empty ans expects no answer at all.
type step struct {
	name  string
	req   string
	ans   string
	raw   []byte
	pause time.Duration
	// replay: the answer must equal the previous answer byte for byte.
	replay bool
}

// Dates of the script, date5 (YY MM DD hh mm), and their 1012 (unixtime LE).
const (
	d0900 = "1A 0B 16 09 00" // 2026-11-22 09:00
	d0901 = "1A 0B 16 09 01"
	d0902 = "1A 0B 16 09 02"
	d0903 = "1A 0B 16 09 03"
	d0904 = "1A 0B 16 09 04"
	d0905 = "1A 0B 16 09 05"
	u0902 = "88 AF 02 6B" // 1012 of 2026-11-22 09:02 UTC wall clock
)

// ackNoCrypto is an acknowledgement of FD 1 as an OFD without the fiscal
// crypto sends it, byte by byte: the container header, then STLV 7 with its
// tags in an order of that OFD's own, no 1078 and no trailing sign. Its CRC
// (bytes 2–3) is filled in by ackFrame.
var ackNoCrypto = "61 00 ?? ??" + // length 97, CRC
	" A5 07 01 00 00" + // message type, document type 7, version 1, service data
	" 99 99 07 89 00 00 43 12" + // drive number, BCD
	" 00 00 01" + // FD 1, big-endian
	" 00 00 00 00 00 00 00 00 00 00 00 00" + // service data
	" 07 00 3D 00" + // STLV 7, 61 bytes
	" 10 04 04 00 01 00 00 00" + // 1040 FD 1
	" 11 04 10 00 " + gNumber + // 1041
	" F9 03 0C 00 '7704358518  '" + // 1017 OFD INN
	" 2C 04 05 00 FE 03 01 00 00" + // 1068 { 1022 = 0 }
	" F4 03 04 00 " + u0902 // 1012

// ackWithMessage acknowledges FD 2 the same way, and its 1068 carries an
// operator's message (1069) beside 1022.
var ackWithMessage = "67 00 ?? ??" + // length 103, CRC
	" A5 07 01 00 00 99 99 07 89 00 00 43 12 00 00 02 00 00 00 00 00 00 00 00 00 00 00 00" +
	" 07 00 43 00" + // STLV 7, 67 bytes
	" F9 03 0C 00 '7704358518  '" + // 1017
	" 11 04 10 00 " + gNumber + // 1041
	" 10 04 04 00 02 00 00 00" + // 1040 FD 2
	" F4 03 04 00 " + u0902 + // 1012
	" 2C 04 0B 00 FE 03 01 00 00 2D 04 02 00 'OK'" // 1068 { 1022 = 0, 1069 "OK" }

// ackCommand is 26h's request body with the acknowledgement's CRC computed.
func ackCommand() string { return ackCommandOf(ackNoCrypto) }

func ackCommandOf(ack string) string {
	c := pat(ack).bytesOf(0)
	crc := crcCCITT(append(append([]byte(nil), c[:2]...), c[4:]...))
	c[2], c[3] = byte(crc), byte(crc>>8)
	return "26 " + pattern(intsOf(c)).String()
}

func intsOf(b []byte) []int {
	out := make([]int, len(b))
	for i, x := range b {
		out[i] = int(x)
	}
	return out
}

// emulatorScript is a drive's life from setup to its closing, command by
// command, as FN-UART.md §3–§6 and its rulings (§8) lay the bytes out.
func emulatorScript() []step {
	fresh := "00 01 00 00 00 00 00 00 00 00 00 " + gNumber + " 00 00 00 00"
	return []step{
		{name: "30h fresh", req: "30", ans: fresh},
		{name: "31h", req: "31", ans: "00 " + gNumber},
		{name: "32h fresh: no date, 12 registrations left, 0 done", req: "32", ans: "00 00 00 00 0C 00"},
		{name: "33h", req: "33", ans: "00 'kassa-emu 1.05  ' 01"},
		{name: "35h", req: "35", ans: "00"},
		{name: "35h with a block number", req: "35 00", ans: "00"},
		{name: "10h before registration: 02h", req: "10", ans: "02"},
		{name: "11h before registration: 02h", req: "11 " + d0900, ans: "02"},
		{name: "22h with nothing unsent: 08h", req: "22", ans: "08"},
		{name: "40h of no document: 08h", req: "40 01 00 00 00", ans: "08"},
		{name: "43h before registration: 08h", req: "43", ans: "08"},
		{name: "60h is no command here: 01h", req: "60", ans: "01"},
		{name: "21h with a 4-byte flag", req: "21 01 00 00 00", ans: "00"},

		{name: "02h kind 0", req: "02 00", ans: "00"},
		{name: "30h registration begun, no data yet", req: "30", ans: "00 01 01 00 00 00 00 00 00 00 00 " + gNumber + " 00 00 00 00"},
		{name: "07h 1048", req: "07 " + gUser, ans: "00"},
		{name: "30h data received", req: "30", ans: "00 01 01 01 00 00 00 00 00 00 00 " + gNumber + " 00 00 00 00"},
		{name: "03h one byte short: 01h, the document kept", req: "03 " + d0900 + " " + gINN + " " + gRegNo + " 01", ans: "01"},
		{name: "03h: INN, number, tax 01, modes automatic+internet", req: "03 " + d0900 + " " + gINN + " " + gRegNo + " 01 24", ans: "00 01 00 00 00 ?? ?? ?? ??"},
		{name: "30h registered", req: "30", ans: "00 03 00 00 00 00 " + d0900 + " " + gNumber + " 01 00 00 00"},
		{name: "32h: valid to 2029-11-22, 11 left, 1 done", req: "32", ans: "00 1D 0B 16 0B 01"},
		{name: "43h", req: "43", ans: "00 " + d0900 + " " + gINN + " " + gRegNo + " 01 24 01 00 00 00 ?? ?? ?? ??"},
		{name: "44h 1037 written from 03h", req: "44 0D 04", ans: "00 0D 04 10 00 '0000000001012345'"},
		{name: "44h 1018 written from 03h", req: "44 FA 03", ans: "00 FA 03 0C 00 " + gINN},
		{name: "44h 1062 written from 03h", req: "44 26 04", ans: "00 26 04 01 00 01"},
		{name: "44h 1001 from modes bit 2", req: "44 E9 03", ans: "00 E9 03 01 00 01"},
		{name: "44h 1108 from modes bit 5", req: "44 54 04", ans: "00 54 04 01 00 01"},
		{name: "44h 1056: bit 0 not set, no tag", req: "44 20 04", ans: "08"},
		{name: "40h registration (47)", req: "40 01 00 00 00", ans: "00 01 00 " + d0900 + " 01 00 00 00 ?? ?? ?? ?? " + gINN + " " + gRegNo + " 01 24"},
		{name: "02h when registered: 02h", req: "02", ans: "02"},

		{name: "11h", req: "11 " + d0901, ans: "00"},
		{name: "11h again while begun: 02h", req: "11 " + d0901, ans: "02"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "12h with data: 01h, the document kept", req: "12 00", ans: "01"},
		{name: "12h", req: "12", ans: "00 01 00 02 00 00 00 ?? ?? ?? ??"},
		{name: "10h shift 1 open", req: "10", ans: "00 01 01 00 00 00"},
		{name: "11h with the shift open: 02h", req: "11 " + d0901, ans: "02"},

		{name: "15h", req: "15 " + d0902, ans: "00"},
		{name: "30h receipt begun", req: "30", ans: "00 03 04 00 01 00 " + d0901 + " " + gNumber + " 02 00 00 00"},
		{name: "07h 1055", req: "07 1F 04 01 00 01", ans: "00"},
		{name: "07h empty: 01h", req: "07", ans: "01"},
		{name: "16h of 9 bytes: 01h, the receipt kept", req: "16 " + d0902 + " 01 10 A4", ans: "01"},
		{name: "16h: income, 420.00", req: "16 " + d0902 + " 01 10 A4 00 00 00", ans: "00 01 00 03 00 00 00 ?? ?? ?? ??"},
		{name: "16h again at once: the same answer, nothing signed", req: "16 " + d0902 + " 01 10 A4 00 00 00", ans: "00 01 00 03 00 00 00 ?? ?? ?? ??", replay: true},
		{name: "30h: the last FD is 3", req: "30", ans: "00 03 00 00 01 00 " + d0902 + " " + gNumber + " 03 00 00 00"},
		{name: "16h after another command: 02h, not the old answer", req: "16 " + d0902 + " 01 10 A4 00 00 00", ans: "02"},
		{name: "15h with month 13: 01h", req: "15 1A 0D 16 09 02", ans: "01"},
		{name: "16h after a refused 15h: 02h", req: "16 " + d0902 + " 01 10 A4 00 00 00", ans: "02"},
		{name: "40h receipt (19): sign 1, total 42000", req: "40 03 00 00 00", ans: "00 03 00 " + d0902 + " 03 00 00 00 ?? ?? ?? ?? 01 10 A4 00 00 00"},
		{name: "45h: type 3, 78 bytes", req: "45 03 00 00 00", ans: "00 03 00 4E 00"},
		{name: "46h 1055 from 07h", req: "46", ans: "00 1F 04 01 00 01"},
		{name: "46h 1054 from 16h", req: "46", ans: "00 1E 04 01 00 01"},
		{name: "46h 1020 from 16h", req: "46", ans: "00 FC 03 02 00 10 A4"},
		{name: "46h 1040", req: "46", ans: "00 10 04 04 00 03 00 00 00"},
		{name: "46h 1041", req: "46", ans: "00 11 04 10 00 " + gNumber},
		{name: "46h 1012", req: "46", ans: "00 F4 03 04 00 " + u0902},
		{name: "46h 1038", req: "46", ans: "00 0E 04 04 00 01 00 00 00"},
		{name: "46h 1042", req: "46", ans: "00 12 04 04 00 01 00 00 00"},
		{name: "46h 1077", req: "46", ans: "00 35 04 06 00 00 00 ?? ?? ?? ??"},
		{name: "46h past the end: 08h", req: "46", ans: "08"},
		{name: "42h: 3 unacknowledged", req: "42", ans: "00 03 00"},
		{name: "20h: transport up, 3 unsent from FD 1", req: "20", ans: "00 03 00 03 00 01 00 00 00 " + d0900},
		{name: "21h down", req: "21 00", ans: "00"},
		{name: "23h before 22h: 02h", req: "23 00 00 04 00", ans: "02"},
		{name: "22h: FD 1's container, 153 bytes", req: "22", ans: "00 99 00"},
		{name: "20h: reading begun", req: "20", ans: "00 02 01 03 00 01 00 00 00 " + d0900},
		{name: "23h: its length and CRC, type A5, document 1", req: "23 00 00 06 00", ans: "00 99 00 ?? ?? A5 01"},
		{name: "25h", req: "25", ans: "00"},
		{name: "20h: waiting for the OFD's receipt", req: "20", ans: "00 06 00 03 00 01 00 00 00 " + d0900},
		{name: "26h: an acknowledgement without 1078 or sign", req: ackCommand(), ans: "00 00"},
		{name: "20h: 2 unsent from FD 2", req: "20", ans: "00 02 00 02 00 02 00 00 00 " + d0901},
		{name: "26h: the code, then the operator's message", req: ackCommandOf(ackWithMessage), ans: "00 00 2C 04 0B 00 FE 03 01 00 00 2D 04 02 00 'OK'"},
		{name: "20h: 1 unsent from FD 3", req: "20", ans: "00 02 00 01 00 03 00 00 00 " + d0902},
		{name: "40h FD 1 acknowledged", req: "40 01 00 00 00", ans: "00 01 01 " + d0900 + " 01 00 00 00 ?? ?? ?? ?? " + gINN + " " + gRegNo + " 01 24"},
		{name: "41h FD 2: its acknowledgement's STLV 7 as the OFD sent it", req: "41 02 00 00 00", ans: "00 " + ackWithMessage[strings.Index(ackWithMessage, "07 00 43 00"):]},
		{name: "41h FD 1, acknowledged before FD 2: its own", req: "41 01 00 00 00", ans: "00 " + ackNoCrypto[strings.Index(ackNoCrypto, "07 00 3D 00"):]},
		{name: "41h FD 3, unacknowledged: 08h", req: "41 03 00 00 00", ans: "08"},

		{name: "13h", req: "13 " + d0903, ans: "00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "14h", req: "14", ans: "00 01 00 04 00 00 00 ?? ?? ?? ??"},
		{name: "15h with the shift closed: 02h", req: "15 " + d0903, ans: "02"},
		{name: "40h shift close (15)", req: "40 04 00 00 00", ans: "00 05 00 " + d0903 + " 04 00 00 00 ?? ?? ?? ?? 01 00"},
		{name: "18h", req: "18 " + d0904, ans: "00"},
		{name: "19h", req: "19", ans: "00 05 00 00 00 ?? ?? ?? ??"},
		{name: "40h state report (20): 2 unsent since 2026-11-22", req: "40 05 00 00 00", ans: "00 15 00 " + d0904 + " 05 00 00 00 ?? ?? ?? ?? 02 00 00 00 1A 0B 16"},
		{name: "04h", req: "04", ans: "00"},
		{name: "30h drive close begun", req: "30", ans: "00 03 10 00 00 00 " + d0904 + " " + gNumber + " 05 00 00 00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "05h: its registration number space-padded", req: "05 " + d0905 + " " + gRegNo, ans: "00 06 00 00 00 ?? ?? ?? ??"},
		{name: "30h closed", req: "30", ans: "00 07 00 00 00 00 " + d0905 + " " + gNumber + " 06 00 00 00"},
		{name: "40h drive close (45)", req: "40 06 00 00 00", ans: "00 06 00 " + d0905 + " 06 00 00 00 ?? ?? ?? ?? '            ' " + gRegNo},
		{name: "11h with the drive closed: 02h", req: "11 " + d0905, ans: "02"},
		{name: "10h with the drive closed: 02h", req: "10", ans: "02"},

		{name: "LEN 0: 01h", raw: []byte{0x04, 0x00, 0x00, 0x0F, 0x1D}, ans: "01"}, // CRC of 00 00 is 1D0Fh
		{name: "bad CRC: 01h", raw: []byte{0x04, 0x01, 0x00, 0x30, 0xFF, 0xCE}, ans: "01"},
		// A 30h right behind a frame cut short completes it: one bad frame, one 01h, and the drive is in step again.
		{name: "a frame cut short, a 30h at once: 01h", raw: []byte{0x04, 0x05, 0x00, 0x40, 0x01, 0x04, 0x01, 0x00, 0x30, 0xFF, 0xCD}, ans: "01"},
		{name: "30h after it", req: "30", ans: "00 07 00 00 00 00 " + d0905 + " " + gNumber + " 06 00 00 00"},
		{name: "a frame cut short gets no answer", raw: []byte{0x04, 0x05, 0x00, 0x40, 0x01}},
		{name: "30h 600 ms later is answered", pause: 600 * time.Millisecond, req: "30", ans: "00 07 00 00 00 00 " + d0905 + " " + gNumber + " 06 00 00 00"},
	}
}

// TestGoldenEmulator speaks the script to the emulated drive over a pty, as a
// public FN client does, and holds every answer to its golden bytes.
func TestGoldenEmulator(t *testing.T) {
	e := openEmulator(t, fn.EmulatorConfig{Key: []byte("golden drive key")})
	port := serveRaw(t, e)
	var prev []byte
	for _, s := range emulatorScript() {
		if s.pause > 0 {
			time.Sleep(s.pause)
		}
		frame := s.raw
		if frame == nil {
			frame = frameOf(pat(s.req))
		}
		if _, err := port.Write(frame); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.ans == "" {
			if got, err := readFrame(port, 200*time.Millisecond); err == nil {
				t.Fatalf("%s: answered % x", s.name, got)
			}
			continue
		}
		got := expectFrame(t, port, s.name, pat(s.ans))
		if s.replay && !bytes.Equal(got, prev) {
			t.Fatalf("%s: % x, the previous answer was % x", s.name, got, prev)
		}
		prev = bytes.Clone(got)
	}
}

// serveRaw serves e on a fresh pty and opens its other end as a serial port.
func serveRaw(t *testing.T, e *fn.Emulator) board.Port {
	t.Helper()
	p, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	port := openPort(t, p.Path)
	if err := port.SetReadTimeout(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := fn.Serve(ctx, p.Master(), e); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		port.Close()
		p.Close()
	})
	return port
}

// TestAckWithoutCrypto: the hand-built acknowledgement of an OFD without the
// fiscal crypto is taken where no OFD key is configured, and refused where
// the key is known.
func TestAckWithoutCrypto(t *testing.T) {
	ctx := context.Background()
	ack := pat(strings.TrimPrefix(ackCommand(), "26 ")).bytesOf(0)
	for _, tc := range []struct {
		name string
		key  []byte
		want error
	}{{"NoKey", nil, nil}, {"KeyKnown", []byte("ofd secret key"), fn.ErrBadAck}} {
		t.Run(tc.name, func(t *testing.T) {
			e := shiftOpen(t, fn.EmulatorConfig{OFDKey: tc.key})
			err := e.Acknowledge(ctx, ack)
			if !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Fatalf("acknowledgement: %v, want %v", err, tc.want)
			}
			st := must(e.State(ctx)).ok(t)
			if wantUnsent := map[bool]uint32{true: 1, false: 2}[tc.want == nil]; st.Unsent != wantUnsent {
				t.Fatalf("unsent %d after the acknowledgement, want %d", st.Unsent, wantUnsent)
			}
		})
	}
}
