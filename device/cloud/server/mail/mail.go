// Package mail owns e-mail over SMTP, both ends: Sender hands a message to an
// SMTP server (implicit TLS, STARTTLS and authentication as configured), and
// Sink is an SMTP server for the sandbox and tests that keeps every message it
// takes as an .eml file. The sink only listens where it is told (loopback in
// the sandbox) and never relays anything anywhere.
//
// Sender speaks SMTP through github.com/wneessen/go-mail, a maintained client
// that covers what net/smtp, frozen, does not: implicit TLS (SMTPS, port 465)
// beside STARTTLS, and the mechanisms mail providers ask for. Only the cloud
// sends mail; a register's board build does not carry it.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS policies of Config.TLS.
const (
	TLSImplicit      = "tls"           // TLS from the first byte (SMTPS); the default on port 465
	TLSRequired      = "starttls"      // STARTTLS or nothing; the default on other ports
	TLSOpportunistic = "opportunistic" // STARTTLS when the server offers it
	TLSOff           = "off"           // plain text, for a sink on loopback
)

// Config says how to reach the SMTP server.
type Config struct {
	Addr     string // host:port, e.g. smtp.example.ru:465 or :587; required
	From     string // the sender's address, with a display name if wanted; required
	Username string // empty: no authentication
	Password string
	// TLS is TLSImplicit, TLSRequired, TLSOpportunistic or TLSOff; empty:
	// TLSImplicit on port 465, TLSRequired on any other.
	TLS     string
	Timeout time.Duration // the whole conversation's; default 15 s
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
	port int
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
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: Config.From %q: %w", cfg.From, err)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSRequired
		if port == 465 {
			cfg.TLS = TLSImplicit
		}
	case TLSImplicit, TLSRequired, TLSOpportunistic, TLSOff:
	default:
		return nil, fmt.Errorf("mail: Config.TLS %q: want %s, %s, %s or %s", cfg.TLS, TLSImplicit, TLSRequired, TLSOpportunistic, TLSOff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &Sender{cfg: cfg, host: host, port: port, log: log, now: time.Now}, nil
}

// Send delivers m to the server; an error means the server did not take it.
// The connection ends at ctx's deadline or after Config.Timeout, whichever
// comes first, and at once when ctx is cancelled.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return errors.New("mail: Message.To is empty")
	}
	msg, err := s.compose(m)
	if err != nil {
		return err
	}
	if err := s.deliver(ctx, msg); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("mail: sending to %s via %s: %w", m.To, s.cfg.Addr, err)
	}
	s.log.Debug("mail: sent", "to", m.To, "subject", m.Subject)
	return nil
}

// compose builds the message: headers with non-ASCII text as RFC 2047 encoded
// words, the text as UTF-8 in quoted-printable.
func (s *Sender) compose(m Message) (*gomail.Msg, error) {
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: Config.From %q: %w", s.cfg.From, err)
	}
	for _, a := range m.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("mail: Message.To %q: %w", a, err)
		}
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("mail: Config.From %q: %w", s.cfg.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("mail: Message.To %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(s.now())
	msg.SetMessageIDWithValue(rand.Text() + "@" + domain(from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// deliver runs one SMTP conversation that hands msg over. The connection is
// dialled here, so that ctx and Config.Timeout bound the whole conversation:
// when either ends, the connection closes beneath whatever read or write is
// under way.
func (s *Sender) deliver(ctx context.Context, msg *gomail.Msg) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tlsCfg := s.tlsConfig()
	opts := []gomail.Option{
		gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout), gomail.WithHELO(helo()),
		gomail.WithTLSConfig(tlsCfg), gomail.WithoutNoop(),
		gomail.WithDialContextFunc(func(dctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			if s.cfg.TLS == TLSImplicit {
				tc := tls.Client(conn, tlsCfg)
				if err := tc.HandshakeContext(dctx); err != nil {
					stop()
					conn.Close()
					return nil, fmt.Errorf("TLS: %w", err)
				}
				return tc, nil
			}
			return conn, nil
		}),
	}
	switch s.cfg.TLS {
	case TLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default: // off, or implicit: TLS, if any, is the dialled connection's
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// PLAIN, else LOGIN, else the strongest the server offers; neither
		// PLAIN nor LOGIN sends the password but over TLS or to localhost.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}

// tlsConfig is Config.TLSConfig, or the system's roots, for the host of Addr.
func (s *Sender) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	return cfg
}

// helo is the name we greet the server with: this machine's.
func helo() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// domain is the part of an address after the @, for the Message-ID.
func domain(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i < len(address)-1 {
		return address[i+1:]
	}
	return "localhost"
}
