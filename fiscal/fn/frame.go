package fn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// Frame layout of the drive exchange, both directions: 0x04, LEN (u16 LE, the
// command or answer byte plus data), the byte, data, CRC-16/CCITT-FALSE (u16 LE)
// over LEN, the byte and data.
const (
	frameStart = 0x04
	// MaxFrameData bounds a frame's data. Published commands carry at most 1024
	// bytes of TLV; the bound leaves room for an acknowledgement container and
	// lets a reader reject a garbage LEN without waiting for 64 KiB.
	MaxFrameData = 4096
	// MaxChunk is the most TLV one 07h command carries.
	MaxChunk = 1024
)

var (
	// ErrIncomplete reports a buffer that ends inside a frame: read more.
	ErrIncomplete = errors.New("fn: incomplete frame")
	// ErrFrameCRC reports a frame whose CRC does not match; it wraps ErrFrame.
	ErrFrameCRC = fmt.Errorf("%w: CRC mismatch", ErrFrame)
)

// Request is a command frame, register to drive.
type Request struct {
	Cmd  byte
	Data []byte
}

// Answer is an answer frame, drive to register. An error answer is its code
// alone (FN-UART.md ruling 4).
type Answer struct {
	Code Code
	Data []byte
}

// AppendFrame encodes one frame with command or answer byte code onto dst.
func AppendFrame(dst []byte, code byte, data []byte) ([]byte, error) {
	if len(data) > MaxFrameData {
		return dst, fmt.Errorf("fn: frame %s: %d data bytes, at most %d", hex2(code), len(data), MaxFrameData)
	}
	dst = append(dst, frameStart)
	start := len(dst)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(1+len(data)))
	dst = append(dst, code)
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint16(dst, fiscal.CRC16(0xFFFF, dst[start:])), nil
}

// parseFrame reads the frame at the start of b and returns its byte, its data
// (aliasing b) and how many bytes of b it took. With an error, n says how many
// bytes to drop before trying again: the garbage before the next start byte, a
// lone start byte under an impossible LEN, or the whole frame on a CRC mismatch;
// with ErrIncomplete, n is 0.
func parseFrame(b []byte) (code byte, data []byte, n int, err error) {
	if len(b) == 0 {
		return 0, nil, 0, ErrIncomplete
	}
	if b[0] != frameStart {
		i := 1
		for i < len(b) && b[i] != frameStart {
			i++
		}
		return 0, nil, i, fmt.Errorf("%w: %d bytes of garbage, first %02x, before a start byte", ErrFrame, i, b[0])
	}
	if len(b) < 3 {
		return 0, nil, 0, ErrIncomplete
	}
	l := int(binary.LittleEndian.Uint16(b[1:]))
	if l > 1+MaxFrameData {
		return 0, nil, 1, fmt.Errorf("%w: LEN %d at offset 1", ErrFrame, l)
	}
	total := 3 + l + 2
	if len(b) < total {
		return 0, nil, 0, ErrIncomplete
	}
	if l == 0 { // no command byte: the drive answers 01h (ruling 10)
		return 0, nil, total, fmt.Errorf("%w: LEN 0 at offset 1: %w", ErrFrame, errEmptyFrame)
	}
	want := binary.LittleEndian.Uint16(b[3+l:])
	if got := fiscal.CRC16(0xFFFF, b[1:3+l]); got != want {
		return 0, nil, total, fmt.Errorf("%w: frame %s carries CRC %04x, computed %04x, at offset %d", ErrFrameCRC, hex2(b[3]), want, got, 3+l)
	}
	return b[3], b[4 : 3+l : 3+l], total, nil
}

// ParseRequest parses the command frame at the start of b; see parseFrame for n.
func ParseRequest(b []byte) (Request, int, error) {
	c, d, n, err := parseFrame(b)
	return Request{Cmd: c, Data: d}, n, err
}

// ParseAnswer parses the answer frame at the start of b; see parseFrame for n.
// Bit 7 of the answer code is masked off, as drivers do.
func ParseAnswer(b []byte) (Answer, int, error) {
	c, d, n, err := parseFrame(b)
	if err != nil {
		return Answer{}, n, err
	}
	return Answer{Code: Code(c & 0x7F), Data: d}, n, nil
}

// Err is the error an answer carries, nil for success: the plain sentinel of
// its code. Data after an error code (RS's reason byte after 20h) is ignored.
func (a Answer) Err() error {
	if a.Code == CodeOK {
		return nil
	}
	return sentinelFor(a.Code)
}

// errorCode is the answer code err carries; an error that is not the drive's
// refusal is a drive failure, 03h.
func errorCode(err error) Code {
	var e *Error
	if !errors.As(err, &e) {
		return CodeDrive
	}
	return e.Code
}

// Dates inside commands: 5 bytes YY MM DD hh mm of the wall clock; all zero for no date.
func appendDate(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0, 0, 0, 0, 0)
	}
	t = wallMinute(t)
	return append(dst, byte(t.Year()-2000), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()))
}

// appendDate3 is a date of 3 bytes, YY MM DD.
func appendDate3(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, 0, 0, 0)
	}
	t = wallMinute(t)
	return append(dst, byte(t.Year()-2000), byte(t.Month()), byte(t.Day()))
}

func parseDate3(b []byte) (time.Time, error) {
	if len(b) < 3 {
		return time.Time{}, fmt.Errorf("date of %d bytes, want 3", len(b))
	}
	if b[0]|b[1]|b[2] == 0 {
		return time.Time{}, nil
	}
	if b[0] > 99 || b[1] < 1 || b[1] > 12 || b[2] < 1 || b[2] > 31 {
		return time.Time{}, fmt.Errorf("date % x out of range", b[:3])
	}
	return time.Date(2000+int(b[0]), time.Month(b[1]), int(b[2]), 0, 0, 0, 0, time.UTC), nil
}

func parseDate(b []byte) (time.Time, error) {
	if len(b) < 5 {
		return time.Time{}, fmt.Errorf("date of %d bytes, want 5", len(b))
	}
	if b[0]|b[1]|b[2]|b[3]|b[4] == 0 {
		return time.Time{}, nil
	}
	if b[0] > 99 || b[1] < 1 || b[1] > 12 || b[2] < 1 || b[2] > 31 || b[3] > 23 || b[4] > 59 {
		return time.Time{}, fmt.Errorf("date % x out of range", b[:5])
	}
	return time.Date(2000+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), 0, 0, time.UTC), nil
}
