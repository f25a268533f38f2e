package fn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// ClientOptions configures NewClient.
type ClientOptions struct {
	// Timeout is how long to wait for each answer; default 3 s. Signing on a
	// real drive may take longer than the drivers' customary 3 s.
	Timeout time.Duration
	// Retries is how many times a command is sent again after a CRC error or
	// a timeout (a document is begun again); 0 takes the default 2, -1 none.
	Retries int
	Logger  *slog.Logger
}

// Client is the register's end of the drive exchange. It implements Drive over
// a serial port (board.OpenSerial) or any byte stream, with one frame in flight.
type Client struct {
	rw      io.ReadWriter
	fr      *frameReader
	timeout time.Duration
	retries int
	log     *slog.Logger

	mu    sync.Mutex
	dirty bool // a frame went wrong: drop stale input before the next command
}

// NewClient makes a Client speaking on rw. Answers time out only when rw has
// a read timeout (a serial port) or read deadlines (a file or connection).
func NewClient(rw io.ReadWriter, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = 2
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		rw:      rw,
		fr:      &frameReader{r: rw, log: opts.Logger, side: "register"},
		timeout: opts.Timeout,
		retries: opts.Retries,
		log:     opts.Logger,
	}
}

// transient errors are worth sending the command again for.
func transient(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrFrameCRC) || errors.Is(err, errCRCRequest)
}

// roundTrip sends one command and reads its answer; the caller holds c.mu.
func (c *Client) roundTrip(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.dirty {
		c.fr.discard(20 * time.Millisecond)
		c.dirty = false
	}
	frame, err := AppendFrame(nil, cmd, data)
	if err != nil {
		return nil, err
	}
	if _, err := c.rw.Write(frame); err != nil {
		c.dirty = true
		return nil, fmt.Errorf("fn: command %s: writing: %w", hex2(cmd), err)
	}
	code, ans, err := c.fr.next(ctx, time.Now().Add(c.timeout))
	if err != nil {
		c.dirty = true
		return nil, fmt.Errorf("fn: command %s: %w", hex2(cmd), err)
	}
	a := Answer{Code: Code(code & 0x7F), Data: ans}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("fn: command %s: %w", hex2(cmd), err)
	}
	return a.Data, nil
}

// call is roundTrip, sent again on a CRC error or a timeout.
func (c *Client) call(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		ans, err := c.roundTrip(ctx, cmd, data)
		if err == nil || !transient(err) || attempt >= c.retries {
			// After a resend the drive may still owe an answer to an earlier copy.
			c.dirty = c.dirty || attempt > 0
			return ans, err
		}
		c.log.Warn("fn: sending again", "cmd", hex2(cmd), "attempt", attempt+1, "err", err)
	}
}

func (c *Client) do(ctx context.Context, cmd byte, data []byte, want int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked(ctx, cmd, data, want)
}

// checked is call with the answer's length checked; want < 0 takes any length.
func (c *Client) checked(ctx context.Context, cmd byte, data []byte, want int) ([]byte, error) {
	ans, err := c.call(ctx, cmd, data)
	if err != nil {
		return nil, err
	}
	if want >= 0 && len(ans) < want {
		return nil, fmt.Errorf("fn: command %s: answer of %d bytes, want %d: %w", hex2(cmd), len(ans), want, ErrFrame)
	}
	return ans, nil
}

// State asks 30h, 10h, 20h, 32h and 43h.
func (c *Client) State(ctx context.Context) (State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st State
	a, err := c.checked(ctx, cmdStatus, nil, 29)
	if err != nil {
		return st, err
	}
	st.Phase, st.ShiftOpen, st.Warnings = Phase(a[0]), a[2] != 0, Warnings(a[3])
	if st.LastFDTime, err = parseDate(a[4:9]); err != nil {
		return st, fmt.Errorf("fn: 30h answer offset 4: %w: %w", ErrFrame, err)
	}
	st.DriveNumber = string(a[9:25])
	st.LastFD = binary.LittleEndian.Uint32(a[25:])

	if a, err = c.checked(ctx, cmdShiftParams, nil, 10); err != nil {
		return st, err
	}
	st.Shift = uint32(binary.LittleEndian.Uint16(a[1:]))
	st.ReceiptsInShift = uint32(binary.LittleEndian.Uint16(a[3:]))
	if st.ShiftOpenedAt, err = parseDate(a[5:]); err != nil {
		return st, fmt.Errorf("fn: 10h answer offset 5: %w: %w", ErrFrame, err)
	}

	if a, err = c.checked(ctx, cmdOFDStatus, nil, 11); err != nil {
		return st, err
	}
	st.Unsent = uint32(binary.LittleEndian.Uint16(a))
	st.FirstUnsentFD = binary.LittleEndian.Uint32(a[2:])
	if st.FirstUnsentTime, err = parseDate(a[6:]); err != nil {
		return st, fmt.Errorf("fn: 20h answer offset 6: %w: %w", ErrFrame, err)
	}

	if a, err = c.checked(ctx, cmdValid, nil, 5); err != nil {
		return st, err
	}
	if st.ValidUntil, err = parseDate(a); err != nil {
		return st, fmt.Errorf("fn: 32h answer: %w: %w", ErrFrame, err)
	}

	if a, err = c.checked(ctx, cmdRegParams, nil, 0); err != nil {
		return st, err
	}
	st.RegNumber = string(a)
	return st, nil
}

// document sends begin, the TLV in 07h chunks, and finish; on a failure before
// finish it cancels (06h), and on a transport failure it begins again.
func (c *Client) document(ctx context.Context, begin, finish byte, tlv, finishData []byte, want int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		ans, err := c.sendDocument(ctx, begin, finish, tlv, finishData, want)
		if err == nil || !errors.Is(err, errResendDocument) || attempt >= c.retries {
			return ans, err
		}
		c.log.Warn("fn: document begun again", "begin", hex2(begin), "attempt", attempt+1, "err", err)
	}
}

var errResendDocument = errors.New("fn: document interrupted")

func (c *Client) sendDocument(ctx context.Context, begin, finish byte, tlv, finishData []byte, want int) ([]byte, error) {
	if _, err := c.call(ctx, begin, nil); err != nil {
		return nil, err
	}
	for off := 0; off < len(tlv); off += MaxChunk {
		chunk := tlv[off:min(off+MaxChunk, len(tlv))]
		// 07h is not sent again on its own: the drive may have taken the chunk.
		if _, err := c.roundTrip(ctx, cmdData, chunk); err != nil {
			if _, cerr := c.call(context.WithoutCancel(ctx), cmdCancel, nil); cerr != nil {
				c.log.Warn("fn: cancel failed", "err", cerr)
			}
			if transient(err) {
				return nil, fmt.Errorf("%w: 07h at TLV offset %d: %w", errResendDocument, off, err)
			}
			return nil, fmt.Errorf("fn: 07h at TLV offset %d: %w", off, err)
		}
	}
	// The drive answers a repeated finish again rather than signing twice.
	return c.checked(ctx, finish, finishData, want)
}

// Register signs the registration report: 02h, 07h…, 03h.
func (c *Client) Register(ctx context.Context, d Doc) (Signed, error) {
	return c.registration(ctx, d, 0)
}

// ChangeRegistration signs a registration change report: 02h, 07h…, 03h with kind 1.
func (c *Client) ChangeRegistration(ctx context.Context, d Doc) (Signed, error) {
	return c.registration(ctx, d, 1)
}

func (c *Client) registration(ctx context.Context, d Doc, kind byte) (Signed, error) {
	a, err := c.document(ctx, cmdBeginRegistration, cmdFinishRegistration, d.TLV, append(appendDate(nil, d.Time), kind), 8)
	if err != nil {
		return Signed{}, err
	}
	sg := Signed{FD: binary.LittleEndian.Uint32(a), FPD: binary.LittleEndian.Uint32(a[4:]), Time: wallMinute(d.Time)}
	if kind == 1 {
		st, err := c.shiftParams(ctx)
		if err != nil {
			return sg, err
		}
		sg.Shift = st
	}
	return sg, nil
}

func (c *Client) shiftParams(ctx context.Context) (uint32, error) {
	a, err := c.do(ctx, cmdShiftParams, nil, 10)
	if err != nil {
		return 0, err
	}
	return uint32(binary.LittleEndian.Uint16(a[1:])), nil
}

// OpenShift signs a shift open report: 11h, 07h…, 12h.
func (c *Client) OpenShift(ctx context.Context, d Doc) (Signed, error) {
	return c.shiftDoc(ctx, cmdBeginShiftOpen, cmdFinishShiftOpen, d)
}

// CloseShift signs a shift close report: 13h, 07h…, 14h.
func (c *Client) CloseShift(ctx context.Context, d Doc) (Signed, error) {
	return c.shiftDoc(ctx, cmdBeginShiftClose, cmdFinishShiftClose, d)
}

func (c *Client) shiftDoc(ctx context.Context, begin, finish byte, d Doc) (Signed, error) {
	a, err := c.document(ctx, begin, finish, d.TLV, appendDate(nil, d.Time), 10)
	if err != nil {
		return Signed{}, err
	}
	return Signed{
		Shift: uint32(binary.LittleEndian.Uint16(a)),
		FD:    binary.LittleEndian.Uint32(a[2:]),
		FPD:   binary.LittleEndian.Uint32(a[6:]),
		Time:  wallMinute(d.Time),
	}, nil
}

// Receipt signs a receipt (15h) or correction (17h), 07h…, 16h.
func (c *Client) Receipt(ctx context.Context, r ReceiptDoc) (Signed, error) {
	if r.Total >= 1<<40 {
		return Signed{}, fmt.Errorf("fn: receipt total %d does not fit 5 bytes: %w", r.Total, ErrBadParam)
	}
	begin := byte(cmdBeginReceipt)
	if r.Correction {
		begin = cmdBeginCorrection
	}
	fin := appendDate(nil, r.Time)
	fin = append(fin, byte(r.Sign))
	for i := 0; i < 5; i++ {
		fin = append(fin, byte(r.Total>>(8*i)))
	}
	a, err := c.document(ctx, begin, cmdFinishReceipt, r.TLV, fin, 12)
	if err != nil {
		return Signed{}, err
	}
	return Signed{
		Number: uint32(binary.LittleEndian.Uint16(a)),
		FD:     binary.LittleEndian.Uint32(a[2:]),
		FPD:    binary.LittleEndian.Uint32(a[6:]),
		Shift:  uint32(binary.LittleEndian.Uint16(a[10:])),
		Time:   wallMinute(r.Time),
	}, nil
}

// StateReport signs a current state report: 18h, 07h…, 19h.
func (c *Client) StateReport(ctx context.Context, d Doc) (Signed, error) {
	a, err := c.document(ctx, cmdBeginStateReport, cmdFinishStateReport, d.TLV, appendDate(nil, d.Time), 10)
	if err != nil {
		return Signed{}, err
	}
	return Signed{
		FD:    binary.LittleEndian.Uint32(a),
		FPD:   binary.LittleEndian.Uint32(a[4:]),
		Shift: uint32(binary.LittleEndian.Uint16(a[8:])),
		Time:  wallMinute(d.Time),
	}, nil
}

// CloseDrive signs the drive close report: 04h, 07h…, 05h.
func (c *Client) CloseDrive(ctx context.Context, d Doc) (Signed, error) {
	a, err := c.document(ctx, cmdBeginClose, cmdFinishClose, d.TLV, appendDate(nil, d.Time), 8)
	if err != nil {
		return Signed{}, err
	}
	return Signed{FD: binary.LittleEndian.Uint32(a), FPD: binary.LittleEndian.Uint32(a[4:]), Time: wallMinute(d.Time)}, nil
}

// Document reads an archived document: 40h, 41h, then 45h and 46h blocks.
func (c *Client) Document(ctx context.Context, fd uint32) (Archived, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	num := binary.LittleEndian.AppendUint32(nil, fd)
	a, err := c.checked(ctx, cmdFindDocument, num, 8)
	if err != nil {
		return Archived{}, err
	}
	out := Archived{FD: fd, Type: fiscal.Tag(binary.LittleEndian.Uint16(a)), FPD: binary.LittleEndian.Uint32(a[2:])}
	size := int(binary.LittleEndian.Uint16(a[6:]))
	if a, err = c.checked(ctx, cmdDocumentAck, num, 1); err != nil {
		return Archived{}, err
	}
	out.Acked = a[0] != 0
	if _, err = c.checked(ctx, cmdReadTLVStart, num, 2); err != nil {
		return Archived{}, err
	}
	for len(out.TLV) < size {
		block, err := c.checked(ctx, cmdReadTLV, nil, 1)
		if err != nil {
			return Archived{}, fmt.Errorf("fn: FD %d at TLV offset %d: %w", fd, len(out.TLV), err)
		}
		out.TLV = append(out.TLV, block...)
	}
	if len(out.TLV) != size {
		return Archived{}, fmt.Errorf("fn: FD %d: read %d TLV bytes, 40h said %d: %w", fd, len(out.TLV), size, ErrFrame)
	}
	doc, _, err := fiscal.NextElement(out.TLV, 0)
	if err != nil {
		return Archived{}, fmt.Errorf("fn: FD %d: %w", fd, err)
	}
	if out.Time, err = docTime(doc.Value); err != nil {
		return Archived{}, fmt.Errorf("fn: FD %d: %w", fd, err)
	}
	return out, nil
}

// NextMessage reads the first unsent document's container: 22h, 23h blocks, 25h.
func (c *Client) NextMessage(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.checked(ctx, cmdMessageStart, nil, 2)
	if err != nil {
		return nil, err
	}
	size := int(binary.LittleEndian.Uint16(a))
	if size == 0 {
		return nil, nil
	}
	msg := make([]byte, 0, size)
	for len(msg) < size {
		n := min(MaxChunk, size-len(msg))
		req := binary.LittleEndian.AppendUint16(nil, uint16(len(msg)))
		req = binary.LittleEndian.AppendUint16(req, uint16(n))
		block, err := c.checked(ctx, cmdMessageRead, req, n)
		if err != nil {
			if _, cerr := c.call(context.WithoutCancel(ctx), cmdMessageCancel, nil); cerr != nil {
				c.log.Warn("fn: cancel reading failed", "err", cerr)
			}
			return nil, fmt.Errorf("fn: OFD message at offset %d: %w", len(msg), err)
		}
		msg = append(msg, block[:n]...)
	}
	if _, err := c.call(ctx, cmdMessageFinish, nil); err != nil {
		return nil, err
	}
	return msg, nil
}

// Sync implements Drive: a drive answers only once a document is in its
// memory, so every document it answered for is durable already.
func (c *Client) Sync(ctx context.Context) error { return ctx.Err() }

// Acknowledge hands the OFD's acknowledgement to the drive: 26h.
func (c *Client) Acknowledge(ctx context.Context, ack []byte) error {
	a, err := c.do(ctx, cmdAcknowledge, ack, 1)
	if err != nil {
		return err
	}
	if a[0] != 0 {
		return fmt.Errorf("fn: 26h: OFD response code %d: %w", a[0], ErrOFDRejected)
	}
	return nil
}

// FailNextWrites asks an emulated drive (E0h) to fail its next n writes.
func (c *Client) FailNextWrites(ctx context.Context, n int) error {
	_, err := c.do(ctx, cmdFailWrites, binary.LittleEndian.AppendUint32(nil, uint32(n)), 0)
	return err
}

// SetMemoryFull asks an emulated drive (E1h) to report its archive full.
func (c *Client) SetMemoryFull(ctx context.Context, full bool) error {
	_, err := c.do(ctx, cmdSetMemoryFull, []byte{boolByte(full)}, 0)
	return err
}

// ExpireKey asks an emulated drive (E2h) to end its key's validity.
func (c *Client) ExpireKey(ctx context.Context) error {
	_, err := c.do(ctx, cmdExpireKey, nil, 0)
	return err
}

// SetSignDelay asks an emulated drive (E3h) to take d to sign.
func (c *Client) SetSignDelay(ctx context.Context, d time.Duration) error {
	_, err := c.do(ctx, cmdSetSignDelay, binary.LittleEndian.AppendUint32(nil, uint32(d/time.Millisecond)), 0)
	return err
}

var (
	_ Drive = (*Client)(nil)
	_ Drive = (*Emulator)(nil)
)
