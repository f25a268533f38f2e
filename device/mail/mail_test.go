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
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startSink serves a sink on a loopback port and returns its address.
func startSink(t *testing.T, configure func(*Sink)) (*Sink, string) {
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
	cases := []struct {
		name      string
		configure func(*Sink)
		cfg       Config
		wantErr   bool
	}{
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
			sink, addr := startSink(t, c.configure)
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
	} {
		if _, err := NewSender(c.cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
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

func TestFold(t *testing.T) {
	long := strings.Repeat("x", 90)
	for _, c := range []struct{ name, in, want string }{
		{"short", "Subject: hello", "Subject: hello"},
		{"at spaces", "Subject: " + strings.Repeat("word ", 20) + "end",
			"Subject: " + strings.TrimSuffix(strings.Repeat("word ", 14), " ") + "\r\n " + strings.TrimSuffix(strings.Repeat("word ", 6), " ") + " end"},
		{"a long word stays whole", "Subject: " + long + " y", "Subject:\r\n " + long + "\r\n y"},
		{"no line of spaces alone", "Subject: " + strings.Repeat("y", 68) + "     ", "Subject: " + strings.Repeat("y", 68) + "     "},
	} {
		got := fold(c.in)
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if strings.ReplaceAll(got, "\r\n", "") != c.in {
			t.Errorf("%s: %q does not unfold to the input", c.name, got)
		}
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

// TestAuthChoice checks which mechanism the sender picks, and that it sends no
// password in clear text to a host other than localhost.
func TestAuthChoice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		name, host, auth string
		tls              bool
		want             string // the mechanism's name, or what its error says
	}{
		{"PLAIN first", "smtp.example", "LOGIN PLAIN CRAM-MD5", true, "PLAIN"},
		{"LOGIN when no PLAIN", "smtp.example", "LOGIN", true, "LOGIN"},
		{"nothing we speak", "smtp.example", "CRAM-MD5 XOAUTH2", true, "we speak PLAIN and LOGIN"},
		{"no AUTH", "smtp.example", "", true, "offers no AUTH"},
		{"PLAIN in clear text", "smtp.example", "PLAIN", false, "unencrypted"},
		{"LOGIN in clear text", "smtp.example", "LOGIN", false, "unencrypted"},
		{"LOGIN in clear text to localhost", "localhost", "LOGIN", false, "LOGIN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ehlo := []string{"250-fake"}
			if c.auth != "" {
				ehlo = append(ehlo, "250-AUTH "+c.auth)
			}
			ehlo = append(ehlo, "250 8BITMIME")
			srv, cli := net.Pipe()
			defer cli.Close()
			go func() {
				defer srv.Close()
				r := bufio.NewReader(srv)
				io.WriteString(srv, "220 fake\r\n")
				r.ReadString('\n')
				io.WriteString(srv, strings.Join(ehlo, "\r\n")+"\r\n")
				io.Copy(io.Discard, r)
			}()
			sc, err := smtp.NewClient(cli, c.host)
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Hello("test"); err != nil {
				t.Fatal(err)
			}
			snd := &Sender{cfg: Config{Username: "kassa", Password: "secret"}, host: c.host}
			a, err := snd.auth(sc)
			if err == nil {
				var mech string
				mech, _, err = a.Start(&smtp.ServerInfo{Name: c.host, TLS: c.tls, Auth: strings.Fields(c.auth)})
				if err == nil {
					err = errors.New(mech)
				}
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %s", err, c.want)
			}
		})
	}
}

// TestSendLogin runs AUTH LOGIN against a scripted server (the sink speaks
// PLAIN only) and checks the answers it gets.
func TestSendLogin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
		say("220 fake")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			lines = append(lines, line)
			switch verb, _, _ := strings.Cut(line, " "); strings.ToUpper(verb) {
			case "EHLO":
				say("250-fake\r\n250 AUTH LOGIN")
			case "AUTH":
				say("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
				u, _ := r.ReadString('\n')
				say("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
				p, _ := r.ReadString('\n')
				lines = append(lines, strings.TrimSpace(u), strings.TrimSpace(p))
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
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	snd, err := NewSender(Config{Addr: "localhost:" + port, From: "kassa@shop.example", TLS: TLSOff, Username: "kassa", Password: "secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(context.Background(), Message{To: []string{"owner@shop.example"}, Subject: "x", Text: "y"}); err != nil {
		t.Fatal(err)
	}
	lines := <-got
	b64 := base64.StdEncoding.EncodeToString
	want := []string{"AUTH LOGIN", b64([]byte("kassa")), b64([]byte("secret"))}
	if i := indexOf(lines, "AUTH LOGIN"); i < 0 || len(lines) < i+3 || strings.Join(lines[i:i+3], "|") != strings.Join(want, "|") {
		t.Errorf("conversation %q, want %q in it", lines, want)
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
