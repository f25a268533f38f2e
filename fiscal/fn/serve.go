package fn

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// interByteTimeout is how long the drive waits for the rest of a frame before
// it drops the frame and looks for the next start byte (ruling 10).
const interByteTimeout = 500 * time.Millisecond

// session is the device side's state of one exchange: the document being
// assembled, the OFD message being read, the archive document being read.
type session struct {
	d   *Emulator
	log *slog.Logger

	begun    byte      // begin command of the document in progress, 0 for none
	kind     byte      // 02h's report kind
	at       time.Time // the begin command's date
	tlv      []byte
	dataIn   bool // 07h data received for the document in progress
	message  []byte
	sentMsg  bool // a message was read to its end (25h) and waits for its receipt
	up       bool // 21h: the register says its transport to the OFD is up
	reading  []fiscal.RawElement
	readDone bool // 45h selected a document
	// The last frame received and, when it was a finish command, the answer
	// sent to it: only that frame, sent again at once, is answered again
	// rather than signed twice.
	lastReq, lastAnswer []byte
}

// Serve speaks the drive exchange on rw as the drive d until ctx is done or rw
// fails. It notices ctx's end within 100 ms when rw has read deadlines or a
// read timeout (a pty, a connection, a serial port); otherwise close rw to stop it.
func Serve(ctx context.Context, rw io.ReadWriter, d *Emulator) error {
	log := d.log
	fr := &frameReader{r: rw, log: log, side: "drive", interByte: interByteTimeout}
	s := &session{d: d, log: log}
	write := func(frame []byte, cmd string) error {
		if _, err := rw.Write(frame); err != nil {
			return fmt.Errorf("fn: serve: writing answer to %s: %w", cmd, err)
		}
		return nil
	}
	for {
		cmd, data, err := fr.next(ctx, time.Time{})
		if errors.Is(err, ErrFrame) { // a bad CRC or LEN 0: 01h (ruling 10)
			s.lastReq, s.lastAnswer = nil, nil
			frame, _ := AppendFrame(nil, byte(CodeBadCommand), nil)
			if err := write(frame, "a bad frame"); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		raw, _ := AppendFrame(nil, cmd, data)
		if s.lastAnswer != nil && bytes.Equal(raw, s.lastReq) {
			log.Warn("fn: finish sent again at once, answering again", "cmd", hex2(cmd))
			if err := write(s.lastAnswer, hex2(cmd)); err != nil {
				return err
			}
			continue
		}
		if l := d.latency[cmd]; l > 0 && !isFinish(cmd) { // a finish's latency is its signing, in sign
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(l):
			}
		}
		answer, err := s.handle(ctx, cmd, data)
		var code Code
		if err != nil {
			log.Debug("fn: command refused", "cmd", hex2(cmd), "err", err)
			code, answer = errorCode(err), nil
		}
		frame, err := AppendFrame(nil, byte(code), answer)
		if err != nil {
			return err
		}
		s.lastReq, s.lastAnswer = raw, nil
		if isFinish(cmd) {
			s.lastAnswer = frame
		}
		if err := write(frame, hex2(cmd)); err != nil {
			return err
		}
	}
}

func isFinish(cmd byte) bool {
	switch cmd {
	case cmdFinishRegistration, cmdFinishClose, cmdFinishShiftOpen, cmdFinishShiftClose, cmdFinishReceipt, cmdFinishStateReport:
		return true
	}
	return false
}

// finishFor is the finish command each begin command expects.
var finishFor = map[byte]byte{
	cmdBeginRegistration: cmdFinishRegistration,
	cmdBeginClose:        cmdFinishClose,
	cmdBeginShiftOpen:    cmdFinishShiftOpen,
	cmdBeginShiftClose:   cmdFinishShiftClose,
	cmdBeginReceipt:      cmdFinishReceipt,
	cmdBeginCorrection:   cmdFinishReceipt,
	cmdBeginStateReport:  cmdFinishStateReport,
}

func needLen(cmd byte, data []byte, n ...int) error {
	for _, k := range n {
		if len(data) == k {
			return nil
		}
	}
	return fmt.Errorf("command %s: %d data bytes, want %v: %w", hex2(cmd), len(data), n, ErrBadFormat)
}

func (s *session) handle(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	if _, ok := finishFor[cmd]; ok {
		return nil, s.begin(ctx, cmd, data)
	}
	if isFinish(cmd) {
		return s.finish(ctx, cmd, data)
	}
	d := s.d
	switch cmd {
	case cmdCancel:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		s.begun, s.tlv, s.dataIn = 0, s.tlv[:0], false
		return nil, nil
	case cmdData:
		switch {
		case s.begun == 0:
			return nil, fmt.Errorf("07h with no document begun: %w", ErrState)
		case len(data) == 0:
			return nil, fmt.Errorf("07h without data: %w", ErrBadFormat)
		case len(data) > MaxChunk:
			return nil, fmt.Errorf("07h: %d bytes, at most %d: %w", len(data), MaxChunk, ErrTooBig)
		case len(s.tlv)+len(data) > maxDocValue:
			return nil, fmt.Errorf("07h: document over %d bytes: %w", maxDocValue, ErrTooBig)
		}
		s.tlv = append(s.tlv, data...)
		s.dataIn = true
		return nil, nil
	case cmdTransport:
		if err := needLen(cmd, data, 1, 4); err != nil {
			return nil, err
		}
		s.up = !bytes.Equal(data, make([]byte, len(data)))
		return nil, nil
	case cmdLastErrors:
		return nil, needLen(cmd, data, 0, 1)
	case cmdMessageStart:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		msg, err := d.NextMessage(ctx)
		if err != nil {
			return nil, err
		}
		if msg == nil {
			return nil, fmt.Errorf("22h: nothing unsent: %w", ErrNoDocument)
		}
		s.message, s.sentMsg = msg, false
		return binary.LittleEndian.AppendUint16(nil, uint16(len(msg))), nil
	case cmdMessageRead:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		if s.message == nil {
			return nil, fmt.Errorf("23h with no message begun by 22h: %w", ErrState)
		}
		off, n := int(binary.LittleEndian.Uint16(data)), int(binary.LittleEndian.Uint16(data[2:]))
		if off+n > len(s.message) || n > MaxChunk {
			return nil, fmt.Errorf("23h: block %d+%d of a message of %d bytes: %w", off, n, len(s.message), ErrBadParam)
		}
		return s.message[off : off+n], nil
	case cmdMessageCancel, cmdMessageFinish:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		if s.message == nil {
			return nil, fmt.Errorf("%s with no message begun by 22h: %w", hex2(cmd), ErrState)
		}
		s.message, s.sentMsg = nil, cmd == cmdMessageFinish
		return nil, nil
	case cmdAcknowledge:
		if len(data) == 0 {
			return nil, fmt.Errorf("26h without data: %w", ErrBadFormat)
		}
		err := d.Acknowledge(ctx, data)
		if err == nil {
			err = d.Sync(ctx) // a real drive answers once the acknowledgement is in its memory
		}
		if err != nil && !errors.Is(err, ErrOFDRejected) {
			return nil, err
		}
		// The OFD's response code, then its operator's message when it has
		// one (ruling 7); a rejection is the OFD's answer, passed on as it came.
		a, _ := parseAck(data, nil)
		if err == nil {
			s.sentMsg = false
		}
		return append([]byte{a.code}, a.message...), nil
	case cmdDocumentAck:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		return d.Acknowledgement(ctx, binary.LittleEndian.Uint32(data))
	case cmdFindDocument, cmdReadTLVStart:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		a, err := d.Document(ctx, binary.LittleEndian.Uint32(data))
		if err != nil {
			return nil, err
		}
		if cmd == cmdFindDocument {
			return findAnswer(a)
		}
		doc, _, err := fiscal.NextElement(a.TLV, 0)
		if err == nil {
			s.reading, err = fiscal.SplitElements(doc.Value)
		}
		if err != nil {
			return nil, fmt.Errorf("45h: FD %d: %w: %w", a.FD, ErrWrite, err)
		}
		s.readDone = true
		out := binary.LittleEndian.AppendUint16(nil, uint16(doc.Tag))
		return binary.LittleEndian.AppendUint16(out, uint16(len(doc.Value))), nil
	case cmdReadTLV:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		if !s.readDone {
			return nil, fmt.Errorf("46h with no document selected by 45h: %w", ErrState)
		}
		if len(s.reading) == 0 {
			return nil, fmt.Errorf("46h: the document has no more TLV: %w", ErrNoDocument)
		}
		el := s.reading[0]
		s.reading = s.reading[1:]
		return fiscal.AppendTLV(nil, el.Tag, el.Value), nil
	case cmdRegTotals, cmdRegParam:
		return s.registration(ctx, cmd, data)
	case cmdStatus, cmdNumber, cmdValid, cmdVersion, cmdShiftParams, cmdOFDStatus, cmdUnacked:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		st, err := d.State(ctx)
		if err != nil {
			return nil, err
		}
		if cmd == cmdShiftParams && st.Phase != PhaseFiscal {
			return nil, fmt.Errorf("10h: phase %s: %w", st.Phase, ErrState)
		}
		return s.stateAnswer(cmd, st), nil
	case cmdFailWrites:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		d.FailNextWrites(int(binary.LittleEndian.Uint32(data)))
		return nil, nil
	case cmdSetMemoryFull:
		if err := needLen(cmd, data, 1); err != nil {
			return nil, err
		}
		d.SetMemoryFull(data[0] != 0)
		return nil, nil
	case cmdExpireKey:
		d.ExpireKey()
		return nil, nil
	case cmdSetSignDelay:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		d.SetSignDelay(time.Duration(binary.LittleEndian.Uint32(data)) * time.Millisecond)
		return nil, nil
	}
	return nil, fmt.Errorf("command %s: %w", hex2(cmd), ErrBadFormat)
}

// begin starts a document, in the phase and shift state its command needs.
func (s *session) begin(ctx context.Context, cmd byte, data []byte) error {
	var at time.Time
	var kind byte
	switch cmd {
	case cmdBeginRegistration:
		if err := needLen(cmd, data, 0, 1); err != nil {
			return err
		}
		if len(data) == 1 {
			kind = data[0]
		}
		if kind > 2 {
			return fmt.Errorf("02h: report kind %d at offset 0: %w", kind, ErrBadParam)
		}
	case cmdBeginClose:
		if err := needLen(cmd, data, 0); err != nil {
			return err
		}
	default:
		if err := needLen(cmd, data, 5); err != nil {
			return err
		}
		var err error
		if at, err = parseDate(data); err != nil {
			return fmt.Errorf("command %s: %w: %w", hex2(cmd), ErrBadFormat, err)
		}
	}
	if s.begun != 0 {
		return fmt.Errorf("%s while %s's document is in progress: %w", hex2(cmd), hex2(s.begun), ErrState)
	}
	st, err := s.d.State(ctx)
	if err != nil {
		return err
	}
	needShift := func(open bool) error {
		switch {
		case st.ShiftOpen == open:
			return nil
		case open:
			return fmt.Errorf("%s: shift %d: %w", hex2(cmd), st.Shift, ErrShiftClosed)
		}
		return fmt.Errorf("%s: shift %d: %w", hex2(cmd), st.Shift, ErrShiftOpen)
	}
	switch {
	case cmd == cmdBeginRegistration && kind == 0:
		if st.Phase != PhaseNotRegistered {
			return fmt.Errorf("02h: phase %s: %w", st.Phase, ErrState)
		}
	case st.Phase != PhaseFiscal: // 02h, as for any phase but the fiscal one
		return fmt.Errorf("%s: phase %s: %w", hex2(cmd), st.Phase, ErrState)
	case cmd == cmdBeginRegistration, cmd == cmdBeginClose, cmd == cmdBeginShiftOpen:
		err = needShift(false)
	case cmd == cmdBeginShiftClose, cmd == cmdBeginReceipt, cmd == cmdBeginCorrection:
		err = needShift(true)
	}
	if err != nil {
		return err
	}
	s.begun, s.kind, s.at, s.tlv, s.dataIn = cmd, kind, at, s.tlv[:0], false
	return nil
}

// finish signs the document in progress with the finish command's fields. A
// format error keeps the document, so a corrected finish can follow; any
// other answer ends it.
func (s *session) finish(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	begun := s.begun
	if begun == 0 || finishFor[begun] != cmd {
		return nil, fmt.Errorf("finish %s with begin %s: %w", hex2(cmd), hex2(begun), ErrState)
	}
	var err error
	switch cmd {
	case cmdFinishRegistration:
		err = needLen(cmd, data, 39, 40)
	case cmdFinishClose:
		err = needLen(cmd, data, 25)
	case cmdFinishReceipt:
		err = needLen(cmd, data, 11)
	default:
		err = needLen(cmd, data, 0)
	}
	at := s.at
	if err == nil && (cmd == cmdFinishRegistration || cmd == cmdFinishClose || cmd == cmdFinishReceipt) {
		if at, err = parseDate(data); err != nil {
			err = fmt.Errorf("command %s offset 0: %w: %w", hex2(cmd), ErrBadFormat, err)
		}
	}
	if err != nil {
		return nil, err
	}
	tlv := bytes.Clone(s.tlv)
	kind := s.kind
	s.begun, s.tlv, s.dataIn = 0, s.tlv[:0], false

	d := s.d
	var sg Signed
	switch cmd {
	case cmdFinishRegistration:
		f := regFields{inn: trimField(data[5:17]), regNumber: trimField(data[17:37]), tax: data[37], modes: data[38]}
		if f.modes>>len(modeTags) != 0 {
			return nil, fmt.Errorf("03h: work modes %s at offset 38: bits above %d name no mode: %w", hex2(f.modes), len(modeTags)-1, ErrBadParam)
		}
		if tlv, err = addFields(tlv, registrationElements(f), sameField); err != nil {
			return nil, fmt.Errorf("03h: %w", err)
		}
		if kind == 0 {
			sg, err = d.Register(ctx, Doc{Time: at, TLV: tlv})
		} else {
			sg, err = d.ChangeRegistration(ctx, Doc{Time: at, TLV: tlv})
		}
	case cmdFinishClose:
		var add []fiscal.RawElement
		if rn := trimField(data[5:25]); rn != "" {
			add = append(add, fiscal.RawElement{Tag: tagRegNumber, Value: []byte(rn)})
		}
		if tlv, err = addFields(tlv, add, sameField); err != nil {
			return nil, fmt.Errorf("05h: %w", err)
		}
		sg, err = d.CloseDrive(ctx, Doc{Time: at, TLV: tlv})
	case cmdFinishShiftOpen:
		sg, err = d.OpenShift(ctx, Doc{Time: at, TLV: tlv})
	case cmdFinishShiftClose:
		sg, err = d.CloseShift(ctx, Doc{Time: at, TLV: tlv})
	case cmdFinishStateReport:
		sg, err = d.StateReport(ctx, Doc{Time: at, TLV: tlv})
	case cmdFinishReceipt:
		sign, total := fiscal.CalcSign(data[5]), le40(data[6:11])
		add := []fiscal.RawElement{{Tag: tagCalcSign, Value: []byte{data[5]}}, {Tag: tagTotal, Value: fiscal.AppendVLN(nil, 0, total)[4:]}}
		if tlv, err = addFields(tlv, add, sameField); err != nil {
			return nil, fmt.Errorf("16h: %w", err)
		}
		sg, err = d.Receipt(ctx, ReceiptDoc{Time: at, Correction: begun == cmdBeginCorrection, Sign: sign, Total: total, TLV: tlv})
		if err == nil {
			err = d.Sync(ctx) // a real drive answers once the document is in its memory
		}
	}
	if err != nil {
		return nil, err
	}
	var out []byte
	switch cmd {
	case cmdFinishShiftOpen, cmdFinishShiftClose:
		out = binary.LittleEndian.AppendUint16(out, uint16(sg.Shift))
	case cmdFinishReceipt:
		out = binary.LittleEndian.AppendUint16(out, uint16(sg.Number))
	}
	out = binary.LittleEndian.AppendUint32(out, sg.FD)
	return binary.LittleEndian.AppendUint32(out, sg.FPD), nil
}
