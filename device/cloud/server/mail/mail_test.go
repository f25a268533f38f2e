package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startSink serves a sink on a loopback port and returns its address.
func startSink(t *testing.T, configure func(*Sink)) (*Sink, string) {
	t.Helper()
	return startSinkTLS(t, configure, nil)
}

// startSinkTLS serves a sink on a loopback port, speaking TLS from the first
// byte when implicit is not nil (SMTPS), and returns its address.
func startSinkTLS(t *testing.T, configure func(*Sink), implicit *tls.Config) (*Sink, string) {
	t.Helper()
	sink, err := NewSink(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(sink)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit != nil {
		ln = tls.NewListener(ln, implicit)
	}
	done := make(chan error, 1)
	go func() { done <- sink.Serve(ln) }()
	t.Cleanup(func() {
		sink.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sink, ln.Addr().String()
}

// messages parses the sink's .eml files in order.
func messages(t *testing.T, dir string) []*mail.Message {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*mail.Message
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSendToSink(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	trusted := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	cases := []struct {
		name      string
		configure func(*Sink)
		implicit  *tls.Config // the sink speaks TLS from the first byte
		cfg       Config
		wantErr   bool
	}{
		{name: "implicit tls and auth", configure: func(s *Sink) { s.Username, s.Password = "kassa", "secret" }, implicit: serverTLS,
			cfg: Config{TLS: TLSImplicit, Username: "kassa", Password: "secret", TLSConfig: trusted}},
		{name: "implicit tls, wrong password", configure: func(s *Sink) { s.Username, s.Password = "kassa", "secret" }, implicit: serverTLS,
			cfg: Config{TLS: TLSImplicit, Username: "kassa", Password: "nope", TLSConfig: trusted}, wantErr: true},
		{name: "implicit tls, untrusted certificate", implicit: serverTLS, cfg: Config{TLS: TLSImplicit}, wantErr: true},
		{name: "implicit tls to a plain server", cfg: Config{TLS: TLSImplicit, Timeout: 5 * time.Second}, wantErr: true},
		{name: "starttls to a server of implicit tls", implicit: serverTLS, cfg: Config{TLSConfig: trusted, Timeout: 2 * time.Second}, wantErr: true},
		{name: "plain", cfg: Config{TLS: TLSOff}},
		{name: "starttls and auth", configure: func(s *Sink) { s.TLS, s.Username, s.Password = serverTLS, "kassa", "secret" },
			cfg: Config{Username: "kassa", Password: "secret", TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}},
		{name: "wrong password", configure: func(s *Sink) { s.TLS, s.Username, s.Password = serverTLS, "kassa", "secret" },
			cfg: Config{Username: "kassa", Password: "nope", TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}, wantErr: true},
		{name: "starttls required but not offered", cfg: Config{}, wantErr: true},
		{name: "untrusted certificate", configure: func(s *Sink) { s.TLS = serverTLS }, cfg: Config{}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink, addr := startSinkTLS(t, c.configure, c.implicit)
			cfg := c.cfg
			cfg.Addr, cfg.From = addr, "kassa@shop.example"
			snd, err := NewSender(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			body := "Касса остановлена.\n.a line that starts with a dot\n"
			err = snd.Send(context.Background(), Message{To: []string{"owner@shop.example"}, Subject: "Тревога: касса", Text: body})
			got := messages(t, sink.Dir())
			if c.wantErr {
				if err == nil || len(got) != 0 {
					t.Fatalf("err %v, %d messages; want an error and none", err, len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("%d messages, want 1", len(got))
			}
			m := got[0]
			subj, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || subj != "Тревога: касса" {
				t.Errorf("Subject %q (%v)", subj, err)
			}
			if to := m.Header.Get("To"); !strings.Contains(to, "owner@shop.example") {
				t.Errorf("To %q", to)
			}
		})
	}
}

func TestSenderConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no port", Config{Addr: "smtp.example", From: "a@b"}, "Addr"},
		{"bad port", Config{Addr: "smtp.example:x", From: "a@b"}, "port"},
		{"no from", Config{Addr: "smtp.example:587"}, "From"},
		{"bad tls", Config{Addr: "smtp.example:587", From: "a@b", TLS: "maybe"}, "TLS"},
		{"bad from", Config{Addr: "smtp.example:587", From: "kassa at shop"}, "From"},
	} {
		if _, err := NewSender(c.cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	for addr, want := range map[string]string{"smtp.example:465": TLSImplicit, "smtp.example:587": TLSRequired, "smtp.example:25": TLSRequired} {
		if s, err := NewSender(Config{Addr: addr, From: "a@b"}, nil); err != nil || s.cfg.TLS != want {
			t.Errorf("%s: TLS %q (%v); want %q by default", addr, s.cfg.TLS, err, want)
		}
	}
}

func TestSinkNumbersOn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "000007.eml"), []byte("Subject: old\r\n\r\nx\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink, err := NewSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	name, err := sink.store([]byte("Subject: new\r\n\r\ny\r\n"))
	if err != nil || name != "000008.eml" {
		t.Fatalf("stored as %q (%v), want 000008.eml", name, err)
	}
}

// TestSendRussian checks what a mail reader sees of a message in Russian: the
// subject and the display names decoded from RFC 2047 words, the text from
// UTF-8 quoted-printable, and lines that start with a dot (or are a dot alone,
// which would end DATA early without dot-stuffing) intact.
func TestSendRussian(t *testing.T) {
	sink, addr := startSink(t, nil)
	snd, err := NewSender(Config{Addr: addr, From: "Касса №1 <kassa@shop.example>", TLS: TLSOff}, nil)
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 3, 8, 9, 30, 0, 0, time.FixedZone("MSK", 3*3600))
	snd.now = func() time.Time { return date }
	subject := "Тревога: касса «Магазин на Садовой, 12» остановлена и не принимает чеки уже 15 минут"
	text := "Касса остановлена.\n.\n..две точки\n.a line that starts with a dot\n" +
		"Строка, которая длиннее семидесяти шести знаков и потому переносится мягким переносом quoted-printable.\n" +
		"пробел в конце \nИтого: 1 234,56 ₽\n"
	to := []string{"Владелец Иванов <owner@shop.example>", "boss@shop.example"}
	if err := snd.Send(context.Background(), Message{To: to, Subject: subject, Text: text}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(sink.Dir(), "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d messages, want 1", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, line := range strings.Split(string(head), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line %d has %d characters: %q", i, len(line), line)
		}
		if strings.TrimSpace(line) == "" {
			t.Errorf("header line %d is blank", i)
		}
	}
	for i, c := range raw {
		if c > 0x7e || (c < ' ' && c != '\r' && c != '\n' && c != '\t') {
			t.Fatalf("byte %d of the message is %#x; want 7-bit text", i, c)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || got != subject {
		t.Errorf("Subject %q (%v), want %q", got, err, subject)
	}
	if got, err := m.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Name != "Касса №1" || got[0].Address != "kassa@shop.example" {
		t.Errorf("From %v (%v)", got, err)
	}
	got, err := m.Header.AddressList("To")
	if err != nil || len(got) != 2 || got[0].Name != "Владелец Иванов" || got[0].Address != "owner@shop.example" || got[1].Address != "boss@shop.example" {
		t.Errorf("To %v (%v)", got, err)
	}
	if d, err := m.Header.Date(); err != nil || !d.Equal(date) {
		t.Errorf("Date %v (%v), want %v", d, err, date)
	}
	if id := m.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@shop.example>") {
		t.Errorf("Message-ID %q", id)
	}
	if v := m.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version %q", v)
	}
	if mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type")); err != nil || mt != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("Content-Type %q", m.Header.Get("Content-Type"))
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != text {
		t.Errorf("text\n%q\nwant\n%q", got, text)
	}
}

// TestSendCancel checks that a server that never answers holds Send no longer
// than the context, or Config.Timeout.
func TestSendCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	msg := Message{To: []string{"owner@shop.example"}, Subject: "x", Text: "y"}
	for _, c := range []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{"context deadline", time.Minute, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}},
		{"context cancelled", time.Minute, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{"Config.Timeout", 200 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			snd, err := NewSender(Config{Addr: ln.Addr().String(), From: "kassa@shop.example", TLS: TLSOff, Timeout: c.timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := c.ctx()
			defer cancel()
			start := time.Now()
			err = snd.Send(ctx, msg)
			if err == nil {
				t.Fatal("Send took a message nobody answered")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Send returned after %v", took)
			}
			if c.name != "Config.Timeout" && !errors.Is(err, ctx.Err()) {
				t.Errorf("%v does not carry %v", err, ctx.Err())
			}
		})
	}
}

// scriptedServer is an SMTP server on addr that offers AUTH with the given
// mechanisms (none when empty), takes any credentials and any message, and
// hands over the lines it was sent, the AUTH exchange's included.
func scriptedServer(t *testing.T, addr, mechs string) (string, <-chan []string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- []string{err.Error()}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		var lines []string
		defer func() { got <- lines }()
		say := func(s string) { io.WriteString(c, s+"\r\n") }
		read := func() string {
			l, _ := r.ReadString('\n')
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			return l
		}
		say("220 fake")
		for {
			line := read()
			if line == "" {
				return
			}
			switch verb, arg, _ := strings.Cut(line, " "); strings.ToUpper(verb) {
			case "EHLO":
				if mechs == "" {
					say("250 fake")
				} else {
					say("250-fake\r\n250 AUTH " + mechs)
				}
			case "AUTH":
				if strings.HasPrefix(arg, "LOGIN") {
					say("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
					read()
					say("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
					read()
				}
				say("235 ok")
			case "DATA":
				say("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
				}
				say("250 taken")
			case "QUIT":
				say("221 bye")
				return
			default:
				say("250 ok")
			}
		}
	}()
	return ln.Addr().String(), got
}

// TestAuthChoice: the sender takes PLAIN, else LOGIN, from what the server
// offers, and sends no password in clear text to a host other than localhost.
func TestAuthChoice(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		name, listen, host, mechs string
		want                      []string // lines the server must see in a row; nil: Send fails
	}{
		{"PLAIN first", "127.0.0.1:0", "localhost", "LOGIN PLAIN CRAM-MD5", []string{"AUTH PLAIN " + b64("\x00kassa\x00secret")}},
		{"LOGIN when no PLAIN", "127.0.0.1:0", "localhost", "LOGIN", []string{"AUTH LOGIN", b64("kassa"), b64("secret")}},
		{"no AUTH offered", "127.0.0.1:0", "localhost", "", nil},
		{"PLAIN in clear text", "127.0.0.2:0", "127.0.0.2", "PLAIN", nil},
		{"LOGIN in clear text", "127.0.0.2:0", "127.0.0.2", "LOGIN", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, got := scriptedServer(t, c.listen, c.mechs)
			_, port, _ := net.SplitHostPort(addr)
			snd, err := NewSender(Config{Addr: net.JoinHostPort(c.host, port), From: "kassa@shop.example", TLS: TLSOff,
				Username: "kassa", Password: "secret"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = snd.Send(context.Background(), Message{To: []string{"owner@shop.example"}, Subject: "x", Text: "y"})
			lines := <-got
			if c.want == nil {
				if err == nil {
					t.Fatalf("Send succeeded; conversation %q", lines)
				}
				for _, l := range lines {
					if strings.Contains(l, b64("\x00kassa\x00secret")) || l == b64("secret") {
						t.Fatalf("the password went in clear text: %q", lines)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("%v; conversation %q", err, lines)
			}
			if i := indexOf(lines, c.want[0]); i < 0 || len(lines) < i+len(c.want) || strings.Join(lines[i:i+len(c.want)], "|") != strings.Join(c.want, "|") {
				t.Errorf("conversation %q, want %q in it", lines, c.want)
			}
		})
	}
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// TestSinkModes: the sink's directory and messages are the owner's alone,
// also when an older build left the directory 0755.
func TestSinkModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sink, err := NewSink(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	name, err := sink.store([]byte("Subject: x\r\n\r\ny\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, name): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}
