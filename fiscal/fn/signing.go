package fn

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
)

// Register signs the registration report (1). Its TLV must carry 1037.
func (e *Emulator) Register(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocRegistration, d.Time, d.TLV, nil)
}

// ChangeRegistration signs a registration change report (11); a 1037 in it replaces the old one.
func (e *Emulator) ChangeRegistration(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocRegistrationChange, d.Time, d.TLV, nil)
}

// OpenShift signs a shift open report (2) and opens the next shift.
func (e *Emulator) OpenShift(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocShiftOpen, d.Time, d.TLV, nil)
}

// CloseShift signs a shift close report (5), allowed also after the shift limit.
func (e *Emulator) CloseShift(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocShiftClose, d.Time, d.TLV, nil)
}

// Receipt signs a receipt (3) or a correction receipt (31). It is durable once
// Sync, or another call that syncs, returns.
func (e *Emulator) Receipt(ctx context.Context, r ReceiptDoc) (Signed, error) {
	typ := fiscal.DocReceipt
	if r.Correction {
		typ = fiscal.DocCorrection
	}
	return e.sign(ctx, typ, r.Time, r.TLV, &r)
}

// StateReport signs a current state report (21).
func (e *Emulator) StateReport(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocStateReport, d.Time, d.TLV, nil)
}

// CloseDrive signs the drive close report (6); afterwards only the archive can be read.
func (e *Emulator) CloseDrive(ctx context.Context, d Doc) (Signed, error) {
	return e.sign(ctx, fiscal.DocDriveClose, d.Time, d.TLV, nil)
}

// maxDocValue keeps a document's FN–OFD container within its 16-bit length.
const maxDocValue = 0xFFFF - ofd.ContainerHeaderLen - ofd.MessageSignLen - 4

func (e *Emulator) sign(ctx context.Context, typ fiscal.Tag, at time.Time, tlv []byte, r *ReceiptDoc) (Signed, error) {
	if err := ctx.Err(); err != nil {
		return Signed{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if delay := e.signDelay + e.latency[finishOf(typ)]; delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return Signed{}, ctx.Err()
		case <-t.C:
		}
	}
	now := wallMinute(at)
	st := e.st // the next state; it replaces e.st only once committed
	if err := e.admit(typ, now, &st); err != nil {
		return Signed{}, fmt.Errorf("fn: document %d at %s: %w", typ, now.Format("2006-01-02 15:04"), err)
	}
	els, err := fiscal.SplitElements(tlv)
	if err != nil {
		return Signed{}, fmt.Errorf("fn: document %d: %w: %w", typ, ErrBadParam, err)
	}
	if err := checkElements(typ, els, r); err != nil {
		return Signed{}, fmt.Errorf("fn: document %d: %w", typ, err)
	}

	warn := e.warnings(now)
	unsent, firstFD, firstTime := st.unsent(), st.AckedThrough+1, st.FirstUnsentTime
	st.LastFD++
	st.LastFDTime = now
	if st.LastFD == st.AckedThrough+1 {
		st.FirstUnsentTime = now
	}
	signed := Signed{FD: st.LastFD, Time: now}
	switch typ {
	case fiscal.DocRegistration:
		st.Phase = PhaseFiscal
		st.RegNumber = regNumber(els)
		if e.limits.ValidUntil.IsZero() {
			st.ValidUntil = wallDay(now.AddDate(0, 36, 0))
		}
		st.RegFD = signed.FD
		st.Regs++
	case fiscal.DocRegistrationChange:
		if rn := regNumber(els); rn != "" {
			st.RegNumber = rn
		}
		st.RegFD = signed.FD
		st.Regs++
	case fiscal.DocShiftOpen:
		st.ShiftOpen = true
		st.Shift++
		st.ShiftOpenedAt = now
		st.ReceiptsInShift = 0
		st.DocsInShift = 0
	case fiscal.DocReceipt, fiscal.DocCorrection:
		st.ReceiptsInShift++
		signed.Number = st.ReceiptsInShift
	case fiscal.DocDriveClose:
		st.Phase = PhaseArchiveClosed
	}
	if st.ShiftOpen {
		st.DocsInShift++
	}
	if typ != fiscal.DocRegistration && typ != fiscal.DocDriveClose {
		signed.Shift = st.Shift
	}

	v := bytes.Clone(tlv)
	v = fiscal.AppendUint32(v, tagFD, signed.FD)
	v = fiscal.AppendTLV(v, tagDriveNumber, []byte(e.number))
	v = fiscal.AppendUint32(v, tagDateTime, uint32(now.Unix()))
	if typ != fiscal.DocRegistration && typ != fiscal.DocRegistrationChange {
		// The drive close report carries the last shift's number (its table
		// requires 1038); the registration reports have none.
		v = fiscal.AppendUint32(v, tagShift, st.Shift)
	}
	if signed.Number != 0 {
		v = fiscal.AppendUint32(v, tagReceiptNumber, signed.Number)
	}
	if typ == fiscal.DocShiftClose {
		v = fiscal.AppendUint32(v, tagDocsInShift, st.DocsInShift)
		v = fiscal.AppendUint32(v, tagReceiptsShift, st.ReceiptsInShift)
		st.ShiftOpen = false
	}
	if typ == fiscal.DocShiftClose || typ == fiscal.DocStateReport {
		// 1097 and 1098 always (1116 too on the state report), as yandex/ofd's
		// schemas require them; with nothing unsent 1098 and 1116 are zero.
		var at, first uint32
		if unsent > 0 {
			at, first = uint32(firstTime.Unix()), firstFD
		}
		v = fiscal.AppendUint32(v, tagUnsentCount, unsent)
		v = fiscal.AppendUint32(v, tagFirstUnsentAt, at)
		if unsent > 0 || typ == fiscal.DocStateReport {
			v = fiscal.AppendUint32(v, tagFirstUnsentFD, first)
		}
	}
	if typ == fiscal.DocShiftOpen || typ == fiscal.DocShiftClose {
		// The shift close report carries each warning, 0 or 1; the open
		// report the ones set.
		for _, wt := range []struct {
			w   Warnings
			tag fiscal.Tag
		}{{WarnKeyExpiring, tagResourceOut}, {WarnReplaceUrgent, tagReplace3Days}, {WarnMemory90, tagMemoryFull}, {WarnOFDTimeout, tagOFDTimeout}} {
			switch {
			case warn&wt.w != 0:
				v = fiscal.AppendByte(v, wt.tag, 1)
			case typ == fiscal.DocShiftClose:
				v = fiscal.AppendByte(v, wt.tag, 0)
			}
		}
	}
	signed.FPD = fiscal.FiscalSign(e.key, v)
	v = fiscal.AppendTLV(v, fiscal.TagFiscalSign, fiscal.FiscalSignValue(signed.FPD))
	if len(v) > maxDocValue {
		return Signed{}, fmt.Errorf("fn: document %d: %d bytes, at most %d: %w", typ, len(v), maxDocValue, ErrTooBig)
	}
	doc := fiscal.AppendTLV(nil, typ, v)
	if e.checkTables {
		if _, err := fiscal.CheckDocument(doc); err != nil {
			return Signed{}, fmt.Errorf("fn: document %d: %w: %w", typ, ErrBadParam, err)
		}
	}

	rec := make([]byte, 0, 4+len(doc))
	rec = binary.LittleEndian.AppendUint32(rec, signed.FPD)
	rec = append(rec, doc...)
	err = e.commit(&st, signed.FD, rec)
	if err == nil && r == nil {
		err = e.syncLocked() // only receipts wait for Sync
	}
	if err != nil {
		return Signed{}, fmt.Errorf("fn: document %d, FD %d: %w", typ, signed.FD, err)
	}
	e.log.Debug("fn: signed", "type", typ, "fd", signed.FD, "fpd", signed.FPD, "shift", signed.Shift, "number", signed.Number)
	return signed, nil
}

// admit applies the drive's limits to a new document of type typ at now.
func (e *Emulator) admit(typ fiscal.Tag, now time.Time, st *driveState) error {
	switch {
	case st.Phase == PhaseArchiveClosed:
		return ErrDriveClosed
	case typ == fiscal.DocRegistration && st.Phase != PhaseNotRegistered:
		return fmt.Errorf("already registered: %w", ErrState)
	case typ != fiscal.DocRegistration && st.Phase == PhaseNotRegistered:
		return ErrNotRegistered
	}
	if e.keyExpired {
		return ErrKeyExpired
	}
	if vu := e.validUntil(); !vu.IsZero() && !now.Before(vu) {
		return fmt.Errorf("valid until %s: %w", vu.Format("2006-01-02 15:04"), ErrKeyExpired)
	}
	if e.memoryFull {
		return ErrMemoryFull
	}
	if st.LastFD >= e.limits.Capacity {
		return fmt.Errorf("%d documents stored: %w", st.LastFD, ErrMemoryFull)
	}
	if now.Before(st.LastFDTime) {
		return fmt.Errorf("last document FD %d at %s: %w", st.LastFD, st.LastFDTime.Format("2006-01-02 15:04"), ErrBadTime)
	}
	if st.unsent() > 0 && now.Sub(st.FirstUnsentTime) > e.limits.OFDMax {
		return fmt.Errorf("FD %d unsent since %s: %w", st.AckedThrough+1, st.FirstUnsentTime.Format("2006-01-02 15:04"), ErrOFDBacklog)
	}
	switch typ {
	case fiscal.DocShiftOpen:
		if st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftOpen)
		}
	case fiscal.DocShiftClose:
		if !st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftClosed)
		}
	case fiscal.DocReceipt, fiscal.DocCorrection:
		if !st.ShiftOpen {
			return ErrShiftClosed
		}
		if now.Sub(st.ShiftOpenedAt) > e.limits.ShiftMax {
			return fmt.Errorf("shift %d opened %s: %w", st.Shift, st.ShiftOpenedAt.Format("2006-01-02 15:04"), ErrShiftExpired)
		}
	case fiscal.DocRegistrationChange, fiscal.DocDriveClose:
		if st.ShiftOpen {
			return fmt.Errorf("shift %d: %w", st.Shift, ErrShiftOpen)
		}
	}
	return nil
}

// checkElements refuses the drive's own tags and, for receipts, a 1054 or
// 1020 that disagrees with what the register declared; a registration must
// carry 1037.
func checkElements(typ fiscal.Tag, els []fiscal.RawElement, r *ReceiptDoc) error {
	var sign, total bool
	for _, el := range els {
		if driveTags[el.Tag] {
			return fmt.Errorf("tag %d at offset %d is the drive's own: %w", el.Tag, el.Offset, ErrBadParam)
		}
		if r == nil {
			continue
		}
		switch el.Tag {
		case tagCalcSign:
			if len(el.Value) != 1 || fiscal.CalcSign(el.Value[0]) != r.Sign {
				return fmt.Errorf("tag 1054 at offset %d: % x, declared %d: %w", el.Offset, el.Value, r.Sign, ErrBadParam)
			}
			sign = true
		case tagTotal:
			v, err := fiscal.VLN(el.Value)
			if err != nil || v != r.Total {
				return fmt.Errorf("tag 1020 at offset %d: % x, declared %d: %w", el.Offset, el.Value, r.Total, ErrBadParam)
			}
			total = true
		}
	}
	if r != nil && (!sign || !total) {
		return fmt.Errorf("receipt without 1054 or 1020: %w", ErrBadParam)
	}
	if typ == fiscal.DocRegistration && regNumber(els) == "" {
		return fmt.Errorf("registration without 1037: %w", ErrBadParam)
	}
	return nil
}

func regNumber(els []fiscal.RawElement) string {
	for _, el := range els {
		if el.Tag == tagRegNumber {
			return fiscal.DecodeString(el.Value)
		}
	}
	return ""
}
