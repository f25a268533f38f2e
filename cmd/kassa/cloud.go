//go:build !board

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/cloud/server/mail"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore"
)

func init() {
	register(command{name: "cloud", summary: "run the sandbox cloud alone and print its credentials", run: runCloud})
}

// serverGC raises the GC target of kassa cloud and kassa ofd-sim, unless GOGC
// is set: alone they stand for servers of their own with memory to spare, not
// for the register's board, and at 400 a heap grows to about five times what it
// holds live for less CPU spent collecting it.
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// cloudOptions are kassa cloud's flags.
type cloudOptions struct {
	addr, dir        string
	tlsCert, tlsKey  string
	trustedProxies   []netip.Prefix
	privateTargets   string // auto, allow or refuse
	log              *slog.Logger
	ready            func(url string) // called once it listens; default prints the credentials
	shutdownDeadline time.Duration
	smtp             smtpOptions
	db               string // postgres://…; "": bbolt in dir
	adminTokenFile   string
}

// smtpOptions say where kassa cloud's alerts go out by mail.
type smtpOptions struct {
	host, tls, user, passwordFile, from, ca string
	port                                    int
}

// smtpPasswordEnv holds the SMTP password when no --smtp-password-file names one.
const smtpPasswordEnv = "KASSA_SMTP_PASSWORD"

// sender is the mail sender the options describe; nil when no --smtp-host is given.
func (o smtpOptions) sender(log *slog.Logger) (*mail.Sender, error) {
	if o.host == "" {
		return nil, nil
	}
	if o.from == "" {
		return nil, errors.New("--smtp-from: the alerts' sender address is required with --smtp-host")
	}
	cfg := mail.Config{Addr: net.JoinHostPort(o.host, strconv.Itoa(o.port)), From: o.from, TLS: o.tls, Username: o.user}
	if cfg.Username != "" {
		cfg.Password = os.Getenv(smtpPasswordEnv)
		if o.passwordFile != "" {
			b, err := os.ReadFile(o.passwordFile)
			if err != nil {
				return nil, fmt.Errorf("--smtp-password-file: %w", err)
			}
			cfg.Password = strings.TrimRight(string(b), "\r\n")
		}
		if cfg.Password == "" {
			return nil, fmt.Errorf("--smtp-user %s: no password in --smtp-password-file or $%s", o.user, smtpPasswordEnv)
		}
	}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--smtp-ca %s: no PEM certificate in it", o.ca)
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s, err := mail.NewSender(cfg, log.With("part", "mail"))
	if err != nil {
		return nil, fmt.Errorf("SMTP: %w", err)
	}
	return s, nil
}

func runCloud(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "admin" {
		return runCloudAdmin(ctx, args[1:])
	}
	fs := newFlags("cloud", "kassa cloud [--addr HOST:PORT] [--data DIR] [flags]",
		"Runs the cloud alone (shop API, register API, the owner's cabinet) and prints the\n"+
			"sandbox's credentials as JSON once it listens. It keeps its data in DIR/cloud.db, or\n"+
			"with --db in PostgreSQL, which any number of kassa cloud processes may share\n"+
			"(docs/fleet.md). `kassa cloud admin -h`: provisioning accounts, points and registers.")
	o := cloudOptions{shutdownDeadline: 5 * time.Second}
	var logSettings device.LogSettings
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8780", "listen address of the shop and register APIs")
	fs.StringVar(&o.dir, "data", "", "data directory; the cloud keeps DIR/cloud.db (without --db)")
	fs.StringVar(&o.db, "db", "", "keep the cloud's data in PostgreSQL: postgres://user@host/db?sslmode=… (default $"+cloudDBEnv+")")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "serve the admin API (docs/admin.md) for requests bearing the token in this file (32 characters or more)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM, the chain after the leaf); needs --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the certificate's private key (PEM)")
	proxies := fs.String("trusted-proxy", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	fs.StringVar(&o.privateTargets, "private-targets", "auto",
		"may callbacks and webhooks reach loopback, private and link-local addresses: allow, refuse, or auto (allow only when --addr is loopback)")
	fs.StringVar(&logSettings.Level, "log", "", "log level: debug, info (default), warn, error")
	fs.StringVar(&logSettings.Format, "log-format", "", "log format: text (default), or json: one object a line, for a log collector")
	fs.StringVar(&o.smtp.host, "smtp-host", "", "send the owners' alerts by mail through this SMTP server; none: alerts go by webhook only")
	fs.IntVar(&o.smtp.port, "smtp-port", 587, "the SMTP server's port: 587 (STARTTLS) or 465 (TLS from the first byte)")
	fs.StringVar(&o.smtp.tls, "smtp-tls", "", "tls (implicit, SMTPS), starttls, opportunistic or off; default tls on port 465, starttls on others")
	fs.StringVar(&o.smtp.user, "smtp-user", "", "log in to the SMTP server as this user (AUTH PLAIN, else LOGIN; only over TLS or to localhost)")
	fs.StringVar(&o.smtp.passwordFile, "smtp-password-file", "", "read the SMTP password from this file (default $"+smtpPasswordEnv+")")
	fs.StringVar(&o.smtp.from, "smtp-from", "", `the alerts' sender, e.g. "Касса <kassa@shop.example>"; required with --smtp-host`)
	fs.StringVar(&o.smtp.ca, "smtp-ca", "", "trust the SMTP server's certificate if this CA (PEM) signed it, instead of the system's roots")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.log, err = device.NewLogger(os.Stderr, logSettings); err != nil {
		return err
	}
	if o.trustedProxies, err = parsePrefixes(*proxies); err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	return serveCloud(ctx, o)
}

// cloudDBEnv names the PostgreSQL DSN when no --db is given: a DSN may hold a password.
const cloudDBEnv = "KASSA_CLOUD_DB"

// readAdminToken is the admin API's token kept in path; "" with no path.
func readAdminToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < 32 {
		return "", fmt.Errorf("--admin-token-file %s: the token has %d characters, want 32 or more (openssl rand -hex 32)", path, len(token))
	}
	return token, nil
}

// parsePrefixes reads "10.0.0.0/8, 192.0.2.7" as prefixes, an address as one of its own.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func serveCloud(ctx context.Context, o cloudOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var tlsCfg *tls.Config
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	o.dir = dataDir(o.dir)
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var allowPrivate bool
	switch o.privateTargets {
	case "allow":
		allowPrivate = true
	case "refuse":
	case "auto", "":
		ap, err := netip.ParseAddrPort(ln.Addr().String())
		allowPrivate = err == nil && ap.Addr().IsLoopback()
	default:
		return fmt.Errorf("--private-targets %q: want allow, refuse or auto", o.privateTargets)
	}
	ccfg := server.Config{Dir: o.dir, Logger: o.log, TrustedProxies: o.trustedProxies, AllowPrivateTargets: allowPrivate}
	if ccfg.AdminToken, err = readAdminToken(o.adminTokenFile); err != nil {
		return err
	}
	if o.db == "" {
		o.db = os.Getenv(cloudDBEnv)
	}
	if o.db != "" {
		st, err := pgstore.Open(ctx, o.db, pgstore.WithLogger(o.log.With("part", "pgstore")))
		if err != nil {
			return fmt.Errorf("--db: %w", err)
		}
		defer st.Close()
		ccfg.Store = st
	}
	sender, err := o.smtp.sender(o.log)
	if err != nil {
		return err
	}
	if sender != nil {
		ccfg.Mailer = sender
	}
	serverGC()
	srv, err := server.Open(ccfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	sb, err := srv.Sandbox()
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		ln = tls.NewListener(ln, tlsCfg)
	}
	url := scheme + "://" + ln.Addr().String()
	if o.ready != nil {
		o.ready(url)
	} else {
		out, err := json.MarshalIndent(struct {
			Cloud string `json:"cloud"`
			server.Sandbox
		}{url, sb}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(out))
	}
	hs := server.HTTPServer(srv.Handler(), server.ServerLimits{})
	hs.TLSConfig = tlsCfg
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownDeadline)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done // Shutdown has let the requests under way finish
	return nil
}
