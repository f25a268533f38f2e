package fn

import (
	"context"
	"errors"
	"fmt"
)

// Code is a drive answer code (FN-UART.md §5); 0 is success.
type Code byte

// Answer codes.
const (
	CodeOK              Code = 0x00
	CodeBadCommand      Code = 0x01 // unknown command or bad format
	CodeState           Code = 0x02 // wrong drive state
	CodeDrive           Code = 0x03 // drive (storage write) error
	CodeCrypto          Code = 0x04 // crypto coprocessor error
	CodeLifeEnded       Code = 0x05 // drive life ended
	CodeArchiveFull     Code = 0x06
	CodeBadTime         Code = 0x07
	CodeNoData          Code = 0x08
	CodeBadParam        Code = 0x09
	CodeTLVTooBig       Code = 0x10
	CodeNoTransport     Code = 0x11
	CodeCryptoResource  Code = 0x12
	CodeStorageResource Code = 0x14
	CodeOFDWait         Code = 0x15 // a message has waited for the OFD longer than allowed
	CodeShiftOver24h    Code = 0x16 // the shift is longer than allowed
	CodeOFDNotAccepted  Code = 0x20
)

// Error is a drive's refusal or failure: the answer code, and a reason that
// tells apart conditions sharing a code. Only the code travels in the UART
// exchange (an error answer is the code alone, FN-UART.md ruling 4); the
// client tells the conditions of one code apart by reading the drive's state,
// so it returns the same sentinel the emulator did.
type Error struct {
	Code   Code
	Reason byte
	text   string
}

func (e *Error) Error() string { return e.text }

// Is matches errors of the same code and reason, so a sentinel rebuilt on the
// far side of the UART is the same condition.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == e.Reason
}

// Sentinel errors callers act on. Each one wraps with the detail of the case.
var (
	ErrBadFormat     = &Error{CodeBadCommand, 0, "fn: unknown command or bad format (01h)"}
	ErrState         = &Error{CodeState, 0, "fn: wrong drive state (02h)"}
	ErrNotRegistered = &Error{CodeState, 1, "fn: drive not registered (02h)"}
	ErrShiftClosed   = &Error{CodeState, 2, "fn: shift closed (02h)"}
	ErrShiftOpen     = &Error{CodeState, 3, "fn: shift open (02h)"}
	ErrShiftExpired  = &Error{CodeShiftOver24h, 0, "fn: shift open longer than allowed, close it (16h)"}
	ErrWrite         = &Error{CodeDrive, 0, "fn: drive write failure (03h)"}
	ErrCrypto        = &Error{CodeCrypto, 0, "fn: crypto coprocessor error (04h)"}
	ErrKeyExpired    = &Error{CodeLifeEnded, 0, "fn: key validity ended (05h)"}
	ErrDriveClosed   = &Error{CodeLifeEnded, 1, "fn: drive archive closed (05h)"}
	ErrMemoryFull    = &Error{CodeArchiveFull, 0, "fn: archive full (06h)"}
	ErrBadTime       = &Error{CodeBadTime, 0, "fn: date earlier than the last document (07h)"}
	ErrNoDocument    = &Error{CodeNoData, 0, "fn: no such document (08h)"}
	ErrBadParam      = &Error{CodeBadParam, 0, "fn: bad parameter (09h)"}
	ErrTooBig        = &Error{CodeTLVTooBig, 0, "fn: document TLV too big (10h)"}
	ErrOFDBacklog    = &Error{CodeOFDWait, 0, "fn: a document unsent to the OFD is older than allowed (15h)"}
	ErrBadAck        = &Error{CodeOFDNotAccepted, 0, "fn: OFD acknowledgement not accepted (20h)"}
	// ErrOFDRejected is an acknowledgement with a response code other than
	// 0: over the UART the drive answers 26h with success and that code.
	ErrOFDRejected = &Error{CodeOFDNotAccepted, 1, "fn: OFD rejected the document (26h response code)"}
)

// errCRCRequest is how the drive answers a request whose CRC failed: 01h
// (ruling 10). Nothing was done; the register sends the command again.
var errCRCRequest = &Error{CodeBadCommand, 1, "fn: request CRC mismatch (01h)"}

// errEmptyFrame is a frame of LEN 0: no command byte at all. It is answered 01h.
var errEmptyFrame = &Error{CodeBadCommand, 2, "fn: frame without a command byte (01h)"}

// Transport errors of the UART client; no drive answer carries them.
var (
	ErrTimeout = errors.New("fn: no answer from the drive in time")
	ErrFrame   = errors.New("fn: bad frame")
)

var sentinels = []*Error{
	ErrBadFormat, ErrState, ErrNotRegistered, ErrShiftClosed, ErrShiftOpen, ErrShiftExpired,
	ErrWrite, ErrCrypto, ErrKeyExpired, ErrDriveClosed, ErrMemoryFull, ErrBadTime,
	ErrNoDocument, ErrBadParam, ErrTooBig, ErrOFDBacklog, ErrBadAck, ErrOFDRejected, errCRCRequest,
}

// sentinelFor finds the plain sentinel of an answer code (reason 0), or
// builds an error for a code this side does not know.
func sentinelFor(c Code) *Error {
	for _, s := range sentinels {
		if s.Code == c && s.Reason == 0 {
			return s
		}
	}
	return &Error{c, 0, fmt.Sprintf("fn: drive answered %s", hex2(byte(c)))}
}

// IsFault tells whether err means the drive itself is failing — a write,
// crypto, memory, key or life-end condition, or the transport to it — as
// opposed to a document the drive refused (state, time, parameter, size,
// shift limit, OFD backlog). The register stops at once on a fault and counts
// refusals. Cancellation by the caller is neither.
func IsFault(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		return true // transport: timeout, frame errors, a closed port
	}
	switch e.Code {
	case CodeBadCommand, CodeDrive, CodeCrypto, CodeLifeEnded, CodeArchiveFull,
		CodeCryptoResource, CodeStorageResource:
		return true
	}
	return false
}
