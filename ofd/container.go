// Package ofd owns the FN–OFD transport: the drive's message container, the
// session header that wraps it on TCP, the sender loop that streams the drive's
// unsent documents to the OFD and hands the acknowledgements back into the drive,
// and (in ofd/sim) an OFD emulator. The register never builds or fakes a message
// or an acknowledgement itself: both come from and go to the drive.
package ofd

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/openkassa/kassa/fiscal"
)

// Container layout: a 32-byte header, the document's STLV, the 8-byte message sign.
const (
	ContainerHeaderLen = 32
	MessageSignLen     = 8
	// MessageTypeFiscal is the container's message type for a fiscal document.
	MessageTypeFiscal = 0xA5
	containerVersion  = 1
)

// ErrContainer reports a container or session header that does not parse or
// whose checksum fails.
var ErrContainer = errors.New("ofd: bad container")

// Container is the drive's message to (or the OFD's acknowledgement from) the OFD.
//
// Header layout (FFD105.md, "FN–OFD transport"): 0 length u16 LE · 2 CRC u16 LE ·
// 4 message type · 5 document type · 6 version · 7 service data (2) · 9 drive
// number (8 BCD) · 17 FD (3 BE) · 20 service data (12). Checked against the
// reference: the offsets were right; corrected were the service bytes, which
// were dropped on parsing and so did not survive a parse and re-encode (they are
// now kept), drive numbers with non-decimal BCD nibbles, which parsed into
// strings the encoder refuses, and document types above 255, which were
// silently truncated to their low byte.
type Container struct {
	MessageType byte
	DocType     fiscal.Tag // the document's own tag, one byte on the wire
	DriveNumber string     // 16 digits, BCD on the wire
	FD          uint32     // fiscal document number, 3 bytes big-endian on the wire
	Document    []byte     // the document's STLV, header included
	Sign        [MessageSignLen]byte
	// Unsigned leaves the message sign out: an OFD without the fiscal crypto
	// sends its acknowledgements so. ParseContainer reads signed ones only.
	Unsigned bool

	// service holds the two service-data fields as parsed (bytes 7–8 and
	// 20–31), so a parsed container re-encodes byte for byte; zero when built.
	service [14]byte
}

// Append encodes c onto dst.
func (c *Container) Append(dst []byte) ([]byte, error) {
	bcd, err := bcd16(c.DriveNumber)
	if err != nil {
		return dst, err
	}
	if c.DocType > 0xFF {
		return dst, fmt.Errorf("ofd: document type %d does not fit a byte", c.DocType)
	}
	if c.FD > 0xFFFFFF {
		return dst, fmt.Errorf("ofd: FD number %d does not fit 3 bytes", c.FD)
	}
	total := ContainerHeaderLen + len(c.Document)
	if !c.Unsigned {
		total += MessageSignLen
	}
	if total > 0xFFFF {
		return dst, fmt.Errorf("ofd: container of %d bytes is too long", total)
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(total))
	dst = append(dst, 0, 0) // CRC, filled below
	dst = append(dst, c.MessageType, byte(c.DocType), containerVersion)
	dst = append(dst, c.service[:2]...)
	dst = append(dst, bcd[:]...)
	dst = append(dst, byte(c.FD>>16), byte(c.FD>>8), byte(c.FD))
	dst = append(dst, c.service[2:]...)
	dst = append(dst, c.Document...)
	if !c.Unsigned {
		dst = append(dst, c.Sign[:]...)
	}
	crc := fiscal.CRC16(0xFFFF, dst[start:start+2])
	crc = fiscal.CRC16(crc, dst[start+4:])
	binary.LittleEndian.PutUint16(dst[start+2:], crc)
	return dst, nil
}

// ParseContainer decodes a container, checking its length and CRC. The document
// and sign alias b.
func ParseContainer(b []byte) (*Container, error) {
	if len(b) < ContainerHeaderLen+MessageSignLen {
		return nil, fmt.Errorf("%w: %d bytes, at least %d needed", ErrContainer, len(b), ContainerHeaderLen+MessageSignLen)
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n != len(b) {
		return nil, fmt.Errorf("%w: length field %d, %d bytes given", ErrContainer, n, len(b))
	}
	want := binary.LittleEndian.Uint16(b[2:])
	crc := fiscal.CRC16(0xFFFF, b[:2])
	if crc = fiscal.CRC16(crc, b[4:]); crc != want {
		return nil, fmt.Errorf("%w: CRC %04x, computed %04x", ErrContainer, want, crc)
	}
	if b[6] != containerVersion {
		return nil, fmt.Errorf("%w: version %d at offset 6", ErrContainer, b[6])
	}
	drive, err := unbcd(b[9:17])
	if err != nil {
		return nil, fmt.Errorf("%w: drive number at offset 9: %w", ErrContainer, err)
	}
	c := &Container{
		MessageType: b[4],
		DocType:     fiscal.Tag(b[5]),
		DriveNumber: drive,
		FD:          uint32(b[17])<<16 | uint32(b[18])<<8 | uint32(b[19]),
		Document:    b[ContainerHeaderLen : n-MessageSignLen],
	}
	copy(c.service[:2], b[7:9])
	copy(c.service[2:], b[20:32])
	copy(c.Sign[:], b[n-MessageSignLen:])
	return c, nil
}

func bcd16(digits string) ([8]byte, error) {
	var out [8]byte
	if len(digits) != 16 {
		return out, fmt.Errorf("ofd: drive number %q: want 16 digits", digits)
	}
	for i := 0; i < 16; i++ {
		d := digits[i]
		if d < '0' || d > '9' {
			return out, fmt.Errorf("ofd: drive number %q: want 16 digits", digits)
		}
		out[i/2] |= (d - '0') << (4 * (1 - i%2))
	}
	return out, nil
}

func unbcd(b []byte) (string, error) {
	out := make([]byte, 0, 2*len(b))
	for i, x := range b {
		if x>>4 > 9 || x&0x0F > 9 {
			return "", fmt.Errorf("byte %d is %02x, not two decimal digits", i, x)
		}
		out = append(out, '0'+x>>4, '0'+x&0x0F)
	}
	return string(out), nil
}
