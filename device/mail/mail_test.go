package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"mime"
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
