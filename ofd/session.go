package ofd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/openkassa/kassa/fiscal"
)

// SessionHeaderLen is the size of the session header that precedes each container on TCP.
const SessionHeaderLen = 30

var (
	sessionSignature = [4]byte{0x2A, 0x08, 0x41, 0x0A}
	sessionVersion   = [2]byte{0x81, 0xA2}
)

// Session header flags.
const (
	CRCNone            = 0
	CRCHeader          = 1
	CRCHeaderContainer = 2
	FlagContainer      = 1 << 2
	FlagAnswerExpected = 1 << 4
	// RegisterFlags are what registers send: a container follows, an answer is expected, no CRC.
	RegisterFlags = FlagContainer | FlagAnswerExpected
)

// AppProtocolFFD105 is the application protocol version for FFD 1.05.
const AppProtocolFFD105 = 0x0105

// SessionHeader precedes every container on the FN–OFD TCP connection.
//
// Layout (FFD105.md, "FN–OFD transport"): 0 signature 2A 08 41 0A · 4 session
// version 81 A2 · 6 application version (big-endian: 01 05) · 8 drive number (16
// ASCII digits) · 24 container length u16 LE · 26 flags u16 LE · 28 CRC u16 LE.
// Checked against the reference: the offsets were right; corrected were that
// the session version was never checked, CRC mode 3 (undefined) and a non-zero
// CRC in mode 0 were accepted, drive numbers were not checked for digits, and a
// container longer than the 16-bit length field was silently truncated.
type SessionHeader struct {
	AppVersion   uint16 // 0x0105 for FFD 1.05
	DriveNumber  string // 16 ASCII digits
	ContainerLen uint16
	Flags        uint16
}

// AppendSession encodes the header for container onto dst, computing the CRC the
// flags ask for, then appends the container itself. h.ContainerLen is ignored:
// the length written is len(container).
func AppendSession(dst []byte, h SessionHeader, container []byte) ([]byte, error) {
	if err := checkDigits(h.DriveNumber); err != nil {
		return dst, fmt.Errorf("ofd: session drive number: %w", err)
	}
	if len(container) > 0xFFFF {
		return dst, fmt.Errorf("ofd: container of %d bytes does not fit the session length field", len(container))
	}
	if h.Flags&3 == 3 {
		return dst, fmt.Errorf("ofd: session flags %04x: CRC mode 3 is undefined", h.Flags)
	}
	start := len(dst)
	dst = append(dst, sessionSignature[:]...)
	dst = append(dst, sessionVersion[:]...)
	dst = append(dst, byte(h.AppVersion>>8), byte(h.AppVersion))
	dst = append(dst, h.DriveNumber...)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(container)))
	dst = binary.LittleEndian.AppendUint16(dst, h.Flags)
	var crc uint16
	switch h.Flags & 3 {
	case CRCHeader:
		crc = fiscal.CRC16(0xFFFF, dst[start:])
	case CRCHeaderContainer:
		crc = fiscal.CRC16(fiscal.CRC16(0xFFFF, dst[start:]), container)
	}
	dst = binary.LittleEndian.AppendUint16(dst, crc)
	return append(dst, container...), nil
}

// ParseSession decodes a 30-byte session header. With CRC mode 2 the container's
// bytes are needed to check it: pass them in container; with container nil the
// check is left to the caller (ReadMessage does it once the container is read).
func ParseSession(b []byte, container []byte) (SessionHeader, error) {
	var h SessionHeader
	if len(b) < SessionHeaderLen {
		return h, fmt.Errorf("%w: session header of %d bytes, want %d", ErrContainer, len(b), SessionHeaderLen)
	}
	if [4]byte(b[:4]) != sessionSignature {
		return h, fmt.Errorf("%w: session signature % x at offset 0", ErrContainer, b[:4])
	}
	if [2]byte(b[4:6]) != sessionVersion {
		return h, fmt.Errorf("%w: session version % x at offset 4, want % x", ErrContainer, b[4:6], sessionVersion)
	}
	h.AppVersion = uint16(b[6])<<8 | uint16(b[7])
	h.DriveNumber = string(b[8:24])
	if err := checkDigits(h.DriveNumber); err != nil {
		return h, fmt.Errorf("%w: drive number at offset 8: %w", ErrContainer, err)
	}
	h.ContainerLen = binary.LittleEndian.Uint16(b[24:])
	h.Flags = binary.LittleEndian.Uint16(b[26:])
	got := binary.LittleEndian.Uint16(b[28:])
	switch h.Flags & 3 {
	case CRCNone:
		if got != 0 {
			return h, fmt.Errorf("%w: session CRC %04x at offset 28 in mode 0, want 0000", ErrContainer, got)
		}
	case CRCHeader:
		if want := fiscal.CRC16(0xFFFF, b[:28]); want != got {
			return h, fmt.Errorf("%w: session CRC %04x, computed %04x", ErrContainer, got, want)
		}
	case CRCHeaderContainer:
		if container == nil {
			return h, nil
		}
		if want := fiscal.CRC16(fiscal.CRC16(0xFFFF, b[:28]), container); want != got {
			return h, fmt.Errorf("%w: session CRC %04x over header and container, computed %04x", ErrContainer, got, want)
		}
	default:
		return h, fmt.Errorf("%w: session flags %04x at offset 26: CRC mode 3 is undefined", ErrContainer, h.Flags)
	}
	return h, nil
}

// MaxContainerLen is the largest container ReadMessage takes: what the 16-bit
// length fields can state. A peer can make ReadMessage allocate no more.
const MaxContainerLen = 0xFFFF

// ReadMessage reads one message off a stream: the session header, then the
// container it announces, checking the session CRC in every mode. A header that
// announces no container or one shorter than a container's fixed parts is
// refused before anything more is read. The container is returned unparsed.
func ReadMessage(r io.Reader) (SessionHeader, []byte, error) {
	var hb [SessionHeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return SessionHeader{}, nil, fmt.Errorf("ofd: reading session header: %w", err)
	}
	h, err := ParseSession(hb[:], nil)
	if err != nil {
		return h, nil, err
	}
	if h.Flags&FlagContainer == 0 {
		return h, nil, fmt.Errorf("%w: session flags %04x announce no container", ErrContainer, h.Flags)
	}
	n := int(h.ContainerLen)
	if n < ContainerHeaderLen+MessageSignLen || n > MaxContainerLen {
		return h, nil, fmt.Errorf("%w: session announces a container of %d bytes", ErrContainer, n)
	}
	container := make([]byte, n)
	if _, err := io.ReadFull(r, container); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, fmt.Errorf("ofd: reading container of %d bytes: %w", n, err)
	}
	if h.Flags&3 == CRCHeaderContainer {
		if _, err := ParseSession(hb[:], container); err != nil {
			return h, nil, err
		}
	}
	return h, container, nil
}

func checkDigits(s string) error {
	if len(s) != 16 {
		return fmt.Errorf("%q: want 16 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%q: byte %d is not a digit", s, i)
		}
	}
	return nil
}
