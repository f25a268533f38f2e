package fn

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// The drive side's answers that report: status (30h–33h, 10h, 20h, 42h),
// the registration (43h, 44h) and an archived document (40h).

func (s *session) stateAnswer(cmd byte, st State) []byte {
	var out []byte
	switch cmd {
	case cmdStatus:
		out = append(out, byte(st.Phase), docInProgress(s.begun, s.kind), boolByte(s.dataIn), boolByte(st.ShiftOpen), byte(st.Warnings))
		out = appendDate(out, st.LastFDTime)
		out = append(out, st.DriveNumber...)
		out = binary.LittleEndian.AppendUint32(out, st.LastFD)
	case cmdNumber:
		out = append(out, st.DriveNumber...)
	case cmdValid:
		out = appendDate3(out, st.ValidUntil)
		done := s.d.registrations()
		out = append(out, byte(maxRegistrations-min(done, maxRegistrations)), byte(done))
	case cmdVersion:
		out = appendField(out, emulatorVersion, 16)
		out = append(out, 1) // serial firmware, not a debug one
	case cmdShiftParams:
		out = append(out, boolByte(st.ShiftOpen))
		out = binary.LittleEndian.AppendUint16(out, uint16(st.Shift))
		out = binary.LittleEndian.AppendUint16(out, uint16(st.ReceiptsInShift))
	case cmdOFDStatus:
		var bits byte
		if s.up {
			bits |= 1
		}
		if st.Unsent > 0 {
			bits |= 2
		}
		if s.sentMsg {
			bits |= 4
		}
		out = append(out, bits, boolByte(s.message != nil))
		out = binary.LittleEndian.AppendUint16(out, uint16(st.Unsent))
		out = binary.LittleEndian.AppendUint32(out, st.FirstUnsentFD)
		out = appendDate(out, st.FirstUnsentTime)
	case cmdUnacked:
		out = binary.LittleEndian.AppendUint16(out, uint16(st.Unsent))
	}
	return out
}

// emulatorVersion is what 33h reports as the firmware version.
const emulatorVersion = "kassa-emu 1.05"

// registration answers 43h and 44h from the last registration document.
func (s *session) registration(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	want := 0
	if cmd == cmdRegParam {
		want = 2
	}
	if err := needLen(cmd, data, want); err != nil {
		return nil, err
	}
	fd := s.d.registrationFD()
	if fd == 0 {
		return nil, fmt.Errorf("%s: not registered: %w", hex2(cmd), ErrNoDocument)
	}
	a, err := s.d.Document(ctx, fd)
	if err != nil {
		return nil, err
	}
	doc, _, err := fiscal.NextElement(a.TLV, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: FD %d: %w: %w", hex2(cmd), fd, ErrWrite, err)
	}
	els, err := fiscal.SplitElements(doc.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: FD %d: %w: %w", hex2(cmd), fd, ErrWrite, err)
	}
	if cmd == cmdRegParam {
		tag := fiscal.Tag(binary.LittleEndian.Uint16(data))
		for _, el := range els {
			if el.Tag == tag {
				return fiscal.AppendTLV(nil, el.Tag, el.Value), nil
			}
		}
		return nil, fmt.Errorf("44h: tag %d not in the registration FD %d: %w", tag, fd, ErrNoDocument)
	}
	f := regFieldsOf(els)
	out := appendDate(nil, a.Time)
	out = appendField(out, f.inn, innLen)
	out = appendField(out, f.regNumber, regNoLen)
	out = append(out, f.tax, f.modes)
	out = binary.LittleEndian.AppendUint32(out, a.FD)
	return binary.LittleEndian.AppendUint32(out, a.FPD), nil
}

// findAnswer is 40h's answer for an archived document (FN-UART.md §6, Archive).
func findAnswer(a Archived) ([]byte, error) {
	doc, _, err := fiscal.NextElement(a.TLV, 0)
	if err != nil {
		return nil, fmt.Errorf("40h: FD %d: %w: %w", a.FD, ErrWrite, err)
	}
	els, err := fiscal.SplitElements(doc.Value)
	if err != nil {
		return nil, fmt.Errorf("40h: FD %d: %w: %w", a.FD, ErrWrite, err)
	}
	value := func(t fiscal.Tag) []byte {
		for _, el := range els {
			if el.Tag == t {
				return el.Value
			}
		}
		return nil
	}
	u32 := func(t fiscal.Tag) uint32 {
		if v := value(t); len(v) == 4 {
			return binary.LittleEndian.Uint32(v)
		}
		return 0
	}
	out := []byte{byte(a.Type), boolByte(a.Acked)}
	out = appendDate(out, a.Time)
	out = binary.LittleEndian.AppendUint32(out, a.FD)
	out = binary.LittleEndian.AppendUint32(out, a.FPD)
	switch a.Type {
	case fiscal.DocReceipt, fiscal.DocCorrection:
		var sign byte
		if v := value(tagCalcSign); len(v) == 1 {
			sign = v[0]
		}
		total, _ := fiscal.VLN(value(tagTotal))
		out = appendLE40(append(out, sign), total)
	case fiscal.DocShiftOpen, fiscal.DocShiftClose:
		out = binary.LittleEndian.AppendUint16(out, uint16(u32(tagShift)))
	case fiscal.DocRegistration, fiscal.DocRegistrationChange, fiscal.DocDriveClose:
		f := regFieldsOf(els)
		out = appendField(out, f.inn, innLen)
		out = appendField(out, f.regNumber, regNoLen)
		if a.Type != fiscal.DocDriveClose {
			out = append(out, f.tax, f.modes)
		}
	case fiscal.DocStateReport:
		out = binary.LittleEndian.AppendUint32(out, u32(tagUnsentCount))
		var first time.Time
		if v := u32(tagFirstUnsentAt); v != 0 {
			first = time.Unix(int64(v), 0).UTC()
		}
		out = appendDate3(out, first)
	}
	return out, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
