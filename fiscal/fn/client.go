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
	// Timeout is how long to wait for the answer to a command that does not
	// sign: status, data, reading; default 3 s, the public drivers' deadline.
	Timeout time.Duration
	// SignTimeout is how long to wait for the answer to a finish command
	// (03h, 05h, 12h, 14h, 16h, 19h) or an acknowledgement (26h), which a
	// real drive answers only once it has signed and written; default 15 s.
	SignTimeout time.Duration
	// Retries is how many times a command is sent again after a lost or
	// garbled answer or a 01h; 0 takes the default 2, -1 none. A finish
	// whose answer was lost is never simply sent again: the client reads the
	// drive's state and last document first, so nothing is signed twice.
	Retries int
	Logger  *slog.Logger
}

// Client is the register's end of the drive exchange. It implements Drive over
// a serial port (board.OpenSerial) or any byte stream, with one frame in flight.
type Client struct {
	rw          io.ReadWriter
	fr          *frameReader
	timeout     time.Duration
	signTimeout time.Duration
	retries     int
	log         *slog.Logger

	mu        sync.Mutex
	dirty     bool      // a frame went wrong: drop stale input before the next command
	lastWrite time.Time // when the last request was written
	// The drive's last FD as last seen, to tell after a lost answer whether a
	// finish was signed; known once a status or a finish was answered.
	lastFD  uint32
	fdKnown bool
	// The open shift's opening time, known when this client opened it: the
	// published commands do not give it.
	shiftOpenedAt time.Time
	shiftOpened   uint32
}

// NewClient makes a Client speaking on rw. Answers time out only when rw has
// a read timeout (a serial port) or read deadlines (a file or connection).
func NewClient(rw io.ReadWriter, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.SignTimeout <= 0 {
		opts.SignTimeout = 15 * time.Second
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
		rw:          rw,
		fr:          &frameReader{r: rw, log: opts.Logger, side: "register"},
		timeout:     opts.Timeout,
		signTimeout: opts.SignTimeout,
		retries:     opts.Retries,
		log:         opts.Logger,
	}
}

// errLost is an answer that did not arrive whole: a timeout, a bad CRC, a
// frame of the wrong size. The command may or may not have been done.
var errLost = errors.New("fn: answer lost")

func lost(err error) bool { return errors.Is(err, errLost) }

// notUnderstood is a 01h: the drive did nothing (a request spoiled on the
// line is answered so), and the command may be sent again as it is.
func notUnderstood(err error) bool { return errors.Is(err, ErrBadFormat) }

func (c *Client) timeoutFor(cmd byte) time.Duration {
	if isFinish(cmd) || cmd == cmdAcknowledge {
		return c.signTimeout
	}
	return c.timeout
}

// roundTrip sends one command and reads its answer; the caller holds c.mu.
// sizes, when given, are the answer lengths the command may have; another
// length is a lost answer (most likely a late answer to an earlier command).
func (c *Client) roundTrip(ctx context.Context, cmd byte, data []byte, sizes ...int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.dirty {
		// A request of ours the line cut short is still waiting in the
		// drive for its missing bytes; the drive drops it after 500 ms of
		// silence (ruling 10), so the next one is not taken for the rest.
		// Whatever the drive answered meanwhile, late or to garbage, is
		// dropped after that.
		if quiet := interByteTimeout + 50*time.Millisecond - time.Since(c.lastWrite); quiet > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(quiet):
			}
		}
		c.fr.discard(20 * time.Millisecond)
		c.dirty = false
	}
	frame, err := AppendFrame(nil, cmd, data)
	if err != nil {
		return nil, err
	}
	c.lastWrite = time.Now()
	if _, err := c.rw.Write(frame); err != nil {
		c.dirty = true
		return nil, fmt.Errorf("fn: command %s: writing: %w", hex2(cmd), err)
	}
	code, ans, err := c.fr.next(ctx, time.Now().Add(c.timeoutFor(cmd)))
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		c.dirty = true
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrFrame) {
			return nil, fmt.Errorf("fn: command %s: %w: %w", hex2(cmd), errLost, err)
		}
		return nil, fmt.Errorf("fn: command %s: %w", hex2(cmd), err)
	}
	a := Answer{Code: Code(code & 0x7F), Data: ans} // bit 7 set is success too (ruling 4)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("fn: command %s: %w", hex2(cmd), err)
	}
	if len(sizes) > 0 {
		ok := false
		for _, n := range sizes {
			ok = ok || len(a.Data) == n
		}
		if !ok {
			c.dirty = true
			return nil, fmt.Errorf("fn: command %s: answer of %d bytes, want %v: %w: %w", hex2(cmd), len(a.Data), sizes, errLost, ErrFrame)
		}
	}
	return a.Data, nil
}

// call is roundTrip for a command that may be sent again whatever became of
// it (a read, a cancel, an acknowledgement): after a lost answer or a 01h.
func (c *Client) call(ctx context.Context, cmd byte, data []byte, sizes ...int) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		ans, err := c.roundTrip(ctx, cmd, data, sizes...)
		if err == nil || !(lost(err) || notUnderstood(err)) || attempt >= c.retries {
			return ans, err
		}
		c.log.Warn("fn: sending again", "cmd", hex2(cmd), "attempt", attempt+1, "err", err)
	}
}

// status is 30h, parsed.
type status struct {
	phase      Phase
	inProgress byte
	shiftOpen  bool
	warnings   Warnings
	lastTime   time.Time
	number     string
	lastFD     uint32
}

func (c *Client) status(ctx context.Context) (status, error) {
	a, err := c.call(ctx, cmdStatus, nil, statusLen)
	if err != nil {
		return status{}, err
	}
	s := status{phase: Phase(a[0]), inProgress: a[1], shiftOpen: a[3] != 0, warnings: Warnings(a[4]),
		number: string(a[10:26]), lastFD: binary.LittleEndian.Uint32(a[26:])}
	if s.lastTime, err = parseDate(a[5:10]); err != nil {
		return s, fmt.Errorf("fn: 30h answer offset 5: %w: %w", ErrFrame, err)
	}
	c.lastFD, c.fdKnown = s.lastFD, true
	return s, nil
}

// refusal turns a drive's refusal of cmd into the condition it means: the
// answer code alone does not tell a closed shift from an open one, or an
// ended key from a closed drive, so the drive's status tells.
func (c *Client) refusal(ctx context.Context, cmd byte, err error) error {
	if !errors.Is(err, ErrState) && !errors.Is(err, ErrKeyExpired) {
		return err
	}
	var done *classified
	if errors.As(err, &done) {
		return err
	}
	st, serr := c.status(ctx)
	if serr != nil {
		return err
	}
	return c.classify(cmd, err, st)
}

// classified is a refusal already told apart by the drive's status.
type classified struct{ error }

func (e *classified) Unwrap() error { return e.error }

// classify is refusal with the drive's status at hand.
func (c *Client) classify(cmd byte, err error, st status) error {
	var cond error
	switch {
	case st.phase == PhaseArchiveClosed || st.phase == 0x0F:
		cond = ErrDriveClosed
	case errors.Is(err, ErrKeyExpired):
	case st.phase == PhaseNotRegistered && cmd != cmdBeginRegistration && cmd != cmdFinishRegistration:
		cond = ErrNotRegistered
	case st.phase != PhaseFiscal:
	case st.shiftOpen && (cmd == cmdBeginShiftOpen || cmd == cmdBeginClose || cmd == cmdBeginRegistration):
		cond = ErrShiftOpen
	case !st.shiftOpen && (cmd == cmdBeginShiftClose || cmd == cmdBeginReceipt || cmd == cmdBeginCorrection):
		cond = ErrShiftClosed
	}
	if cond == nil {
		return &classified{err}
	}
	return &classified{fmt.Errorf("fn: command %s: %w", hex2(cmd), cond)}
}

// State asks 30h, 10h, 20h, 32h and, once registered, 43h.
func (c *Client) State(ctx context.Context) (State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.status(ctx)
	if err != nil {
		return State{}, err
	}
	st := State{Phase: s.phase, ShiftOpen: s.shiftOpen, Warnings: s.warnings, LastFDTime: s.lastTime,
		DriveNumber: s.number, LastFD: s.lastFD}

	if st.Phase == PhaseFiscal { // 10h answers only in the fiscal phase
		a, err := c.call(ctx, cmdShiftParams, nil, shiftLen)
		if err != nil {
			return st, err
		}
		st.Shift = uint32(binary.LittleEndian.Uint16(a[1:]))
		st.ReceiptsInShift = uint32(binary.LittleEndian.Uint16(a[3:]))
		if st.ShiftOpen && c.shiftOpened != st.Shift {
			c.findShiftOpening(ctx, st)
		}
		if c.shiftOpened == st.Shift {
			st.ShiftOpenedAt = c.shiftOpenedAt
		}
	}

	a, err := c.call(ctx, cmdOFDStatus, nil, ofdStatLen)
	if err != nil {
		return st, err
	}
	st.Unsent = uint32(binary.LittleEndian.Uint16(a[2:]))
	st.FirstUnsentFD = binary.LittleEndian.Uint32(a[4:])
	if st.FirstUnsentTime, err = parseDate(a[8:]); err != nil {
		return st, fmt.Errorf("fn: 20h answer offset 8: %w: %w", ErrFrame, err)
	}

	if a, err = c.call(ctx, cmdValid, nil, validLen); err != nil {
		return st, err
	}
	if st.ValidUntil, err = parseDate3(a); err != nil {
		return st, fmt.Errorf("fn: 32h answer offset 0: %w: %w", ErrFrame, err)
	}

	if st.Phase != PhaseNotRegistered && st.Phase != 0 {
		if a, err = c.call(ctx, cmdRegTotals, nil, regTotalLen, regTotalLen+1); err != nil {
			return st, err
		}
		st.RegNumber = trimField(a[17:37])
	}
	return st, nil
}

// findShiftOpening looks for the open shift's opening report in the archive,
// as the published commands give its time nowhere else: it is the document
// before the shift's receipts, or a few before that when reports came
// between. What it finds is kept; a failure leaves the time unknown.
func (c *Client) findShiftOpening(ctx context.Context, st State) {
	for k := uint32(0); k <= 16 && st.LastFD > st.ReceiptsInShift+k; k++ {
		fd := st.LastFD - st.ReceiptsInShift - k
		a, err := c.call(ctx, cmdFindDocument, binary.LittleEndian.AppendUint32(nil, fd))
		if err != nil || len(a) < 17 {
			return
		}
		if fiscal.Tag(a[0]) != fiscal.DocShiftOpen {
			continue
		}
		if uint32(binary.LittleEndian.Uint16(a[15:])) != st.Shift {
			return
		}
		if at, err := parseDate(a[2:7]); err == nil {
			c.shiftOpened, c.shiftOpenedAt = st.Shift, at
		}
		return
	}
}

// Register signs the registration report: 02h, 07h…, 03h.
func (c *Client) Register(ctx context.Context, d Doc) (Signed, error) {
	return c.registration(ctx, d, 0)
}

// ChangeRegistration signs a registration change report: 02h kind 2, 07h…, 03h.
func (c *Client) ChangeRegistration(ctx context.Context, d Doc) (Signed, error) {
	return c.registration(ctx, d, 2)
}

func (c *Client) registration(ctx context.Context, d Doc, kind byte) (Signed, error) {
	els, err := fiscal.SplitElements(d.TLV)
	if err != nil {
		return Signed{}, fmt.Errorf("fn: registration: %w: %w", ErrBadParam, err)
	}
	f := regFieldsOf(els)
	fin := appendDate(nil, d.Time)
	fin = appendField(fin, f.inn, innLen)
	fin = appendField(fin, f.regNumber, regNoLen)
	fin = append(fin, f.tax, f.modes)
	a, err := c.document(ctx, cmdBeginRegistration, []byte{kind}, d.TLV, cmdFinishRegistration, fin, 8)
	if err != nil {
		return Signed{}, err
	}
	sg := Signed{FD: binary.LittleEndian.Uint32(a), FPD: binary.LittleEndian.Uint32(a[4:]), Time: wallMinute(d.Time)}
	if kind != 0 {
		if sg.Shift, err = c.shift(ctx); err != nil {
			return sg, err
		}
	}
	return sg, nil
}

func (c *Client) shift(ctx context.Context) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.call(ctx, cmdShiftParams, nil, shiftLen)
	if err != nil {
		return 0, err
	}
	return uint32(binary.LittleEndian.Uint16(a[1:])), nil
}

// OpenShift signs a shift open report: 11h, 07h…, 12h.
func (c *Client) OpenShift(ctx context.Context, d Doc) (Signed, error) {
	sg, err := c.shiftDoc(ctx, cmdBeginShiftOpen, cmdFinishShiftOpen, d)
	if err == nil {
		c.mu.Lock()
		c.shiftOpened, c.shiftOpenedAt = sg.Shift, sg.Time
		c.mu.Unlock()
	}
	return sg, err
}

// CloseShift signs a shift close report: 13h, 07h…, 14h.
func (c *Client) CloseShift(ctx context.Context, d Doc) (Signed, error) {
	return c.shiftDoc(ctx, cmdBeginShiftClose, cmdFinishShiftClose, d)
}

func (c *Client) shiftDoc(ctx context.Context, begin, finish byte, d Doc) (Signed, error) {
	a, err := c.document(ctx, begin, appendDate(nil, d.Time), d.TLV, finish, nil, 10)
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
	fin := append(appendDate(nil, r.Time), byte(r.Sign))
	fin = appendLE40(fin, r.Total)
	a, err := c.document(ctx, begin, appendDate(nil, r.Time), r.TLV, cmdFinishReceipt, fin, 10)
	if err != nil {
		return Signed{}, err
	}
	sg := Signed{
		Number: uint32(binary.LittleEndian.Uint16(a)),
		FD:     binary.LittleEndian.Uint32(a[2:]),
		FPD:    binary.LittleEndian.Uint32(a[6:]),
		Time:   wallMinute(r.Time),
	}
	c.mu.Lock()
	if c.shiftOpened != 0 {
		sg.Shift = c.shiftOpened
		c.mu.Unlock()
		return sg, nil
	}
	c.mu.Unlock()
	sg.Shift, err = c.shift(ctx) // once: then the shift is known
	if err == nil {
		c.mu.Lock()
		c.shiftOpened = sg.Shift
		c.mu.Unlock()
	}
	return sg, err
}

// StateReport signs a current state report: 18h, 07h…, 19h.
func (c *Client) StateReport(ctx context.Context, d Doc) (Signed, error) {
	a, err := c.document(ctx, cmdBeginStateReport, appendDate(nil, d.Time), d.TLV, cmdFinishStateReport, nil, 8, 15)
	if err != nil {
		return Signed{}, err
	}
	sg := Signed{FD: binary.LittleEndian.Uint32(a), FPD: binary.LittleEndian.Uint32(a[4:]), Time: wallMinute(d.Time)}
	sg.Shift, err = c.shift(ctx)
	return sg, err
}

// CloseDrive signs the drive close report: 04h, 07h…, 05h.
func (c *Client) CloseDrive(ctx context.Context, d Doc) (Signed, error) {
	els, err := fiscal.SplitElements(d.TLV)
	if err != nil {
		return Signed{}, fmt.Errorf("fn: drive close: %w: %w", ErrBadParam, err)
	}
	rn := regFieldsOf(els).regNumber
	if rn == "" {
		st, err := c.State(ctx)
		if err != nil {
			return Signed{}, err
		}
		rn = st.RegNumber
	}
	fin := appendField(appendDate(nil, d.Time), rn, regNoLen)
	a, err := c.document(ctx, cmdBeginClose, nil, d.TLV, cmdFinishClose, fin, 8)
	if err != nil {
		return Signed{}, err
	}
	return Signed{FD: binary.LittleEndian.Uint32(a), FPD: binary.LittleEndian.Uint32(a[4:]), Time: wallMinute(d.Time)}, nil
}

// Sync implements Drive: a drive answers only once a document is in its
// memory, so every document it answered for is durable already.
func (c *Client) Sync(ctx context.Context) error { return ctx.Err() }

// Acknowledge hands the OFD's acknowledgement to the drive: 26h. Its answer
// is the OFD's response code, then maybe the operator's message.
func (c *Client) Acknowledge(ctx context.Context, ack []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.call(ctx, cmdAcknowledge, ack)
	if err != nil {
		return err
	}
	if len(a) < 1 {
		return fmt.Errorf("fn: 26h: empty answer: %w", ErrFrame)
	}
	if a[0] != 0 {
		return fmt.Errorf("fn: 26h: OFD response code %d: %w", a[0], ErrOFDRejected)
	}
	return nil
}

func (c *Client) control(ctx context.Context, cmd byte, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.call(ctx, cmd, data, 0)
	return err
}

// FailNextWrites asks an emulated drive (E0h) to fail its next n writes.
func (c *Client) FailNextWrites(ctx context.Context, n int) error {
	return c.control(ctx, cmdFailWrites, binary.LittleEndian.AppendUint32(nil, uint32(n)))
}

// SetMemoryFull asks an emulated drive (E1h) to report its archive full.
func (c *Client) SetMemoryFull(ctx context.Context, full bool) error {
	return c.control(ctx, cmdSetMemoryFull, []byte{boolByte(full)})
}

// ExpireKey asks an emulated drive (E2h) to end its key's validity.
func (c *Client) ExpireKey(ctx context.Context) error {
	return c.control(ctx, cmdExpireKey, nil)
}

// SetSignDelay asks an emulated drive (E3h) to take d to sign.
func (c *Client) SetSignDelay(ctx context.Context, d time.Duration) error {
	return c.control(ctx, cmdSetSignDelay, binary.LittleEndian.AppendUint32(nil, uint32(d/time.Millisecond)))
}

var (
	_ Drive = (*Client)(nil)
	_ Drive = (*Emulator)(nil)
)
