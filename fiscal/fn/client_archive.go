package fn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/openkassa/kassa/fiscal"
)

// Document reads an archived document: 40h for its kind, acknowledgement and
// ФП, then 45h and one 46h per TLV.
func (c *Client) Document(ctx context.Context, fd uint32) (Archived, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	num := binary.LittleEndian.AppendUint32(nil, fd)
	a, err := c.call(ctx, cmdFindDocument, num)
	if err != nil {
		return Archived{}, err
	}
	if len(a) < 15 {
		return Archived{}, fmt.Errorf("fn: 40h FD %d: answer of %d bytes, want at least 15: %w", fd, len(a), ErrFrame)
	}
	out := Archived{FD: fd, Acked: a[1] != 0, FPD: binary.LittleEndian.Uint32(a[11:])}
	if got := binary.LittleEndian.Uint32(a[7:]); got != fd {
		return Archived{}, fmt.Errorf("fn: 40h FD %d: answer offset 7 names FD %d: %w", fd, got, ErrFrame)
	}
	h, err := c.call(ctx, cmdReadTLVStart, num, 4)
	if err != nil {
		return Archived{}, err
	}
	out.Type = fiscal.Tag(binary.LittleEndian.Uint16(h))
	size := int(binary.LittleEndian.Uint16(h[2:]))
	value := make([]byte, 0, size)
	for len(value) < size {
		el, err := c.call(ctx, cmdReadTLV, nil)
		if err != nil {
			return Archived{}, fmt.Errorf("fn: FD %d at TLV offset %d: %w", fd, len(value), err)
		}
		if _, n, err := fiscal.NextElement(el, 0); err != nil || n != len(el) {
			return Archived{}, fmt.Errorf("fn: FD %d: 46h at TLV offset %d is not one TLV (%v): %w", fd, len(value), err, ErrFrame)
		}
		value = append(value, el...)
	}
	if len(value) != size {
		return Archived{}, fmt.Errorf("fn: FD %d: read %d TLV bytes, 45h said %d: %w", fd, len(value), size, ErrFrame)
	}
	out.TLV = fiscal.AppendTLV(nil, out.Type, value)
	if out.Time, err = docTime(value); err != nil {
		return Archived{}, fmt.Errorf("fn: FD %d: %w", fd, err)
	}
	return out, nil
}

// Acknowledgement reads the OFD's acknowledgement of FD fd that the drive
// keeps: 41h. The answer is the bytes as the drive stores them (the emulated
// drive: the acknowledgement's STLV 7); a 08h, ErrNoDocument, is a document
// not acknowledged, or without an acknowledgement of its own.
func (c *Client) Acknowledgement(ctx context.Context, fd uint32) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.call(ctx, cmdDocumentAck, binary.LittleEndian.AppendUint32(nil, fd))
	if err != nil {
		return nil, fmt.Errorf("fn: acknowledgement of FD %d: %w", fd, err)
	}
	if len(a) == 0 {
		return nil, fmt.Errorf("fn: acknowledgement of FD %d: 41h answered no bytes: %w", fd, ErrFrame)
	}
	return a, nil
}

// NextMessage reads the first unsent document's container: 22h, 23h blocks,
// 25h. A 22h answered 08h means nothing is unsent.
func (c *Client) NextMessage(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.call(ctx, cmdMessageStart, nil, 2)
	if errors.Is(err, ErrNoDocument) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	size := int(binary.LittleEndian.Uint16(a))
	msg := make([]byte, 0, size)
	for len(msg) < size {
		n := min(MaxChunk, size-len(msg))
		req := binary.LittleEndian.AppendUint16(nil, uint16(len(msg)))
		req = binary.LittleEndian.AppendUint16(req, uint16(n))
		block, err := c.call(ctx, cmdMessageRead, req, n)
		if err != nil {
			if _, cerr := c.call(context.WithoutCancel(ctx), cmdMessageCancel, nil, 0); cerr != nil {
				c.log.Warn("fn: cancel reading failed", "err", cerr)
			}
			return nil, fmt.Errorf("fn: OFD message at offset %d: %w", len(msg), err)
		}
		msg = append(msg, block...)
	}
	// A 25h sent again after a lost answer finds the reading finished (02h):
	// the message is read either way.
	if _, err := c.call(ctx, cmdMessageFinish, nil, 0); err != nil && !errors.Is(err, ErrState) {
		return nil, err
	}
	return msg, nil
}
