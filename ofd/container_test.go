package ofd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal"
)

// The vectors below were derived by hand from FFD105.md ("FN–OFD transport"),
// with the CRCs computed by an independent CRC-16/CCITT-FALSE implementation
// (check value 29B1 over "123456789").

const (
	vecDrive = "9999078900001234"
	// A receipt (tag 3) holding only 1040 = 5.
	vecDocument  = "03 00 08 00 10 04 04 00 05 00 00 00"
	vecContainer = "34 00 9a 62" + // length 52, CRC
		" a5 03 01 00 00" + // message type, document type, version, service data
		" 99 99 07 89 00 00 12 34" + // drive number, BCD
		" 01 23 45" + // FD 0x012345, big-endian
		" 00 00 00 00 00 00 00 00 00 00 00 00" + // service data
		" " + vecDocument +
		" 01 02 03 04 05 06 07 08" // ФПС
	vecSessionPrefix = "2a 08 41 0a 81 a2 01 05" +
		" 39 39 39 39 30 37 38 39 30 30 30 30 31 32 33 34" + // drive number, ASCII
		" 34 00" // container length 52
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestContainerVector(t *testing.T) {
	want := unhex(t, vecContainer)
	c := Container{
		MessageType: MessageTypeFiscal,
		DocType:     fiscal.DocReceipt,
		DriveNumber: vecDrive,
		FD:          0x012345,
		Document:    unhex(t, vecDocument),
		Sign:        [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
	}
	got, err := c.Append([]byte{0xEE})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 0xEE || !bytes.Equal(got[1:], want) {
		t.Fatalf("Append:\n got % x\nwant % x", got[1:], want)
	}
	p, err := ParseContainer(want)
	if err != nil {
		t.Fatal(err)
	}
	if p.MessageType != 0xA5 || p.DocType != fiscal.DocReceipt || p.DriveNumber != vecDrive || p.FD != 0x012345 ||
		!bytes.Equal(p.Document, c.Document) || p.Sign != c.Sign {
		t.Fatalf("ParseContainer = %+v", p)
	}
}

func TestContainerServiceDataSurvives(t *testing.T) {
	b := unhex(t, vecContainer)
	b[7], b[8], b[25] = 0xAB, 0xCD, 0x77
	fixCRC(b)
	c, err := ParseContainer(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("re-encoded\n % x\nfrom\n % x", out, b)
	}
}

func fixCRC(b []byte) {
	crc := fiscal.CRC16(fiscal.CRC16(0xFFFF, b[:2]), b[4:])
	b[2], b[3] = byte(crc), byte(crc>>8)
}

func TestParseContainerErrors(t *testing.T) {
	good := unhex(t, vecContainer)
	cases := []struct {
		name  string
		edit  func(b []byte) []byte
		crcOK bool // recompute the CRC after the edit
		want  string
	}{
		{"short", func(b []byte) []byte { return b[:39] }, false, "at least 40"},
		{"length field", func(b []byte) []byte { b[0]++; return b }, false, "length field 53"},
		{"trailing byte", func(b []byte) []byte { return append(b, 0) }, false, "53 bytes given"},
		{"crc", func(b []byte) []byte { b[40] ^= 1; return b }, false, "CRC"},
		{"version", func(b []byte) []byte { b[6] = 2; return b }, true, "version 2 at offset 6"},
		{"bcd nibble", func(b []byte) []byte { b[12] = 0x8A; return b }, true, "drive number at offset 9: byte 3 is 8a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(bytes.Clone(good))
			if tc.crcOK {
				fixCRC(b)
			}
			_, err := ParseContainer(b)
			if !errors.Is(err, ErrContainer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrContainer saying %q", err, tc.want)
			}
		})
	}
}

func TestContainerAppendErrors(t *testing.T) {
	cases := []struct {
		name string
		c    Container
		want string
	}{
		{"short drive number", Container{DriveNumber: "123"}, "16 digits"},
		{"letters in drive number", Container{DriveNumber: "99990789000012a4"}, "16 digits"},
		{"FD too big", Container{DriveNumber: vecDrive, FD: 1 << 24}, "3 bytes"},
		{"doc type too big", Container{DriveNumber: vecDrive, DocType: 256}, "does not fit a byte"},
		{"too long", Container{DriveNumber: vecDrive, Document: make([]byte, 0xFFFF)}, "too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.c.Append(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSessionVectors(t *testing.T) {
	container := unhex(t, vecContainer)
	cases := []struct {
		flags uint16
		tail  string // flags and CRC
	}{
		{RegisterFlags, "14 00 00 00"},
		{RegisterFlags | CRCHeader, "15 00 c5 d6"},
		{RegisterFlags | CRCHeaderContainer, "16 00 82 fe"},
	}
	for _, tc := range cases {
		want := append(unhex(t, vecSessionPrefix+tc.tail), container...)
		got, err := AppendSession(nil, SessionHeader{AppVersion: AppProtocolFFD105, DriveNumber: vecDrive, Flags: tc.flags}, container)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("flags %04x:\n got % x\nwant % x", tc.flags, got[:30], want[:30])
		}
		h, err := ParseSession(want[:30], container)
		if err != nil {
			t.Fatalf("flags %04x: %v", tc.flags, err)
		}
		if h != (SessionHeader{AppVersion: 0x0105, DriveNumber: vecDrive, ContainerLen: 52, Flags: tc.flags}) {
			t.Fatalf("flags %04x: parsed %+v", tc.flags, h)
		}
		rh, rc, err := ReadMessage(bytes.NewReader(want))
		if err != nil || rh != h || !bytes.Equal(rc, container) {
			t.Fatalf("flags %04x: ReadMessage = %+v, % x, %v", tc.flags, rh, rc, err)
		}
	}
}

func TestParseSessionErrors(t *testing.T) {
	container := unhex(t, vecContainer)
	good, err := AppendSession(nil, SessionHeader{AppVersion: AppProtocolFFD105, DriveNumber: vecDrive, Flags: RegisterFlags | CRCHeaderContainer}, container)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		at   int
		set  byte
		want string
	}{
		{"signature", 1, 0x09, "signature"},
		{"session version", 5, 0xA3, "session version"},
		{"drive number", 10, 'x', "drive number at offset 8"},
		{"crc mode 3", 26, 0x17, "CRC mode 3"},
		{"crc", 28, 0, "computed"},
		{"container under crc", 40, 0xFF, "over header and container"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			b[tc.at] = tc.set
			_, _, err := ReadMessage(bytes.NewReader(b))
			if !errors.Is(err, ErrContainer) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrContainer saying %q", err, tc.want)
			}
		})
	}
	t.Run("mode 0 with a crc", func(t *testing.T) {
		b := unhex(t, vecSessionPrefix+"14 00 01 00")
		if _, err := ParseSession(b, nil); !errors.Is(err, ErrContainer) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReadMessageLimits(t *testing.T) {
	container := unhex(t, vecContainer)
	msg, err := AppendSession(nil, SessionHeader{AppVersion: AppProtocolFFD105, DriveNumber: vecDrive, Flags: RegisterFlags}, container)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("truncated container", func(t *testing.T) {
		_, _, err := ReadMessage(bytes.NewReader(msg[:len(msg)-1]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want unexpected EOF", err)
		}
	})
	t.Run("truncated header", func(t *testing.T) {
		_, _, err := ReadMessage(bytes.NewReader(msg[:29]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want unexpected EOF", err)
		}
	})
	t.Run("clean end", func(t *testing.T) {
		if _, _, err := ReadMessage(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v, want EOF", err)
		}
	})
	t.Run("no container flag", func(t *testing.T) {
		b := bytes.Clone(msg)
		b[26] = FlagAnswerExpected
		if _, _, err := ReadMessage(bytes.NewReader(b)); !errors.Is(err, ErrContainer) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too short to be a container", func(t *testing.T) {
		b := bytes.Clone(msg)
		b[24], b[25] = 39, 0
		if _, _, err := ReadMessage(bytes.NewReader(b)); !errors.Is(err, ErrContainer) || !strings.Contains(err.Error(), "39 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("two in a row", func(t *testing.T) {
		r := bytes.NewReader(append(bytes.Clone(msg), msg...))
		for i := range 2 {
			if _, c, err := ReadMessage(r); err != nil || !bytes.Equal(c, container) {
				t.Fatalf("message %d: %v", i, err)
			}
		}
	})
}

func FuzzParseContainer(f *testing.F) {
	f.Add(unhex(f, vecContainer))
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseContainer(b)
		if err != nil {
			return
		}
		out, err := c.Append(nil)
		if err != nil {
			t.Fatalf("accepted container does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded\n % x\nfrom\n % x", out, b)
		}
	})
}

func FuzzParseSession(f *testing.F) {
	container := unhex(f, vecContainer)
	for _, flags := range []uint16{RegisterFlags, RegisterFlags | CRCHeader, RegisterFlags | CRCHeaderContainer, FlagContainer} {
		msg, err := AppendSession(nil, SessionHeader{AppVersion: AppProtocolFFD105, DriveNumber: vecDrive, Flags: flags}, container)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, c, err := ReadMessage(bytes.NewReader(b))
		if err != nil {
			return
		}
		if int(h.ContainerLen) != len(c) {
			t.Fatalf("container of %d bytes, header says %d", len(c), h.ContainerLen)
		}
		out, err := AppendSession(nil, h, c)
		if err != nil {
			t.Fatalf("accepted header does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b[:len(out)]) {
			t.Fatalf("re-encoded\n % x\nfrom\n % x", out, b[:len(out)])
		}
	})
}
