// Package sim is the OFD emulator: it takes the drive's containers over the
// FN–OFD TCP protocol, checks them as an operator would (CRCs, the message sign
// ФПС, the fiscal sign ФПД, the document against FFD 1.05's tag tables), keeps each document once in its own bbolt file,
// answers with an acknowledgement signed with the OFD's key, and serves the
// receipt look-up a buyer reaches from the QR code. Faults can be switched on to
// test a register against a misbehaving OFD.
//
// It never signs anything with a drive's key and never acknowledges a message it
// could not verify with a success code.
package sim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/store/mapped"
	bolt "go.etcd.io/bbolt"
)

// DefaultOFDINN is the emulator's INN: valid check digits, belonging to no real operator.
const DefaultOFDINN = "7700000009"

// Response codes the emulator writes in 1022. FFD leaves the non-zero values
// to the operator; these are ours.
const (
	CodeAccepted    byte = 0 // stored
	CodeBadFormat   byte = 1 // the container or its document does not parse, breaks the tag tables, or its parts disagree
	CodeUnknownFN   byte = 2 // no key for the drive number
	CodeBadMessage  byte = 3 // the message sign ФПС does not verify
	CodeBadFiscal   byte = 4 // the fiscal sign ФПД does not verify
	CodeRejected    byte = 5 // refused by a fault injected with FaultErrorCode
	CodeStoreFailed byte = 6 // the emulator could not store the document
)

// Config configures the emulator.
type Config struct {
	Dir string // holds ofd.db; created if missing
	// DriveKeys returns the signing key of a drive by its number.
	DriveKeys func(driveNumber string) ([]byte, bool)
	OFDKey    []byte // signs the acknowledgements (ФПО and the container's sign)
	// Unsigned acknowledges as an OFD without the fiscal crypto does: its tags
	// in the order 1017, 1041, 1040, 1012, 1068, no 1078 and no message sign.
	// A drive takes such acknowledgements only when it knows no OFD key.
	Unsigned  bool
	OFDINN    string           // tag 1017; default DefaultOFDINN
	IOTimeout time.Duration    // per read of a message and write of an answer; default 60 s
	Clock     func() time.Time // the OFD's clock, for 1012 of the acks; default time.Now
	Logger    *slog.Logger     // default discards
}

// Server is a running emulator.
type Server struct {
	cfg Config
	inn string
	log *slog.Logger
	db  *bolt.DB
	rel *mapped.Releaser // of db: in the one-process sandbox its pages count in the register's RSS

	mu       sync.Mutex
	fault    Fault
	lns      map[net.Listener]struct{}
	conns    map[net.Conn]struct{}
	closed   bool
	messages uint64
	accepted uint64
	wg       sync.WaitGroup
}

// ErrClosed is returned by Serve once Close was called.
var ErrClosed = errors.New("ofd/sim: server closed")

// New opens (or creates) the emulator's store in cfg.Dir.
func New(cfg Config) (*Server, error) {
	if cfg.DriveKeys == nil {
		return nil, errors.New("ofd/sim: config has no DriveKeys")
	}
	if len(cfg.OFDKey) == 0 && !cfg.Unsigned {
		return nil, errors.New("ofd/sim: config has no OFDKey (nor Unsigned)")
	}
	if cfg.OFDINN == "" {
		cfg.OFDINN = DefaultOFDINN
	}
	if !fiscal.ValidINN(cfg.OFDINN) {
		return nil, fmt.Errorf("ofd/sim: OFD INN %q is not a valid INN", cfg.OFDINN)
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 60 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ofd/sim: %w", err)
	}
	db, err := openStore(filepath.Join(cfg.Dir, "ofd.db"))
	if err != nil {
		return nil, err
	}
	inn := cfg.OFDINN
	for len(inn) < 12 {
		inn += " "
	}
	return &Server{
		cfg:   cfg,
		inn:   inn,
		log:   log.With("component", "ofd-sim"),
		db:    db,
		rel:   mapped.NewReleaser(db),
		lns:   map[net.Listener]struct{}{},
		conns: map[net.Conn]struct{}{},
	}, nil
}

// Serve accepts FN–OFD connections on ln until Close; each connection may carry
// any number of messages, answered in order.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			return fmt.Errorf("ofd/sim: accept: %w", err)
		}
		s.mu.Lock()
		s.accepted++
		s.mu.Unlock()
		if !s.track(conn) {
			conn.Close()
			return ErrClosed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(conn)
			s.serveConn(conn)
		}()
	}
}

// Close stops every listener and connection, waits for them, and closes the store.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) serveConn(conn net.Conn) {
	log := s.log.With("remote", conn.RemoteAddr().String())
	if f, ok := s.takeFault(FaultRefuse); ok {
		log.Info("fault: connection refused", "fault", f.Mode)
		return
	}
	for {
		conn.SetReadDeadline(time.Now().Add(s.cfg.IOTimeout))
		h, raw, err := ofd.ReadMessage(conn)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Warn("closing connection: bad message", "err", err)
			}
			return
		}
		if s.refusing() {
			log.Info("fault: down, dropping a connection made before")
			return
		}
		s.mu.Lock()
		s.messages++
		s.mu.Unlock()
		ack, err := s.handle(log, h, raw)
		if err != nil {
			log.Warn("closing connection: no answer possible", "err", err)
			return
		}
		out, err := ofd.AppendSession(nil, ofd.SessionHeader{
			AppVersion:  h.AppVersion,
			DriveNumber: h.DriveNumber,
			Flags:       ofd.FlagContainer,
		}, ack)
		if err != nil {
			log.Error("encoding answer", "err", err)
			return
		}
		if f, ok := s.takeFault(FaultDelay); ok {
			log.Info("fault: delaying answer", "delay", f.Delay)
			time.Sleep(f.Delay)
		}
		if _, ok := s.takeFault(FaultCloseMidMessage); ok {
			log.Info("fault: closing in the middle of the answer")
			conn.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
			conn.Write(out[:len(out)/2])
			return
		}
		conn.SetWriteDeadline(time.Now().Add(s.cfg.IOTimeout))
		if _, err := conn.Write(out); err != nil {
			log.Warn("writing answer", "err", err)
			return
		}
	}
}

// handle checks and stores one message and returns the ack container to send.
// An error means no ack can be built: the connection is closed, as a real OFD does.
func (s *Server) handle(log *slog.Logger, h ofd.SessionHeader, raw []byte) ([]byte, error) {
	c, err := ofd.ParseContainer(raw)
	if err != nil {
		return nil, err
	}
	log = log.With("fn", c.DriveNumber, "fd", c.FD)
	code, fpd, err := s.check(h, c)
	if err != nil {
		log.Warn("message refused", "code", code, "err", err)
		return s.ack(c.DriveNumber, c.FD, code)
	}
	if f, ok := s.takeFault(FaultErrorCode); ok {
		log.Info("fault: answering with an error code", "code", f.Code)
		return s.ack(c.DriveNumber, c.FD, f.Code)
	}
	first, err := s.store(c, fpd)
	if err != nil {
		log.Error("storing", "err", err)
		return s.ack(c.DriveNumber, c.FD, CodeStoreFailed)
	}
	if !first {
		log.Info("repeated message: acknowledged again, stored once")
	}
	fd := c.FD
	if _, ok := s.takeFault(FaultDuplicateAck); ok {
		fd = c.FD - 1
		log.Info("fault: acknowledging an earlier document", "ack_fd", fd)
	}
	ack, err := s.ack(c.DriveNumber, fd, CodeAccepted)
	if err != nil {
		return nil, err
	}
	if _, ok := s.takeFault(FaultCorruptAck); ok {
		log.Info("fault: corrupting the acknowledgement")
		ack[len(ack)/2] ^= 0x5A
	}
	return ack, nil
}

// check verifies a container as an operator does and returns the document's ФПД.
func (s *Server) check(h ofd.SessionHeader, c *ofd.Container) (byte, uint32, error) {
	if c.MessageType != ofd.MessageTypeFiscal {
		return CodeBadFormat, 0, fmt.Errorf("message type %02x, want %02x", c.MessageType, ofd.MessageTypeFiscal)
	}
	if h.DriveNumber != c.DriveNumber {
		return CodeBadFormat, 0, fmt.Errorf("session drive number %s, container's %s", h.DriveNumber, c.DriveNumber)
	}
	doc, next, err := fiscal.NextElement(c.Document, 0)
	if err != nil {
		return CodeBadFormat, 0, fmt.Errorf("document: %w", err)
	}
	if next != len(c.Document) {
		return CodeBadFormat, 0, fmt.Errorf("document: %d bytes after its STLV", len(c.Document)-next)
	}
	if doc.Tag != c.DocType {
		return CodeBadFormat, 0, fmt.Errorf("document tag %d, container says type %d", doc.Tag, c.DocType)
	}
	key, ok := s.cfg.DriveKeys(c.DriveNumber)
	if !ok {
		return CodeUnknownFN, 0, fmt.Errorf("no key for drive %s", c.DriveNumber)
	}
	if fiscal.MessageSign(key, c.Document) != c.Sign {
		return CodeBadMessage, 0, errors.New("message sign (ФПС) does not verify")
	}
	fpd, err := fiscal.VerifyFiscalSign(key, c.Document)
	if err != nil {
		return CodeBadFiscal, 0, err
	}
	// The document must meet FFD 1.05's tables as fiscal restates them (and
	// yandex/ofd's schemas with them): an operator answers a format error.
	if _, err := fiscal.CheckDocument(c.Document); err != nil {
		return CodeBadFormat, 0, fmt.Errorf("document %d: %w", doc.Tag, err)
	}
	els, err := fiscal.SplitElements(doc.Value)
	if err != nil {
		return CodeBadFormat, 0, fmt.Errorf("document %d: %w", doc.Tag, err)
	}
	for _, e := range els {
		switch e.Tag {
		case 1040:
			if len(e.Value) != 4 || binary.LittleEndian.Uint32(e.Value) != c.FD {
				return CodeBadFormat, 0, fmt.Errorf("tag 1040 at offset %d is % x, container says FD %d", e.Offset, e.Value, c.FD)
			}
		case 1041:
			if string(e.Value) != c.DriveNumber {
				return CodeBadFormat, 0, fmt.Errorf("tag 1041 at offset %d is %q, container says %s", e.Offset, e.Value, c.DriveNumber)
			}
		}
	}
	return CodeAccepted, fpd, nil
}

// ack builds the acknowledgement container for (drive, fd) with a response code.
func (s *Server) ack(drive string, fd uint32, code byte) ([]byte, error) {
	el, err := fiscal.AppendString(nil, 1017, s.inn)
	if err != nil {
		return nil, err
	}
	if el, err = fiscal.AppendString(el, 1041, drive); err != nil {
		return nil, err
	}
	el = fiscal.AppendUint32(el, 1040, fd)
	el = fiscal.AppendTime(el, 1012, s.cfg.Clock())
	el, mark := fiscal.BeginSTLV(el, 1068)
	el = fiscal.AppendByte(el, 1022, code)
	el = fiscal.EndSTLV(el, mark)
	if !s.cfg.Unsigned {
		el = fiscal.AppendTLV(el, 1078, fiscal.OperatorSign(s.cfg.OFDKey, el))
	}
	doc := fiscal.AppendTLV(nil, fiscal.DocOperatorAck, el)
	c := ofd.Container{
		MessageType: ofd.MessageTypeFiscal,
		DocType:     fiscal.DocOperatorAck,
		DriveNumber: drive,
		FD:          fd,
		Document:    doc,
		Unsigned:    s.cfg.Unsigned,
	}
	if !s.cfg.Unsigned {
		c.Sign = fiscal.MessageSign(s.cfg.OFDKey, doc)
	}
	return c.Append(nil)
}

// Connections is how many connections were accepted.
func (s *Server) Connections() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Messages is how many messages were read, whatever became of them.
func (s *Server) Messages() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages
}

// ListenAndServe listens on addr for the FN–OFD protocol and on lookupAddr for
// the receipt look-up (":0" ports pick free ones), calls ready with the bound
// addresses, and serves until ctx ends or a listener fails. It does not Close s.
func (s *Server) ListenAndServe(ctx context.Context, addr, lookupAddr string, ready func(ofdAddr, lookupAddr net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ofd/sim: %w", err)
	}
	lln, err := net.Listen("tcp", lookupAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("ofd/sim: look-up: %w", err)
	}
	hs := s.LookupServer()
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(ln) }()
	go func() { errc <- hs.Serve(lln) }()
	if ready != nil {
		ready(ln.Addr(), lln.Addr())
	}
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	ln.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(shutdown)
	return err
}
