// Package mail owns e-mail over SMTP, both ends: Sender hands a message to an
// SMTP server (STARTTLS and authentication as configured), and Sink is an SMTP
// server for the sandbox and tests that keeps every message it takes as an .eml
// file. The sink only listens where it is told (loopback in the sandbox) and
// never relays anything anywhere.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
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
	port int
	log  *slog.Logger
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
	return &Sender{cfg: cfg, host: host, port: port, log: log}, nil
}

// Send delivers m to the server; an error means the server did not take it.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if len(m.To) == 0 {
		return errors.New("mail: Message.To is empty")
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail: Config.From %q: %w", s.cfg.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("mail: Message.To %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSRequired:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSOff:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, gomail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: client for %s: %w", s.cfg.Addr, err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: sending to %s via %s: %w", m.To, s.cfg.Addr, err)
	}
	s.log.Debug("mail: sent", "to", m.To, "subject", m.Subject)
	return nil
}
