package fn

import (
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// Latency is how long the emulated drive takes over each command before it
// answers, by command code: a model of a real drive's timing. A finish
// command's latency is its signing time and applies in process too; every
// other command's applies over the UART only. A nil Latency answers at once.
type Latency map[byte]time.Duration

// TypicalLatency is a model of a serial ФН's timing for load tests: a few
// milliseconds for reads and document data, a quarter of a second to sign
// and write a document, a tenth to verify and store an OFD acknowledgement.
// It is a model to size timeouts and benchmarks against, not a measurement
// of any one drive.
func TypicalLatency() Latency {
	l := Latency{}
	for _, c := range []byte{cmdStatus, cmdNumber, cmdValid, cmdVersion, cmdLastErrors, cmdShiftParams, cmdOFDStatus,
		cmdTransport, cmdUnacked, cmdRegTotals, cmdRegParam, cmdCancel, cmdMessageCancel, cmdMessageFinish} {
		l[c] = 3 * time.Millisecond
	}
	for _, c := range []byte{cmdBeginRegistration, cmdBeginClose, cmdBeginShiftOpen, cmdBeginShiftClose, cmdBeginReceipt,
		cmdBeginCorrection, cmdBeginStateReport, cmdData, cmdMessageStart, cmdMessageRead, cmdFindDocument,
		cmdDocumentAck, cmdReadTLVStart, cmdReadTLV} {
		l[c] = 8 * time.Millisecond
	}
	for _, c := range []byte{cmdFinishRegistration, cmdFinishClose, cmdFinishShiftOpen, cmdFinishShiftClose,
		cmdFinishReceipt, cmdFinishStateReport} {
		l[c] = 250 * time.Millisecond
	}
	l[cmdAcknowledge] = 100 * time.Millisecond
	return l
}

// Signing is how long the drive takes to sign a document of type typ: the
// latency of its finish command. A register can fiscalize at most
// 1 ÷ Signing(fiscal.DocReceipt) receipts a second on such a drive.
func (l Latency) Signing(typ fiscal.Tag) time.Duration { return l[finishOf(typ)] }

// finishOf is the finish command that signs a document of type typ.
func finishOf(typ fiscal.Tag) byte {
	switch typ {
	case fiscal.DocRegistration, fiscal.DocRegistrationChange:
		return cmdFinishRegistration
	case fiscal.DocShiftOpen:
		return cmdFinishShiftOpen
	case fiscal.DocShiftClose:
		return cmdFinishShiftClose
	case fiscal.DocReceipt, fiscal.DocCorrection:
		return cmdFinishReceipt
	case fiscal.DocStateReport:
		return cmdFinishStateReport
	case fiscal.DocDriveClose:
		return cmdFinishClose
	}
	return 0
}

// wallDay is tm's wall-clock date, as drives keep their key validity.
func wallDay(tm time.Time) time.Time {
	return wallMinute(tm).Truncate(24 * time.Hour)
}
