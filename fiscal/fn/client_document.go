package fn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// document sends a begin command, the TLV in 07h blocks and the finish
// command, and returns the finish's answer. It never signs twice: a begin
// or a block whose answer was lost cancels (06h) and begins again; a finish
// whose answer was lost has the client read the drive's status, and the
// last document when the drive has signed it, before it goes on.
func (c *Client) document(ctx context.Context, begin byte, beginData, tlv []byte, finish byte, finishData []byte, sizes ...int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fdKnown {
		st, err := c.status(ctx)
		if err != nil {
			return nil, err
		}
		if st.inProgress != 0 { // left over from before: a public client cancels it too
			if _, err := c.call(ctx, cmdCancel, nil, 0); err != nil {
				return nil, err
			}
		}
	}
	for attempt := 0; ; attempt++ {
		ans, err := c.sendDocument(ctx, begin, beginData, tlv, finish, finishData, sizes)
		if err == nil || !errors.Is(err, errResendDocument) || attempt >= c.retries {
			if err != nil && !errors.Is(err, errResendDocument) {
				err = c.refusal(context.WithoutCancel(ctx), begin, err)
			}
			if err != nil {
				// What became of it may be unknown: the next document reads 30h first.
				c.fdKnown = false
			}
			return ans, err
		}
		c.log.Warn("fn: document begun again", "begin", hex2(begin), "attempt", attempt+1, "err", err)
	}
}

var errResendDocument = errors.New("fn: document interrupted")

// cancel ends the document in progress, if any; its failure is logged only,
// as the next begin finds out anyway.
func (c *Client) cancel(ctx context.Context) {
	if _, err := c.call(context.WithoutCancel(ctx), cmdCancel, nil, 0); err != nil {
		c.log.Warn("fn: cancel failed", "err", err)
	}
}

func (c *Client) sendDocument(ctx context.Context, begin byte, beginData, tlv []byte, finish byte, finishData []byte, sizes []int) ([]byte, error) {
	before := c.lastFD
	for attempt := 0; ; attempt++ {
		_, err := c.roundTrip(ctx, begin, beginData, 0)
		if err == nil {
			break
		}
		if lost(err) && attempt < c.retries {
			c.cancel(ctx) // it may have begun
			continue
		}
		if notUnderstood(err) && attempt < c.retries {
			continue
		}
		if errors.Is(err, ErrState) {
			// A document left begun (its cancel lost on the line) is
			// cancelled first; otherwise the status tells what 02h means.
			st, serr := c.status(ctx)
			switch {
			case serr != nil:
			case st.inProgress != 0 && attempt < c.retries:
				c.cancel(ctx)
				continue
			default:
				return nil, c.classify(begin, err, st)
			}
		}
		return nil, err
	}
	for off := 0; off < len(tlv); off += MaxChunk {
		chunk := tlv[off:min(off+MaxChunk, len(tlv))]
		var err error
		for attempt := 0; ; attempt++ {
			if _, err = c.roundTrip(ctx, cmdData, chunk, 0); err == nil || !notUnderstood(err) || attempt >= c.retries {
				break
			}
		}
		if err != nil {
			c.cancel(ctx)
			if lost(err) { // the drive may hold the block or not: begin again
				return nil, fmt.Errorf("%w: 07h at TLV offset %d: %w", errResendDocument, off, err)
			}
			return nil, fmt.Errorf("fn: 07h at TLV offset %d: %w", off, err)
		}
	}
	for attempt := 0; ; attempt++ {
		ans, err := c.roundTrip(ctx, finish, finishData, sizes...)
		switch {
		case err == nil:
			c.lastFD, c.fdKnown = binary.LittleEndian.Uint32(ans[len(ans)-8:]), true
			return ans, nil
		case notUnderstood(err) && attempt < c.retries:
			continue // the drive keeps the document after a 01h
		case lost(err) && attempt < c.retries:
			ans, again, rerr := c.recoverFinish(ctx, finish, before)
			if rerr != nil {
				return nil, fmt.Errorf("fn: %s answer lost (%w), then: %w", hex2(finish), err, rerr)
			}
			if ans != nil {
				return ans, nil
			}
			if again {
				continue
			}
			return nil, fmt.Errorf("%w: %s answer lost and nothing signed: %w", errResendDocument, hex2(finish), err)
		case err != nil && !lost(err):
			c.cancel(ctx) // a drive that keeps a refused document has it no more
		}
		return nil, err
	}
}

// recoverFinish finds out what became of a finish whose answer was lost: a
// signed document's answer rebuilt from the drive's status and archive; or
// again when the document is still in progress, so the finish is sent again;
// or neither when the drive ended the document unsigned.
func (c *Client) recoverFinish(ctx context.Context, finish byte, before uint32) (ans []byte, again bool, err error) {
	c.log.Warn("fn: finish answer lost; reading the drive's state", "cmd", hex2(finish))
	st, err := c.status(ctx)
	if err != nil {
		return nil, false, err
	}
	if st.lastFD == before {
		return nil, st.inProgress != 0, nil
	}
	// Signed: 40h gives the ФП, 10h the shift and the receipt's number.
	fd := st.lastFD
	a, err := c.call(ctx, cmdFindDocument, binary.LittleEndian.AppendUint32(nil, fd))
	if err != nil {
		return nil, false, err
	}
	if len(a) < 15 {
		return nil, false, fmt.Errorf("fn: 40h FD %d: answer of %d bytes: %w", fd, len(a), ErrFrame)
	}
	if want := signedType(finish); !want[a[0]] {
		return nil, false, fmt.Errorf("fn: the lost %s: the drive's last document, FD %d, is of type %d: %w", hex2(finish), fd, a[0], ErrState)
	}
	fp := binary.LittleEndian.Uint32(a[11:])
	var out []byte
	switch finish {
	case cmdFinishShiftOpen, cmdFinishShiftClose, cmdFinishReceipt:
		sp, err := c.call(ctx, cmdShiftParams, nil, shiftLen)
		if err != nil {
			return nil, false, err
		}
		n := sp[1:3] // shift
		if finish == cmdFinishReceipt {
			n = sp[3:5] // receipts in the shift: this one's number
		}
		out = append(out, n...)
	}
	out = binary.LittleEndian.AppendUint32(out, fd)
	c.log.Info("fn: the lost finish was signed", "cmd", hex2(finish), "fd", fd)
	return binary.LittleEndian.AppendUint32(out, fp), false, nil
}

// signedType is the FFD document types a finish command signs.
func signedType(finish byte) map[byte]bool {
	switch finish {
	case cmdFinishRegistration:
		return map[byte]bool{1: true, 11: true}
	case cmdFinishClose:
		return map[byte]bool{6: true}
	case cmdFinishShiftOpen:
		return map[byte]bool{2: true}
	case cmdFinishShiftClose:
		return map[byte]bool{5: true}
	case cmdFinishReceipt:
		return map[byte]bool{3: true, 31: true}
	case cmdFinishStateReport:
		return map[byte]bool{21: true}
	}
	return nil
}
