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

// Command codes of the drive exchange. Where FFD105.md gives a command but not
// its data byte for byte, the layout is ours and is written beside the code.
const (
	cmdBeginRegistration = 0x02 // no data
	// 03h data: date 5, then (ours) kind 1: 0 registration, 1 registration change.
	// Answer: FD u32, ФПД u32.
	cmdFinishRegistration = 0x03
	cmdBeginClose         = 0x04 // no data
	cmdFinishClose        = 0x05 // data (ours): date 5. Answer (ours): FD u32, ФПД u32
	cmdCancel             = 0x06
	cmdData               = 0x07 // TLV, at most MaxChunk bytes
	// 10h answer: shift open 1, shift u16, receipts in shift u16, then (ours) opened at date 5.
	cmdShiftParams      = 0x10
	cmdBeginShiftOpen   = 0x11 // no data
	cmdFinishShiftOpen  = 0x12 // data (ours): date 5. Answer: shift u16, FD u32, ФПД u32
	cmdBeginShiftClose  = 0x13 // no data
	cmdFinishShiftClose = 0x14 // data (ours): date 5. Answer (ours, as 12h): shift u16, FD u32, ФПД u32
	cmdBeginReceipt     = 0x15 // no data
	// 16h data: date 5, calculation sign 1, total 5 LE. Answer: receipt number
	// u16, FD u32, ФПД u32, then (ours) shift u16.
	cmdFinishReceipt     = 0x16
	cmdBeginCorrection   = 0x17 // no data; finished with 16h
	cmdBeginStateReport  = 0x18 // no data
	cmdFinishStateReport = 0x19 // data (ours): date 5. Answer (ours): FD u32, ФПД u32, shift u16
	cmdOFDStatus         = 0x20 // answer: unsent u16, first unsent FD u32, its date 5
	cmdMessageStart      = 0x22 // answer: message length u16, 0 when nothing is unsent
	cmdMessageRead       = 0x23 // data: offset u16, length u16. Answer: the bytes
	cmdMessageCancel     = 0x24
	cmdMessageFinish     = 0x25
	cmdAcknowledge       = 0x26 // data: the OFD's container. Answer: its response code 1
	// 30h answer: phase 1, document in progress 1, shift open 1, warnings 1,
	// last document date 5, drive number 16 ASCII, last FD u32.
	cmdStatus = 0x30
	cmdValid  = 0x32 // answer (ours): valid until date 5
	// 40h data: FD u32. Answer (ours): type u16, ФПД u32, STLV length u16.
	cmdFindDocument = 0x40
	cmdDocumentAck  = 0x41 // data: FD u32. Answer (ours): acknowledged 1
	cmdRegParams    = 0x43 // (ours, check) answer: 1037 as stored
	cmdReadTLVStart = 0x45 // data: FD u32. Answer (ours): STLV length u16
	cmdReadTLV      = 0x46 // answer (ours): the next block of at most MaxChunk bytes, empty at the end

	// The emulator's own controls, at codes no published command uses.
	cmdFailWrites    = 0xE0 // data: count u32
	cmdSetMemoryFull = 0xE1 // data: 1 full, 0 not
	cmdExpireKey     = 0xE2
	cmdSetSignDelay  = 0xE3 // data: milliseconds u32
)

// session is the device side's state of one exchange: the document being
// assembled, the OFD message being read, the archive document being read.
type session struct {
	d   *Emulator
	log *slog.Logger

	begun   byte // begin command of the document in progress, 0 for none
	tlv     []byte
	message []byte
	reading []byte
	readOff int
	// The last finish request and its answer: a finish repeated after its
	// answer was lost (CRC error, timeout) is answered again, not signed twice.
	lastFinish, lastAnswer []byte
}

// Serve speaks the drive exchange on rw as the drive d until ctx is done or rw
// fails. It notices ctx's end within 100 ms when rw has read deadlines or a
// read timeout (a pty, a connection, a serial port); otherwise close rw to stop it.
func Serve(ctx context.Context, rw io.ReadWriter, d *Emulator) error {
	log := d.log
	fr := &frameReader{r: rw, log: log, side: "drive"}
	s := &session{d: d, log: log}
	for {
		cmd, data, err := fr.next(ctx, time.Time{})
		if errors.Is(err, ErrFrameCRC) {
			code, data := errorAnswer(fmt.Errorf("%w: %w", errCRCRequest, err))
			frame, _ := AppendFrame(nil, byte(code), data)
			if _, err := rw.Write(frame); err != nil {
				return fmt.Errorf("fn: serve: writing answer: %w", err)
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
		if s.begun == 0 && bytes.Equal(raw, s.lastFinish) {
			log.Warn("fn: finish repeated, answering again", "cmd", hex2(cmd))
			if _, err := rw.Write(s.lastAnswer); err != nil {
				return fmt.Errorf("fn: serve: writing answer: %w", err)
			}
			continue
		}
		answer, err := s.handle(ctx, cmd, data)
		var code Code
		if err != nil {
			log.Debug("fn: command refused", "cmd", hex2(cmd), "err", err)
			code, answer = errorAnswer(err)
		}
		frame, err := AppendFrame(nil, byte(code), answer)
		if err != nil {
			return err
		}
		if isFinish(cmd) {
			s.lastFinish, s.lastAnswer = raw, frame
		}
		if _, err := rw.Write(frame); err != nil {
			return fmt.Errorf("fn: serve: writing answer to %s: %w", hex2(cmd), err)
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

func needLen(cmd byte, data []byte, n int) error {
	if len(data) != n {
		return fmt.Errorf("command %s: %d data bytes, want %d: %w", hex2(cmd), len(data), n, ErrBadFormat)
	}
	return nil
}

func (s *session) handle(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	if _, ok := finishFor[cmd]; ok {
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		s.begun, s.tlv = cmd, s.tlv[:0]
		return nil, nil
	}
	if isFinish(cmd) {
		return s.finish(ctx, cmd, data)
	}
	d := s.d
	switch cmd {
	case cmdCancel:
		s.begun, s.tlv = 0, s.tlv[:0]
		return nil, nil
	case cmdData:
		if s.begun == 0 {
			return nil, fmt.Errorf("07h with no document begun: %w", ErrState)
		}
		if len(data) > MaxChunk {
			return nil, fmt.Errorf("07h: %d bytes, at most %d: %w", len(data), MaxChunk, ErrBadFormat)
		}
		if len(s.tlv)+len(data) > maxDocValue {
			return nil, fmt.Errorf("07h: document over %d bytes: %w", maxDocValue, ErrTooBig)
		}
		s.tlv = append(s.tlv, data...)
		return nil, nil
	case cmdStatus, cmdShiftParams, cmdOFDStatus, cmdValid, cmdRegParams:
		if err := needLen(cmd, data, 0); err != nil {
			return nil, err
		}
		st, err := d.State(ctx)
		if err != nil {
			return nil, err
		}
		return stateAnswer(cmd, st, s.begun != 0), nil
	case cmdMessageStart:
		msg, err := d.NextMessage(ctx)
		if err != nil {
			return nil, err
		}
		s.message = msg
		return binary.LittleEndian.AppendUint16(nil, uint16(len(msg))), nil
	case cmdMessageRead:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		off, n := int(binary.LittleEndian.Uint16(data)), int(binary.LittleEndian.Uint16(data[2:]))
		if s.message == nil || off+n > len(s.message) || n > MaxChunk {
			return nil, fmt.Errorf("23h: block %d+%d of a message of %d bytes: %w", off, n, len(s.message), ErrBadParam)
		}
		return s.message[off : off+n], nil
	case cmdMessageCancel, cmdMessageFinish:
		s.message = nil
		return nil, nil
	case cmdAcknowledge:
		err := d.Acknowledge(ctx, data)
		if err == nil {
			err = d.Sync(ctx) // a real drive answers once the acknowledgement is in its memory
		}
		if err != nil {
			return nil, err
		}
		return []byte{0}, nil
	case cmdFindDocument, cmdDocumentAck, cmdReadTLVStart:
		if err := needLen(cmd, data, 4); err != nil {
			return nil, err
		}
		a, err := d.Document(ctx, binary.LittleEndian.Uint32(data))
		if err != nil {
			return nil, err
		}
		switch cmd {
		case cmdFindDocument:
			out := binary.LittleEndian.AppendUint16(nil, uint16(a.Type))
			out = binary.LittleEndian.AppendUint32(out, a.FPD)
			return binary.LittleEndian.AppendUint16(out, uint16(len(a.TLV))), nil
		case cmdDocumentAck:
			return []byte{boolByte(a.Acked)}, nil
		}
		s.reading, s.readOff = a.TLV, 0
		return binary.LittleEndian.AppendUint16(nil, uint16(len(a.TLV))), nil
	case cmdReadTLV:
		if s.reading == nil {
			return nil, fmt.Errorf("46h with no document selected by 45h: %w", ErrState)
		}
		n := min(MaxChunk, len(s.reading)-s.readOff)
		out := s.reading[s.readOff : s.readOff+n]
		s.readOff += n
		return out, nil
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

// finish signs the document in progress with the finish command's data.
func (s *session) finish(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	begun := s.begun
	if begun == 0 || finishFor[begun] != cmd {
		return nil, fmt.Errorf("finish %s with begin %s: %w", hex2(cmd), hex2(begun), ErrState)
	}
	tlv := bytes.Clone(s.tlv)
	s.begun, s.tlv = 0, s.tlv[:0]
	want := 5
	switch cmd {
	case cmdFinishRegistration:
		want = 6
	case cmdFinishReceipt:
		want = 11
	}
	if err := needLen(cmd, data, want); err != nil {
		return nil, err
	}
	at, err := parseDate(data)
	if err != nil {
		return nil, fmt.Errorf("command %s: %w: %w", hex2(cmd), ErrBadFormat, err)
	}
	doc := Doc{Time: at, TLV: tlv}
	d := s.d
	var sg Signed
	switch cmd {
	case cmdFinishRegistration:
		if data[5] == 1 {
			sg, err = d.ChangeRegistration(ctx, doc)
		} else {
			sg, err = d.Register(ctx, doc)
		}
	case cmdFinishClose:
		sg, err = d.CloseDrive(ctx, doc)
	case cmdFinishShiftOpen:
		sg, err = d.OpenShift(ctx, doc)
	case cmdFinishShiftClose:
		sg, err = d.CloseShift(ctx, doc)
	case cmdFinishStateReport:
		sg, err = d.StateReport(ctx, doc)
	case cmdFinishReceipt:
		var total uint64
		for i := 4; i >= 0; i-- {
			total = total<<8 | uint64(data[6+i])
		}
		sg, err = d.Receipt(ctx, ReceiptDoc{Time: at, Correction: begun == cmdBeginCorrection,
			Sign: fiscal.CalcSign(data[5]), Total: total, TLV: tlv})
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
	out = binary.LittleEndian.AppendUint32(out, sg.FPD)
	if cmd == cmdFinishReceipt || cmd == cmdFinishStateReport {
		out = binary.LittleEndian.AppendUint16(out, uint16(sg.Shift))
	}
	return out, nil
}

func stateAnswer(cmd byte, st State, inProgress bool) []byte {
	var out []byte
	switch cmd {
	case cmdStatus:
		out = append(out, byte(st.Phase), boolByte(inProgress), boolByte(st.ShiftOpen), byte(st.Warnings))
		out = appendDate(out, st.LastFDTime)
		out = append(out, st.DriveNumber...)
		out = binary.LittleEndian.AppendUint32(out, st.LastFD)
	case cmdShiftParams:
		out = append(out, boolByte(st.ShiftOpen))
		out = binary.LittleEndian.AppendUint16(out, uint16(st.Shift))
		out = binary.LittleEndian.AppendUint16(out, uint16(st.ReceiptsInShift))
		out = appendDate(out, st.ShiftOpenedAt)
	case cmdOFDStatus:
		out = binary.LittleEndian.AppendUint16(out, uint16(st.Unsent))
		out = binary.LittleEndian.AppendUint32(out, st.FirstUnsentFD)
		out = appendDate(out, st.FirstUnsentTime)
	case cmdValid:
		out = appendDate(out, st.ValidUntil)
	case cmdRegParams:
		out = append(out, st.RegNumber...)
	}
	return out
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
