package mail

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxMessage bounds one message the sink takes; alerts are a few kilobytes.
const maxMessage = 10 << 20

// idle is how long the sink waits for a client's next line.
const idle = time.Minute

// Sink is an SMTP server that stores each message it takes in its directory as
// NNNNNN.eml (the message as sent, headers and all), numbered on from the files
// already there. It speaks enough SMTP for a mail client: EHLO/HELO, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT, and STARTTLS and AUTH PLAIN when configured.
type Sink struct {
	dir string
	log *slog.Logger
	// TLS, when set before Serve, offers STARTTLS with this configuration.
	TLS *tls.Config
	// Username and Password, when set before Serve, require AUTH PLAIN with them.
	Username, Password string

	mu    sync.Mutex
	seq   int
	lns   []net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewSink stores messages under dir, creating it.
func NewSink(dir string, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Alerts name shops and their documents: the directory and its messages
	// are the owner's alone, also when an older build made it 0755.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: sink directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: sink directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mail: sink directory: %w", err)
	}
	seq := 0
	for _, e := range entries {
		if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".eml")); err == nil && strings.HasSuffix(e.Name(), ".eml") {
			seq = max(seq, n)
		}
	}
	return &Sink{dir: dir, log: log, seq: seq, conns: map[net.Conn]bool{}}, nil
}

// Dir is where the messages land.
func (s *Sink) Dir() string { return s.dir }

// Serve takes connections on ln until Close; it returns nil after Close.
func (s *Sink) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("mail: sink accept: %w", err)
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.session(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("mail: sink session", "remote", c.RemoteAddr().String(), "err", err)
			}
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops the listeners and the sessions under way.
func (s *Sink) Close() error {
	s.mu.Lock()
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// session is one client's conversation.
func (s *Sink) session(c net.Conn) error {
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(format string, args ...any) error {
		fmt.Fprintf(w, format+"\r\n", args...)
		return w.Flush()
	}
	if err := reply("220 kassa sink ESMTP"); err != nil {
		return err
	}
	secure, authed := false, s.Username == ""
	var from string
	var to []string
	mailing := false // MAIL given; from may be empty (a bounce)
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"kassa sink", "8BITMIME", "SMTPUTF8", fmt.Sprintf("SIZE %d", maxMessage)}
			if s.TLS != nil && !secure {
				lines = append(lines, "STARTTLS")
			}
			if s.Username != "" && (secure || s.TLS == nil) {
				lines = append(lines, "AUTH PLAIN")
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				fmt.Fprintf(w, "250%s%s\r\n", sep, l)
			}
			err = w.Flush()
		case "HELO":
			err = reply("250 kassa sink")
		case "STARTTLS":
			if s.TLS == nil || secure {
				err = reply("502 5.5.1 STARTTLS not offered")
				break
			}
			if err := reply("220 2.0.0 ready to start TLS"); err != nil {
				return err
			}
			tc := tls.Server(c, s.TLS)
			c.SetDeadline(time.Now().Add(idle))
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("STARTTLS handshake: %w", err)
			}
			c, secure = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
			from, to, mailing = "", nil, false
		case "AUTH":
			err = s.auth(arg, r, reply, &authed)
		case "MAIL":
			switch {
			case !authed:
				err = reply("530 5.7.0 authentication required")
			case s.TLS != nil && !secure:
				err = reply("530 5.7.0 STARTTLS first")
			default:
				from, to, mailing = addr(arg), nil, true
				err = reply("250 2.1.0 ok")
			}
		case "RCPT":
			if !mailing {
				err = reply("503 5.5.1 MAIL first")
				break
			}
			to = append(to, addr(arg))
			err = reply("250 2.1.5 ok")
		case "DATA":
			if len(to) == 0 {
				err = reply("503 5.5.1 no recipients")
				break
			}
			if err := reply("354 end with <CRLF>.<CRLF>"); err != nil {
				return err
			}
			data, derr := readData(r)
			if derr != nil {
				return derr
			}
			name, serr := s.store(data)
			if serr != nil {
				s.log.Error("mail: sink storing a message", "err", serr)
				err = reply("451 4.3.0 cannot store the message")
				break
			}
			s.log.Info("mail: sink stored a message", "file", name, "from", from, "to", to)
			from, to, mailing = "", nil, false
			err = reply("250 2.0.0 stored as %s", name)
		case "RSET":
			from, to, mailing = "", nil, false
			err = reply("250 2.0.0 ok")
		case "NOOP":
			err = reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return nil
		default:
			err = reply("502 5.5.2 command not implemented")
		}
		if err != nil {
			return err
		}
	}
}

// auth takes AUTH PLAIN, with the credentials on the line or after a 334.
func (s *Sink) auth(arg string, r *bufio.Reader, reply func(string, ...any) error, authed *bool) error {
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") || s.Username == "" {
		return reply("504 5.5.4 mechanism not supported")
	}
	if initial == "" {
		if err := reply("334 "); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		initial = strings.TrimSpace(line)
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return reply("501 5.5.2 bad base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 ||
		subtle.ConstantTimeCompare(parts[1], []byte(s.Username)) != 1 ||
		subtle.ConstantTimeCompare(parts[2], []byte(s.Password)) != 1 {
		return reply("535 5.7.8 authentication failed")
	}
	*authed = true
	return reply("235 2.7.0 authenticated")
}

// addr takes the address out of "FROM:<a@b> SIZE=…" or "TO:<a@b>".
func addr(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}

// readData reads the DATA section up to the lone dot, undoing dot-stuffing.
func readData(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("DATA: %w", err)
		}
		if line == ".\r\n" || line == ".\n" {
			return buf.Bytes(), nil
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		if buf.Len()+len(line) > maxMessage {
			return nil, fmt.Errorf("DATA: message over %d bytes", maxMessage)
		}
		buf.WriteString(line)
	}
}

// store writes the message under the next number, through a temporary file so
// a reader of the directory never sees half a message.
func (s *Sink) store(data []byte) (string, error) {
	s.mu.Lock()
	s.seq++
	name := fmt.Sprintf("%06d.eml", s.seq)
	s.mu.Unlock()
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return "", err
	}
	return name, nil
}
