package fn_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// Golden bytes are written by hand from FN-UART.md's tables in a small
// notation: hex bytes, "??" for a byte the test cannot know (a ФП, which only
// the drive's key gives), and 'text' for ASCII. Frames get their start byte,
// LEN and CRC from frameOf, with this file's own CRC (crcCCITT), itself held
// to outside vectors in TestGoldenCRC; never from the package's encoder.

// Fields that recur in the golden exchanges.
const (
	gNumber = `'9999078900004312'`     // drive number, 16 ASCII
	gINN    = `'7707083893  '`         // 1018 as 03h carries it: right-padded with spaces to 12
	gRegNo  = `'0000000001012345    '` // 1037 as 03h/05h/43h carry it: padded to 20
	gUser   = `18 04 08 00 'OOO Test'` // TLV 1048 (0418h), 8 bytes
)

// pattern is golden bytes; -1 matches any byte.
type pattern []int

func pat(s string) pattern {
	var out pattern
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		switch {
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				panic("unterminated text in " + s)
			}
			for _, b := range []byte(s[1 : 1+end]) {
				out = append(out, int(b))
			}
			s = s[end+2:]
		case strings.HasPrefix(s, "??"):
			out = append(out, -1)
			s = s[2:]
		default:
			b, err := hex.DecodeString(s[:2])
			if err != nil {
				panic(fmt.Sprintf("golden %q: %v", s, err))
			}
			out = append(out, int(b[0]))
			s = s[2:]
		}
	}
	return out
}

// bytesOf is a pattern with no wildcard as bytes; fill replaces wildcards.
func (p pattern) bytesOf(fill byte) []byte {
	out := make([]byte, len(p))
	for i, v := range p {
		if v < 0 {
			out[i] = fill
		} else {
			out[i] = byte(v)
		}
	}
	return out
}

func (p pattern) match(b []byte) bool {
	if len(b) != len(p) {
		return false
	}
	for i, v := range p {
		if v >= 0 && byte(v) != b[i] {
			return false
		}
	}
	return true
}

func (p pattern) String() string {
	var sb strings.Builder
	for i, v := range p {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if v < 0 {
			sb.WriteString("??")
		} else {
			fmt.Fprintf(&sb, "%02x", v)
		}
	}
	return sb.String()
}

// crcCCITT is CRC-16/CCITT-FALSE bit by bit: poly 1021h, init FFFFh.
func crcCCITT(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, x := range b {
		crc ^= uint16(x) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func TestGoldenCRC(t *testing.T) {
	// FN-UART.md §1: 30h is 04 01 00 30 FF CD. The catalogue check value of
	// CRC-16/CCITT-FALSE over "123456789" is 29B1h.
	if got := frameOf(pat("30")); !bytes.Equal(got, []byte{0x04, 0x01, 0x00, 0x30, 0xFF, 0xCD}) {
		t.Fatalf("30h framed % x", got)
	}
	if got := crcCCITT([]byte("123456789")); got != 0x29B1 {
		t.Fatalf("check value %04x", got)
	}
}

// frameOf frames a command or answer byte and its data: 04, LEN, body, CRC.
func frameOf(body pattern) []byte {
	b := body.bytesOf(0)
	out := []byte{0x04}
	out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
	out = append(out, b...)
	return binary.LittleEndian.AppendUint16(out, crcCCITT(out[1:]))
}

// readFrame reads one whole frame from r (a port with a read timeout) by the
// layout alone: skips to 04, reads LEN, then the body and the CRC, and checks
// the CRC; it returns the body (code and data).
func readFrame(r io.Reader, wait time.Duration) ([]byte, error) {
	deadline := time.Now().Add(wait)
	var buf []byte
	one := make([]byte, 256)
	for {
		if i := bytes.IndexByte(buf, 0x04); i > 0 {
			buf = buf[i:]
		} else if i < 0 {
			buf = buf[:0]
		}
		if len(buf) >= 3 {
			n := int(binary.LittleEndian.Uint16(buf[1:]))
			if len(buf) >= 3+n+2 {
				if want := binary.LittleEndian.Uint16(buf[3+n:]); crcCCITT(buf[1:3+n]) != want {
					return nil, fmt.Errorf("frame % x: CRC %04x does not match", buf[:3+n+2], want)
				}
				if len(buf) > 3+n+2 {
					return nil, fmt.Errorf("bytes after the frame: % x", buf[3+n+2:])
				}
				return buf[3 : 3+n], nil
			}
		}
		if time.Now().After(deadline) {
			if len(buf) == 0 {
				return nil, fmt.Errorf("no frame in %v", wait)
			}
			return nil, fmt.Errorf("partial frame % x after %v", buf, wait)
		}
		k, err := r.Read(one)
		if err != nil && k == 0 && !isTimeout(err) {
			return nil, err
		}
		buf = append(buf, one[:k]...)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return err == nil || (errorsAs(err, &te) && te.Timeout())
}

// expectFrame is readFrame with the body held to want.
func expectFrame(t *testing.T, r io.Reader, name string, want pattern) []byte {
	t.Helper()
	got, err := readFrame(r, 3*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !want.match(got) {
		t.Fatalf("%s:\n got  % x\n want %v", name, got, want)
	}
	return got
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
