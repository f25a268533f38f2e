package fn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
)

// NextMessage returns the container of the first unsent document, in the drive's order.
func (e *Emulator) NextMessage(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.st.AckedThrough >= e.durableFD {
		if e.st.unsent() == 0 {
			return nil, nil
		}
		// The OFD gets only documents a power cut cannot take back.
		if err := e.syncLocked(); err != nil {
			return nil, fmt.Errorf("fn: OFD message: %w", err)
		}
	}
	fd := e.st.AckedThrough + 1
	rec, err := e.record(fd)
	var msg []byte
	if err == nil {
		var a Archived
		if a, err = archivedFrom(fd, rec, false); err == nil {
			c := ofd.Container{
				MessageType: ofd.MessageTypeFiscal,
				DocType:     a.Type,
				DriveNumber: e.number,
				FD:          fd,
				Document:    a.TLV,
				Sign:        fiscal.MessageSign(e.key, a.TLV),
			}
			msg, err = c.Append(nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("fn: OFD message of FD %d: %w", fd, err)
	}
	return msg, nil
}

// ofdAck is the content of an operator acknowledgement (document 7).
type ofdAck struct {
	driveNumber string
	fd          uint32
	code        byte
	message     []byte // the whole 1068 when it says more than 1022: the operator's message
	doc         []byte // the acknowledgement's STLV 7
}

// parseAck checks an acknowledgement container: STLV 7 with 1017, 1041, 1040,
// 1012, 1068 {1022} and 1078. With ofdKey set it is strict: those tags in this
// order and nothing else, the container's trailing sign and the ФПО (1078)
// verifying. Without it, as from an OFD that has no fiscal crypto, the tags
// are read by tag in any order, and 1078 and the trailing sign may be absent.
func parseAck(ack, ofdKey []byte) (ofdAck, error) {
	var a ofdAck
	c, err := ofd.ParseContainer(ack)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrBadAck, err)
	}
	doc, _, err := fiscal.NextElement(c.Document, 0)
	if err != nil && ofdKey == nil && len(ack) > ofd.ContainerHeaderLen {
		// No trailing sign: the document runs to the container's end.
		whole := ack[ofd.ContainerHeaderLen:]
		if d, n, err2 := fiscal.NextElement(whole, 0); err2 == nil && n == len(whole) {
			doc, err = d, nil
		}
	}
	if err != nil {
		return a, fmt.Errorf("%w: document at container offset %d: %w", ErrBadAck, ofd.ContainerHeaderLen, err)
	}
	if doc.Tag != fiscal.DocOperatorAck {
		return a, fmt.Errorf("%w: document type %d, want 7", ErrBadAck, doc.Tag)
	}
	a.doc = fiscal.AppendTLV(nil, doc.Tag, doc.Value)
	if ofdKey != nil {
		if s := fiscal.MessageSign(ofdKey, c.Document); !hmac.Equal(s[:], c.Sign[:]) {
			return a, fmt.Errorf("%w: container sign does not verify", ErrBadAck)
		}
	}
	order := []fiscal.Tag{tagOFDINN, tagDriveNumber, tagFD, tagDateTime, tagOFDMessage, tagOperatorSign}
	seen := map[fiscal.Tag]bool{}
	for off, i := 0, 0; off < len(doc.Value); i++ {
		el, next, err := fiscal.NextElement(doc.Value, off)
		if err != nil {
			return a, fmt.Errorf("%w: element %d at offset %d: %w", ErrBadAck, i, off, err)
		}
		if ofdKey != nil && (i >= len(order) || el.Tag != order[i]) {
			return a, fmt.Errorf("%w: tag %d at offset %d, element %d of %v", ErrBadAck, el.Tag, off, i, order)
		}
		if seen[el.Tag] {
			return a, fmt.Errorf("%w: tag %d again at offset %d", ErrBadAck, el.Tag, off)
		}
		seen[el.Tag] = true
		switch el.Tag {
		case tagDriveNumber:
			a.driveNumber = string(el.Value)
		case tagFD:
			if len(el.Value) != 4 {
				return a, fmt.Errorf("%w: tag 1040 at offset %d of %d bytes, want 4", ErrBadAck, off, len(el.Value))
			}
			a.fd = binary.LittleEndian.Uint32(el.Value)
		case tagOFDMessage:
			ins, err := fiscal.SplitElements(el.Value)
			found := false
			for _, in := range ins {
				if in.Tag == tagOFDResponse && len(in.Value) == 1 {
					a.code, found = in.Value[0], true
				}
			}
			if err != nil || !found {
				return a, fmt.Errorf("%w: tag 1068 at offset %d: want 1022 of one byte in it", ErrBadAck, off)
			}
			if len(ins) > 1 {
				a.message = fiscal.AppendTLV(nil, el.Tag, el.Value)
			}
		case tagOperatorSign:
			if ofdKey != nil && !hmac.Equal(el.Value, fiscal.OperatorSign(ofdKey, doc.Value[:off])) {
				return a, fmt.Errorf("%w: ФПО (1078) does not verify", ErrBadAck)
			}
		}
		off = next
	}
	need := order[:5]
	if ofdKey != nil {
		need = order
	}
	for _, t := range need {
		if !seen[t] {
			return a, fmt.Errorf("%w: no tag %d", ErrBadAck, t)
		}
	}
	return a, nil
}

// Acknowledge takes the OFD's acknowledgement: it acknowledges its document
// and every earlier one. It is durable once Sync, or another call that syncs,
// returns.
func (e *Emulator) Acknowledge(ctx context.Context, ack []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a, err := parseAck(ack, e.ofdKey)
	if err != nil {
		return fmt.Errorf("fn: acknowledgement: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.admitAck(a); err != nil || a.fd <= e.st.AckedThrough {
		return err
	}
	st := e.st
	err = e.acknowledged(&st, a.fd)
	if err == nil {
		err = e.commit(&st, 0, a.doc)
	}
	if err != nil {
		return fmt.Errorf("fn: acknowledgement for FD %d: %w", a.fd, err)
	}
	e.log.Debug("fn: acknowledged", "fd", a.fd)
	return nil
}

// storedAck is an acknowledgement the drive keeps: its STLV 7, as the OFD
// sent it, and the FD it acknowledged.
type storedAck struct {
	fd  uint32
	doc []byte
}

// Acknowledgement is the OFD's acknowledgement of FD fd as the drive keeps it
// (41h): its STLV 7, as the OFD sent it. It is ErrNoDocument for a document
// not acknowledged, or acknowledged only by a later document's
// acknowledgement, which acknowledges every one before it.
func (e *Emulator) Acknowledgement(ctx context.Context, fd uint32) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if fd == 0 || fd > e.st.AckedThrough {
		return nil, fmt.Errorf("fn: FD %d not acknowledged (last %d, acknowledged through %d): %w", fd, e.st.LastFD, e.st.AckedThrough, ErrNoDocument)
	}
	for _, a := range e.pendingAcks {
		if a.fd == fd {
			return bytes.Clone(a.doc), nil
		}
	}
	doc, err := e.stored(bucketAcks, fd)
	if err == nil && doc == nil {
		err = fmt.Errorf("fn: FD %d acknowledged by a later document's acknowledgement, none of its own kept: %w", fd, ErrNoDocument)
	}
	return doc, err
}

// takeOldAck takes the acknowledgement a state from before acknowledgements
// were kept by FD holds, as one journaled since the last checkpoint unless it
// is the last one taken already, and clears it from st.
func (e *Emulator) takeOldAck(st *driveState) {
	if n := len(e.pendingAcks); st.OldLastAckFD != 0 && (n == 0 || e.pendingAcks[n-1].fd < st.OldLastAckFD) {
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.OldLastAckFD, doc: bytes.Clone(st.OldLastAck)})
	}
	st.OldLastAck, st.OldLastAckFD = nil, 0
}

// admitAck checks an acknowledgement against the drive's queue.
func (e *Emulator) admitAck(a ofdAck) error {
	switch {
	case a.driveNumber != e.number:
		return fmt.Errorf("fn: acknowledgement for drive %q, this is %s: %w", a.driveNumber, e.number, ErrBadAck)
	case a.fd <= e.st.AckedThrough:
		return nil
	case a.fd > e.st.LastFD:
		return fmt.Errorf("fn: acknowledgement for FD %d, unsent are %d–%d: %w", a.fd, e.st.AckedThrough+1, e.st.LastFD, ErrBadAck)
	case a.code != 0:
		return fmt.Errorf("fn: acknowledgement for FD %d: response code %d (1022): %w", a.fd, a.code, ErrOFDRejected)
	}
	return nil
}

// acknowledged moves st's acknowledged FD up to fd, and its first unsent
// document's time to the next one's.
func (e *Emulator) acknowledged(st *driveState, fd uint32) error {
	st.AckedThrough, st.FirstUnsentTime = fd, time.Time{}
	if st.unsent() == 0 {
		return nil
	}
	rec, err := e.record(fd + 1)
	if err != nil {
		return err
	}
	a, err := archivedFrom(fd+1, rec, false)
	st.FirstUnsentTime = a.Time
	return err
}
