// Package mail owns e-mail over SMTP, both ends: Sender hands a message to an
// SMTP server (STARTTLS and authentication as configured), and Sink is an SMTP
// server for the sandbox and tests that keeps every message it takes as an .eml
// file. The sink only listens where it is told (loopback in the sandbox) and
// never relays anything anywhere.
//
// Sender is built on net/smtp and the standard library's MIME helpers alone: a
// general mail library brought in Unicode tables, DKIM and NTLM the register
// never uses, and the firmware image has a size budget.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLS policies of Config.TLS.
const (
	TLSRequired      = "starttls"      // STARTTLS or nothing; the default
	TLSOpportunistic = "opportunistic" // STARTTLS when the server offers it
	TLSOff           = "off"           // plain text, for a sink on loopback
)

// Config says how to reach the SMTP server.
type Config struct {
	Addr     string // host:port, e.g. smtp.example.ru:587; required
	From     string // the sender's address; required
	Username string // empty: no authentication
	Password string
	TLS      string        // TLSRequired (default), TLSOpportunistic or TLSOff
	Timeout  time.Duration // per connection; default 15 s
	// TLSConfig overrides the TLS settings (a private CA); nil verifies the
	// server's certificate against the system's roots for the host of Addr.
	TLSConfig *tls.Config
}

// Message is one plain-text e-mail.
type Message struct {
	To      []string
	Subject string
	Text    string
}

// Sender sends messages through one SMTP server. It is safe for concurrent use:
// each Send makes its own connection.
type Sender struct {
	cfg  Config
	host string
	log  *slog.Logger
	now  func() time.Time // the Date header's clock
}

// NewSender checks cfg and returns a Sender; it does not connect.
func NewSender(cfg Config, log *slog.Logger) (*Sender, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mail: Config.Addr %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("mail: Config.Addr %q: bad port", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, errors.New("mail: Config.From is required")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSRequired
	case TLSRequired, TLSOpportunistic, TLSOff:
	default:
		return nil, fmt.Errorf("mail: Config.TLS %q: want %s, %s or %s", cfg.TLS, TLSRequired, TLSOpportunistic, TLSOff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &Sender{cfg: cfg, host: host, log: log, now: time.Now}, nil
}

// Send delivers m to the server; an error means the server did not take it.
// The connection ends at ctx's deadline or after Config.Timeout, whichever
// comes first, and at once when ctx is cancelled.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return errors.New("mail: Message.To is empty")
	}
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return fmt.Errorf("mail: Config.From %q: %w", s.cfg.From, err)
	}
	to := make([]*mail.Address, len(m.To))
	for i, a := range m.To {
		if to[i], err = mail.ParseAddress(a); err != nil {
			return fmt.Errorf("mail: Message.To %q: %w", a, err)
		}
	}
	data, err := s.compose(from, to, m)
	if err != nil {
		return fmt.Errorf("mail: composing: %w", err)
	}
	if err := s.deliver(ctx, from, to, data); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("mail: sending to %s via %s: %w", m.To, s.cfg.Addr, err)
	}
	s.log.Debug("mail: sent", "to", m.To, "subject", m.Subject)
	return nil
}

// deliver runs one SMTP conversation that hands data over.
func (s *Sender) deliver(ctx context.Context, from *mail.Address, to []*mail.Address, data []byte) error {
	deadline := time.Now().Add(s.cfg.Timeout)
	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dialCtx, "tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	// ctx ending (cancelled, or its own deadline) cuts short whatever read or
	// write is under way; this runs after ctx.Err is set, so Send can tell.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(helo()); err != nil {
		return err
	}
	if s.cfg.TLS != TLSOff {
		offered, _ := c.Extension("STARTTLS")
		switch {
		case offered:
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		case s.cfg.TLS == TLSRequired:
			return errors.New("the server does not offer STARTTLS, and Config.TLS requires it")
		}
	}
	if s.cfg.Username != "" {
		auth, err := s.auth(c)
		if err != nil {
			return err
		}
		if err := c.Auth(auth); err != nil {
			return fmt.Errorf("authentication: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil { // the server's answer to the whole message
		return err
	}
	// The server has taken the message; a failed goodbye does not undo that.
	c.Quit()
	return nil
}

// tlsConfig is Config.TLSConfig, or the system's roots, for the host of Addr.
func (s *Sender) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

// auth picks PLAIN, else LOGIN, from what the server offers. Both send the
// password as it is, so both refuse a connection that is neither TLS nor to
// localhost (net/smtp's own rule for PLAIN).
func (s *Sender) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, offered := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("the server offers no AUTH, and Config.Username is set")
	}
	mechs := strings.Fields(strings.ToUpper(offered))
	switch {
	case slices.Contains(mechs, "PLAIN"):
		return smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host), nil
	case slices.Contains(mechs, "LOGIN"):
		return &loginAuth{username: s.cfg.Username, password: s.cfg.Password, host: s.host}, nil
	}
	return nil, fmt.Errorf("the server offers AUTH %s; we speak PLAIN and LOGIN", offered)
}

// loginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the server asks
// for the username, then the password.
type loginAuth struct {
	username, password, host string
	step                     int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !isLocalhost(server.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if server.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.username), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("LOGIN: unexpected challenge %q", challenge)
}

func isLocalhost(name string) bool {
	return name == "localhost" || name == "127.0.0.1" || name == "::1"
}

// helo is the name we greet the server with: this machine's.
func helo() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// compose writes the message: RFC 5322 headers with non-ASCII text as RFC 2047
// encoded words, and the text as UTF-8 in quoted-printable, CRLF line ends.
func (s *Sender) compose(from *mail.Address, to []*mail.Address, m Message) ([]byte, error) {
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name + ": " + value))
		b.WriteString("\r\n")
	}
	header("Date", s.now().Format(time.RFC1123Z))
	header("From", from.String())
	list := make([]string, len(to))
	for i, a := range to {
		list[i] = a.String()
	}
	header("To", strings.Join(list, ", "))
	header("Subject", mime.BEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", "<"+rand.Text()+"@"+domain(from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("text/plain", map[string]string{"charset": "utf-8"}))
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// domain is the part of an address after the @, for the Message-ID.
func domain(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i < len(address)-1 {
		return address[i+1:]
	}
	return "localhost"
}

// fold breaks a header line before spaces so that its lines keep to 78
// characters where the words allow (RFC 5322 section 2.2.3); a word longer
// than that stays whole on its own line, and no line is spaces alone.
func fold(line string) string {
	const width = 78
	if len(line) <= width {
		return line
	}
	var b strings.Builder
	n := 0 // length of the current output line
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			if word != "" && n+1+len(word) > width && n > 1 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}
