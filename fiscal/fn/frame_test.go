package fn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/openkassa/kassa/fiscal/fn"
)

func TestFrame(t *testing.T) {
	// 30h with no data, as FN-UART.md §1 gives it: LEN 01 00, the command,
	// CRC-16/CCITT-FALSE FF CD over 01 00 30.
	status, err := fn.AppendFrame(nil, 0x30, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x04, 0x01, 0x00, 0x30, 0xFF, 0xCD}; !bytes.Equal(status, want) {
		t.Fatalf("30h frame % x, want % x", status, want)
	}
	data := bytes.Repeat([]byte{0x04, 0xA5}, 600)
	big := frameOf(pattern(intsOf(append([]byte{0x07}, data...)))) // framed with the test's own CRC
	if enc, _ := fn.AppendFrame(nil, 0x07, data); !bytes.Equal(enc, big) {
		t.Fatalf("07h of %d bytes encoded with CRC % x, the bit-by-bit CRC gives % x", len(data), enc[len(enc)-2:], big[len(big)-2:])
	}
	corrupt := bytes.Clone(big)
	corrupt[100] ^= 1
	cases := []struct {
		name string
		in   []byte
		cmd  byte
		data []byte
		n    int
		err  error
	}{
		{"Status", status, 0x30, nil, 6, nil},
		{"Data", big, 0x07, data, len(big), nil},
		{"FollowedByMore", append(bytes.Clone(status), big...), 0x30, nil, 6, nil},
		{"Empty", nil, 0, nil, 0, fn.ErrIncomplete},
		{"HeaderOnly", status[:2], 0, nil, 0, fn.ErrIncomplete},
		{"Short", big[:len(big)-1], 0, nil, 0, fn.ErrIncomplete},
		{"Garbage", append([]byte("xyz"), status...), 0, nil, 3, fn.ErrFrame},
		{"AllGarbage", []byte("no start byte"), 0, nil, 13, fn.ErrFrame},
		{"ZeroLEN", []byte{0x04, 0x00, 0x00, 0x30, 0, 0}, 0, nil, 5, fn.ErrFrame},
		{"HugeLEN", []byte{0x04, 0xFF, 0xFF, 0x30}, 0, nil, 1, fn.ErrFrame},
		{"CRC", corrupt, 0, nil, len(big), fn.ErrFrameCRC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, n, err := fn.ParseRequest(tc.in)
			if !errors.Is(err, tc.err) || n != tc.n {
				t.Fatalf("ParseRequest: n %d err %v, want n %d err %v", n, err, tc.n, tc.err)
			}
			if err == nil && (r.Cmd != tc.cmd || !bytes.Equal(r.Data, tc.data)) {
				t.Fatalf("parsed %02x % x", r.Cmd, r.Data)
			}
		})
	}
	if _, err := fn.AppendFrame(nil, 0x07, make([]byte, fn.MaxFrameData+1)); err == nil {
		t.Fatal("oversized frame encoded")
	}
}

func TestAnswerErrors(t *testing.T) {
	// Error answers are the code alone (ruling 4); bit 7 set is the same code.
	// Frames with their CRCs as an outside CRC-16/CCITT-FALSE gives them.
	cases := []struct {
		frame []byte
		want  error
	}{
		{[]byte{0x04, 0x01, 0x00, 0x02, 0xEE, 0xDB}, fn.ErrState},
		{[]byte{0x04, 0x01, 0x00, 0x07, 0x4B, 0x8B}, fn.ErrBadTime},
		{[]byte{0x04, 0x01, 0x00, 0x87, 0xC3, 0x1A}, fn.ErrBadTime},
		{[]byte{0x04, 0x01, 0x00, 0x15, 0x38, 0xB9}, fn.ErrOFDBacklog},
		{[]byte{0x04, 0x01, 0x00, 0x16, 0x5B, 0x89}, fn.ErrShiftExpired},
		{[]byte{0x04, 0x01, 0x00, 0x03, 0xCF, 0xCB}, fn.ErrWrite},
		{[]byte{0x04, 0x01, 0x00, 0x20, 0xCE, 0xDF}, fn.ErrBadAck},
		// RS reads a reason byte after 20h: the code still rules.
		{[]byte{0x04, 0x02, 0x00, 0x20, 0x05, 0xEB, 0x3F}, fn.ErrBadAck},
	}
	for _, tc := range cases {
		a, n, err := fn.ParseAnswer(tc.frame)
		if err != nil || n != len(tc.frame) {
			t.Fatalf("% x: n %d, %v", tc.frame, n, err)
		}
		if got := a.Err(); !errors.Is(got, tc.want) {
			t.Fatalf("% x: %v, want %v", tc.frame, got, tc.want)
		}
	}
	// 00 with data: success.
	frame := []byte{0x04, 0x03, 0x00, 0x00, 0x01, 0x02, 0xAD, 0xEC}
	if a, _, err := fn.ParseAnswer(frame); err != nil || a.Err() != nil || a.Code != fn.CodeOK || !bytes.Equal(a.Data, []byte{1, 2}) {
		t.Fatalf("success answer: %+v %v", a, err)
	}
}

func TestIsFault(t *testing.T) {
	cases := []struct {
		err   error
		fault bool
	}{
		{nil, false},
		{fn.ErrWrite, true},
		{fn.ErrCrypto, true},
		{fn.ErrMemoryFull, true},
		{fn.ErrKeyExpired, true},
		{fn.ErrDriveClosed, true},
		{fn.ErrBadFormat, true},
		{fn.ErrTimeout, true},
		{fmt.Errorf("reading: %w", errors.New("port closed")), true},
		{&fn.Error{Code: fn.CodeCryptoResource}, true},
		{&fn.Error{Code: fn.CodeStorageResource}, true},
		{fn.ErrOFDBacklog, false},
		{fn.ErrShiftExpired, false},
		{fn.ErrShiftClosed, false},
		{fn.ErrShiftOpen, false},
		{fn.ErrNotRegistered, false},
		{fn.ErrBadTime, false},
		{fn.ErrBadParam, false},
		{fn.ErrTooBig, false},
		{fn.ErrNoDocument, false},
		{fn.ErrBadAck, false},
		{fn.ErrOFDRejected, false},
		{fmt.Errorf("receipt: %w", context.Canceled), false},
	}
	for _, tc := range cases {
		if got := fn.IsFault(fmt.Errorf("wrapped: %w", tc.err)); tc.err != nil && got != tc.fault {
			t.Errorf("IsFault(%v) = %v", tc.err, got)
		}
	}
	if fn.IsFault(nil) {
		t.Error("IsFault(nil)")
	}
}

// checkParse holds for both parsers: no panic, progress on every error but
// ErrIncomplete, and a parsed frame encodes back to the bytes it came from.
func checkParse(t *testing.T, b []byte, parse func([]byte) (byte, []byte, int, error)) {
	code, data, n, err := parse(b)
	switch {
	case errors.Is(err, fn.ErrIncomplete):
		if n != 0 {
			t.Fatalf("incomplete, yet %d bytes taken", n)
		}
	case err != nil:
		if n <= 0 || n > len(b) {
			t.Fatalf("error %v took %d of %d bytes", err, n, len(b))
		}
	default:
		if n > len(b) || len(data) > fn.MaxFrameData {
			t.Fatalf("frame of %d bytes from %d", n, len(b))
		}
		again, err := fn.AppendFrame(nil, code, data)
		if err != nil || !bytes.Equal(again, b[:n]) {
			t.Fatalf("frame % x encodes back as % x (%v)", b[:n], again, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	seed, _ := fn.AppendFrame(nil, 0x16, []byte{26, 11, 22, 12, 24, 1, 0xC6, 0x07, 0, 0, 0})
	f.Add(seed)
	f.Add([]byte{0x04, 0x01, 0x00})
	f.Add(append([]byte("junk"), seed...))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParse(t, b, func(b []byte) (byte, []byte, int, error) {
			r, n, err := fn.ParseRequest(b)
			return r.Cmd, r.Data, n, err
		})
	})
}

func FuzzParseAnswer(f *testing.F) {
	ok, _ := fn.AppendFrame(nil, 0x00, []byte{1, 0, 3, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 1, 0})
	refused := []byte{0x04, 0x01, 0x00, 0x82, 0x66, 0x4A}
	f.Add(ok)
	f.Add(refused)
	f.Add([]byte{0x04, 0xFF, 0xFF, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) {
		var raw byte
		checkParse(t, b, func(b []byte) (byte, []byte, int, error) {
			a, n, err := fn.ParseAnswer(b)
			if err == nil {
				raw = b[3]
				_ = a.Err() // must not panic on any reason or message
			}
			return raw, a.Data, n, err
		})
	})
}
