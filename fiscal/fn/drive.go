// Package fn owns the fiscal drive (ФН): the Drive interface through which the
// register numbers, signs and archives every fiscal document and feeds the OFD
// queue; both ends of the drive's UART exchange (the register's Client and the
// device side, Serve); and the emulated drive with its own durable file.
//
// The drive is the source of truth for numbers, signs and the OFD queue. This
// package never builds a document's content (that is package fiscal's job), never
// reads a wall clock (every document's time comes from the register) and never
// talks to the OFD itself.
package fn

import (
	"context"
	"strings"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// Phase is the drive's life phase, with the values real drives report in 30h.
type Phase byte

// Drive phases.
const (
	PhaseNotRegistered Phase = 0x01 // ready for registration
	PhaseFiscal        Phase = 0x03 // registered: signs documents
	PhaseArchiveClosed Phase = 0x07 // closed: only the archive can be read
)

// String names the phase for status displays.
func (p Phase) String() string {
	switch p {
	case PhaseNotRegistered:
		return "not registered"
	case PhaseFiscal:
		return "fiscal"
	case PhaseArchiveClosed:
		return "archive closed"
	}
	return "phase " + hex2(byte(p))
}

// Warnings are the drive's early warnings, the bit flags of 30h byte 4 in the
// public order (FN-UART.md §4, ruling 3).
type Warnings uint8

// Warning flags. The first four are written into shift reports as tags 1051,
// 1050, 1052 and 1053.
const (
	WarnReplaceUrgent Warnings = 1 << 0 // key validity ends within 3 days (1051)
	WarnKeyExpiring   Warnings = 1 << 1 // key validity ends within 30 days (1050)
	WarnMemory90      Warnings = 1 << 2 // archive 90% full (1052)
	WarnOFDTimeout    Warnings = 1 << 3 // oldest unsent document is 25 days old or more (1053)
	WarnCritical      Warnings = 1 << 7 // critical drive error
)

var warningNames = []string{0: "replace urgently", 1: "key expiring", 2: "memory 90%", 3: "OFD timeout near", 7: "critical error"}

// Strings names the set flags, for status displays.
func (w Warnings) Strings() []string {
	var out []string
	for i, n := range warningNames {
		if n != "" && w&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String lists the set flags, comma-separated.
func (w Warnings) String() string { return strings.Join(w.Strings(), ", ") }

// State is what the drive reports about itself. Times are wall clocks in UTC
// form (the FFD unixtime convention), to the minute.
type State struct {
	Phase           Phase
	DriveNumber     string // 1041, 16 digits
	RegNumber       string // 1037 from the registration, "" before it
	ShiftOpen       bool
	Shift           uint32 // current or last shift number
	ShiftOpenedAt   time.Time
	ReceiptsInShift uint32
	LastFD          uint32
	LastFDTime      time.Time
	Unsent          uint32 // documents not yet acknowledged by the OFD
	FirstUnsentFD   uint32
	FirstUnsentTime time.Time
	Warnings        Warnings
	ValidUntil      time.Time
}

// Doc is a document the register asks the drive to sign: its own elements,
// without the outer STLV header and without the tags the drive adds.
type Doc struct {
	Time time.Time
	TLV  []byte
}

// ReceiptDoc is a receipt (or a correction receipt); Sign and Total must equal
// the 1054 and 1020 inside TLV, as a real drive takes them in 16h separately.
type ReceiptDoc struct {
	Time       time.Time
	Correction bool
	Sign       fiscal.CalcSign
	Total      uint64
	TLV        []byte
}

// Signed is the drive's answer to a finished document.
type Signed struct {
	FD, FPD uint32
	Time    time.Time // the document's 1012, wall clock in UTC form
	Shift   uint32
	Number  uint32 // 1042, 0 for reports
}

// Archived is a document read back from the drive's archive.
type Archived struct {
	FD    uint32
	Type  fiscal.Tag
	Time  time.Time
	FPD   uint32
	TLV   []byte // the whole document STLV, header included
	Acked bool   // the OFD has acknowledged it
}

// Drive is the only way the register touches a fiscal drive, emulated or real.
type Drive interface {
	State(ctx context.Context) (State, error)
	Register(ctx context.Context, d Doc) (Signed, error)           // 1: 02h begin, 07h data, 03h finish
	ChangeRegistration(ctx context.Context, d Doc) (Signed, error) // 11
	OpenShift(ctx context.Context, d Doc) (Signed, error)          // 2: 11h/07h/12h
	CloseShift(ctx context.Context, d Doc) (Signed, error)         // 5: 13h/07h/14h
	// Receipt signs a receipt. It may be durable only once Sync returns, as
	// the emulated drive makes a run of receipts and acknowledgements durable
	// together; every other document is durable when its call returns, and so
	// is everything before it.
	Receipt(ctx context.Context, r ReceiptDoc) (Signed, error) // 3 or 31: 15h or 17h, 07h…, 16h
	// Sync returns once every document signed so far is durable. A real drive
	// answers only once a document is in its memory, so there it has nothing to do.
	Sync(ctx context.Context) error
	StateReport(ctx context.Context, d Doc) (Signed, error)    // 21: 18h/07h/19h
	CloseDrive(ctx context.Context, d Doc) (Signed, error)     // 6: 04h/07h/05h
	Document(ctx context.Context, fd uint32) (Archived, error) // 40h/45h/46h
	// NextMessage returns the FN–OFD container of the first unsent document,
	// or nil, nil when everything is acknowledged.
	NextMessage(ctx context.Context) ([]byte, error) // 22h–25h
	// Acknowledge hands the OFD's acknowledgement container to the drive
	// unchanged. Like a receipt, it may be durable only once Sync returns.
	Acknowledge(ctx context.Context, ack []byte) error // 26h
}

// Drive's own tags: the register must not send them.
const (
	tagTotal         fiscal.Tag = 1020
	tagOFDResponse   fiscal.Tag = 1022
	tagDateTime      fiscal.Tag = 1012
	tagOFDINN        fiscal.Tag = 1017
	tagRegNumber     fiscal.Tag = 1037
	tagShift         fiscal.Tag = 1038
	tagFD            fiscal.Tag = 1040
	tagDriveNumber   fiscal.Tag = 1041
	tagReceiptNumber fiscal.Tag = 1042
	tagResourceOut   fiscal.Tag = 1050
	tagReplace3Days  fiscal.Tag = 1051
	tagMemoryFull    fiscal.Tag = 1052
	tagOFDTimeout    fiscal.Tag = 1053
	tagCalcSign      fiscal.Tag = 1054
	tagOFDMessage    fiscal.Tag = 1068
	tagOperatorSign  fiscal.Tag = 1078
	tagUnsentCount   fiscal.Tag = 1097
	tagFirstUnsentAt fiscal.Tag = 1098
	tagDocsInShift   fiscal.Tag = 1111
	tagFirstUnsentFD fiscal.Tag = 1116
	tagReceiptsShift fiscal.Tag = 1118
)

// driveTags are the tags only the drive writes.
var driveTags = map[fiscal.Tag]bool{
	tagDateTime: true, tagShift: true, tagFD: true, tagDriveNumber: true, tagReceiptNumber: true,
	tagResourceOut: true, tagReplace3Days: true, tagMemoryFull: true, tagOFDTimeout: true,
	fiscal.TagFiscalSign: true, tagUnsentCount: true, tagFirstUnsentAt: true, tagDocsInShift: true,
	tagFirstUnsentFD: true, tagReceiptsShift: true,
}

// wallMinute is tm's wall clock in UTC form, truncated to the minute as drives keep it.
func wallMinute(tm time.Time) time.Time {
	return time.Unix(fiscal.LocalUnix(tm), 0).UTC().Truncate(time.Minute)
}

const hexDigits = "0123456789ABCDEF"

func hex2(b byte) string { return string([]byte{hexDigits[b>>4], hexDigits[b&15]}) + "h" }
