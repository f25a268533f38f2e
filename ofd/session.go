package ofd

import (
	"encoding/binary"
	"fmt"

	"github.com/openkassa/kassa/fiscal"
)

// SessionHeaderLen is the size of the session header that precedes each container on TCP.
const SessionHeaderLen = 30

var sessionSignature = [4]byte{0x2A, 0x08, 0x41, 0x0A}

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
type SessionHeader struct {
	AppVersion   uint16 // 0x0105 for FFD 1.05
	DriveNumber  string // 16 ASCII digits
	ContainerLen uint16
	Flags        uint16
}

// AppendSession encodes the header for container onto dst, computing the CRC the
// flags ask for, then appends the container itself.
func AppendSession(dst []byte, h SessionHeader, container []byte) ([]byte, error) {
	if len(h.DriveNumber) != 16 {
		return dst, fmt.Errorf("ofd: session drive number %q: want 16 digits", h.DriveNumber)
	}
	start := len(dst)
	dst = append(dst, sessionSignature[:]...)
	dst = append(dst, 0x81, 0xA2, byte(h.AppVersion>>8), byte(h.AppVersion))
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
// bytes are needed to check it: pass them in container (nil otherwise).
func ParseSession(b []byte, container []byte) (SessionHeader, error) {
	var h SessionHeader
	if len(b) < SessionHeaderLen {
		return h, fmt.Errorf("%w: session header of %d bytes, want %d", ErrContainer, len(b), SessionHeaderLen)
	}
	if [4]byte(b[:4]) != sessionSignature {
		return h, fmt.Errorf("%w: session signature % x", ErrContainer, b[:4])
	}
	h.AppVersion = uint16(b[6])<<8 | uint16(b[7])
	h.DriveNumber = string(b[8:24])
	h.ContainerLen = binary.LittleEndian.Uint16(b[24:])
	h.Flags = binary.LittleEndian.Uint16(b[26:])
	got := binary.LittleEndian.Uint16(b[28:])
	switch h.Flags & 3 {
	case CRCHeader:
		if want := fiscal.CRC16(0xFFFF, b[:28]); want != got {
			return h, fmt.Errorf("%w: session CRC %04x, computed %04x", ErrContainer, got, want)
		}
	case CRCHeaderContainer:
		if container == nil {
			return h, nil // caller checks once the container is read
		}
		if want := fiscal.CRC16(fiscal.CRC16(0xFFFF, b[:28]), container); want != got {
			return h, fmt.Errorf("%w: session CRC %04x, computed %04x", ErrContainer, got, want)
		}
	}
	return h, nil
}
