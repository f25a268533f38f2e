//go:build !board

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/mail"
)

// selfSigned writes a certificate for 127.0.0.1 valid around the real now
// (TLS runs on the real clock) and its key, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kassa test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestCloudTLS: kassa cloud with --tls-cert and --tls-key serves HTTPS, and
// the cabinet's cookies are Secure there.
func TestCloudTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- serveCloud(ctx, cloudOptions{addr: "127.0.0.1:0", dir: t.TempDir(), tlsCert: certFile, tlsKey: keyFile,
			log: slog.New(slog.DiscardHandler), ready: func(u string) { urls <- u }, shutdownDeadline: time.Second})
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-errc:
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(url + "/cabinet/login")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || url[:8] != "https://" {
		t.Fatalf("GET %s/cabinet/login: HTTP %d, TLS %v", url, resp.StatusCode, resp.TLS != nil)
	}
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		t.Fatal("no cookie")
	}
	for _, c := range cookies {
		if !c.Secure {
			t.Errorf("cookie %s: Secure %v", c.Name, c.Secure)
		}
	}
	// Plain HTTP to the TLS port gets nowhere.
	if resp, err := http.Get("http://" + url[len("https://"):] + "/cabinet/login"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served")
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := parsePrefixes("10.0.0.0/8, 192.0.2.7 ,::1"); err != nil {
		t.Fatal(err)
	}
	if _, err := parsePrefixes("proxy.example"); err == nil {
		t.Fatal("a name taken as a proxy")
	}
}

// TestCloudSMTP: kassa cloud's --smtp-* options make a sender that delivers
// over real loopback SMTP with a certificate made now, with TLS from the first
// byte (port 465's way) and with STARTTLS (587's), logging in with the password
// from --smtp-password-file or $KASSA_SMTP_PASSWORD.
func TestCloudSMTP(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	os.WriteFile(pwFile, []byte("secret\n"), 0o600)
	log := slog.New(slog.DiscardHandler)

	for _, c := range []struct {
		name     string
		implicit bool
		tlsMode  string
		pwFile   string
		env      string
	}{
		{name: "implicit TLS, password file", implicit: true, tlsMode: "tls", pwFile: pwFile},
		{name: "STARTTLS by default, password from the environment", env: "secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(smtpPasswordEnv, c.env)
			sink, err := mail.NewSink(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			sink.Username, sink.Password = "kassa", "secret"
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if c.implicit {
				ln = tls.NewListener(ln, serverTLS)
			} else {
				sink.TLS = serverTLS
			}
			go sink.Serve(ln)
			defer sink.Close()
			port := ln.Addr().(*net.TCPAddr).Port
			o := smtpOptions{host: "127.0.0.1", port: port, tls: c.tlsMode, user: "kassa", passwordFile: c.pwFile,
				from: "Касса <kassa@shop.example>", ca: certFile}
			snd, err := o.sender(log)
			if err != nil {
				t.Fatal(err)
			}
			if err := snd.Send(context.Background(), mail.Message{To: []string{"owner@shop.example"}, Subject: "Тревога", Text: "касса"}); err != nil {
				t.Fatal(err)
			}
			if files, _ := filepath.Glob(filepath.Join(sink.Dir(), "*.eml")); len(files) != 1 {
				t.Fatalf("%d messages in the sink, want 1", len(files))
			}
		})
	}

	t.Setenv(smtpPasswordEnv, "")
	for _, c := range []struct {
		name string
		o    smtpOptions
		want string
	}{
		{"no from", smtpOptions{host: "smtp.example", port: 465}, "--smtp-from"},
		{"a user with no password", smtpOptions{host: "smtp.example", port: 465, from: "a@b", user: "kassa"}, "no password"},
		{"a CA file with no certificate", smtpOptions{host: "smtp.example", port: 465, from: "a@b", ca: pwFile}, "no PEM"},
		{"a bad TLS mode", smtpOptions{host: "smtp.example", port: 465, from: "a@b", tls: "ssl"}, "TLS"},
	} {
		if _, err := c.o.sender(log); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error naming %s", c.name, err, c.want)
		}
	}
	if s, err := (smtpOptions{}).sender(log); s != nil || err != nil {
		t.Errorf("no --smtp-host: %v, %v; want no sender", s, err)
	}
}
