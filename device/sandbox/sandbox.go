// Package sandbox assembles `kassa run` with no configuration: the cloud
// server, the emulated drive, printer and OFD, the SMTP sink that keeps the
// owner's alerts, and the sandbox's clock that drills move — each only where
// the settings leave the part on its embedded default.
package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/cloud/server/mail"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/printer/emu"
)

// regPrefix is the first 10 digits of the sandbox's registration numbers.
const regPrefix = "0000000001"

// ofdName is the OFD emulator's name in registrations and on receipts.
const ofdName = "ОФД-эмулятор kassa"

// Sandbox is the emulated side of a running `kassa run`: each field is nil
// where the settings name the real part.
type Sandbox struct {
	Cloud    *server.Server
	Emulator *fn.Emulator
	Printer  *emu.Printer
	OFD      *sim.Server
	File     File // what var/sandbox.json holds

	settings device.Settings
	clock    *clock // nil with a real drive: the register runs on the system's clock
	runtime  *device.Runtime
	log      *slog.Logger
	closers  []func() error
}

// File is var/sandbox.json: what a script or an integrator needs to post documents.
type File struct {
	Cloud           string                `json:"cloud"`
	Login           string                `json:"login"`
	Password        string                `json:"password"`
	RetailPointID   string                `json:"retailPointId"`
	CabinetLogin    string                `json:"cabinetLogin"`
	CabinetPassword string                `json:"cabinetPassword"`
	RetailPoints    []server.SandboxPoint `json:"retailPoints"`
	Cabinet         string                `json:"cabinet"` // the owner's cabinet, log in with the cabinet pair
	SMTP            string                `json:"smtp"`    // the mail sink: alerts land in data/mail as .eml
	OFD             string                `json:"ofd,omitempty"`
	OFDLookup       string                `json:"ofdLookup,omitempty"`
	Socket          string                `json:"socket"`
}

// App is the register and its sandbox, running.
type App struct {
	*device.App
	Sandbox *Sandbox
}

// Start brings up the sandbox's parts the settings leave on their defaults,
// then the register with them, and writes var/sandbox.json once everything
// listens; Wait blocks until ctx ends and everything has stopped.
func Start(ctx context.Context, s device.Settings, version string, log *slog.Logger) (*App, error) {
	s.ApplyDefaults()
	sb, parts, err := Open(ctx, s, version, log)
	if err != nil {
		return nil, err
	}
	a, err := device.Start(ctx, s, parts, version, log)
	if err != nil {
		sb.Close()
		return nil, err
	}
	sb.runtime = a.Runtime
	if err := sb.ready(a.Socket); err != nil {
		sb.Close()
		return nil, err
	}
	return &App{App: a, Sandbox: sb}, nil
}

// Wait blocks until ctx ends and the register has stopped, then closes the sandbox.
func (a *App) Wait(ctx context.Context) {
	a.App.Wait(ctx)
	a.Sandbox.Close()
}

// Open starts the emulated parts for the settings left on their defaults (s
// with its defaults applied) and returns the parts for device.Start. A new
// emulated drive is registered with the retail point's data.
func Open(ctx context.Context, s device.Settings, version string, log *slog.Logger) (*Sandbox, device.Parts, error) {
	sb := &Sandbox{settings: s, log: log}
	parts, err := sb.open(ctx, version)
	if err != nil {
		sb.Close()
		return nil, parts, err
	}
	return sb, parts, nil
}

func (sb *Sandbox) open(ctx context.Context, version string) (device.Parts, error) {
	s := &sb.settings
	p := device.Parts{Faults: sb.Fault}
	if err := os.MkdirAll(s.Data, 0o700); err != nil {
		return p, err
	}
	cloudURL, token := s.Cloud.URL, s.Cloud.Token
	if cloudURL == "" {
		var err error
		if cloudURL, token, err = sb.startCloud(); err != nil {
			return p, err
		}
		p.CloudURL, p.CloudToken = cloudURL, token
	}
	if err := sb.openPrinter(&p); err != nil {
		return p, err
	}
	if s.Drive.Port != "" {
		return p, nil // a real drive: a real OFD and the system's clock
	}
	ofdKey, err := sb.ofdKey()
	if err != nil {
		return p, err
	}
	if err := sb.openDrive(ofdKey); err != nil {
		return p, err
	}
	p.Drive = sb.Emulator
	if sb.clock, err = openClock(filepath.Join(s.Data, clockFile)); err != nil {
		return p, err
	}
	p.Clock = sb.clock.Now
	if s.OFD.Server == "" {
		if err := sb.startOFD(ofdKey); err != nil {
			return p, err
		}
		p.OFDAddr, p.OFDName, p.OFDSite = sb.File.OFD, ofdName, sb.File.OFDLookup
	}
	client := cloud.NewClient(cloudURL, token, &http.Client{Timeout: 60 * time.Second})
	return p, sb.registerDrive(ctx, client, version, sb.clock.Now())
}

// startCloud runs the cloud server with its mail sink on loopback and returns
// its URL and the sandbox register's token.
func (sb *Sandbox) startCloud() (string, string, error) {
	s := &sb.settings
	mailer, smtpAddr, err := sb.startMailSink()
	if err != nil {
		return "", "", err
	}
	// AllowPrivateTargets: the sandbox's shops and webhooks run on this machine.
	srv, err := server.Open(server.Config{Dir: s.Data, Logger: sb.log.With("part", "cloud"), Mailer: mailer, AllowPrivateTargets: true})
	if err != nil {
		return "", "", err
	}
	sb.Cloud = srv
	sb.closers = append(sb.closers, srv.Close)
	acc, err := srv.Sandbox()
	if err != nil {
		return "", "", err
	}
	addr, err := sb.serveHTTP(cmp.Or(s.Cloud.Addr, "127.0.0.1:8780"), server.HTTPServer(srv.Handler(), server.ServerLimits{}))
	if err != nil {
		return "", "", fmt.Errorf("cloud: %w", err)
	}
	url := "http://" + addr
	sb.File = File{Cloud: url, Login: acc.Login, Password: acc.Password, RetailPointID: acc.RetailPointID,
		CabinetLogin: acc.CabinetLogin, CabinetPassword: acc.CabinetPassword, RetailPoints: acc.RetailPoints,
		Cabinet: url + "/cabinet/", SMTP: smtpAddr}
	return url, acc.RegisterToken, nil
}

// startMailSink starts the SMTP sink on loopback, which keeps every alert the
// cloud mails as an .eml file under data/mail, and returns a sender to it.
func (sb *Sandbox) startMailSink() (server.Mailer, string, error) {
	log := sb.log.With("part", "mail")
	sink, err := mail.NewSink(filepath.Join(sb.settings.Data, "mail"), log)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("mail sink: %w", err)
	}
	go sink.Serve(ln)
	sb.closers = append(sb.closers, sink.Close)
	sender, err := mail.NewSender(mail.Config{Addr: ln.Addr().String(), From: "kassa@sandbox.local", TLS: mail.TLSOff}, log)
	if err != nil {
		return nil, "", err
	}
	return sender, ln.Addr().String(), nil
}

// openDrive opens the emulated drive under data/fn.
func (sb *Sandbox) openDrive(ofdKey []byte) error {
	s := &sb.settings
	if s.OFD.Server != "" {
		ofdKey = nil // another OFD signs with its own key: accept its acknowledgements (sandbox only)
	}
	var latency fn.Latency
	switch s.Drive.Latency {
	case "":
	case "typical":
		latency = fn.TypicalLatency()
	default:
		return fmt.Errorf("drive.latency %q: want \"typical\" or none", s.Drive.Latency)
	}
	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(s.Data, "fn"), OFDKey: ofdKey, Latency: latency,
		CheckTables: true, Logger: sb.log.With("part", "fn")})
	if err != nil {
		return err
	}
	sb.Emulator = em
	sb.closers = append(sb.closers, em.Close)
	return nil
}

// openPrinter starts the emulated printer, which writes each page to
// data/receipts as <FD>.txt and <FD>.png, unless the settings name a real one
// or none.
func (sb *Sandbox) openPrinter(p *device.Parts) error {
	s := &sb.settings
	if s.Printer.None || s.Printer.Port != "" {
		return nil
	}
	prof, err := device.PrinterProfile(s.Printer)
	if err != nil {
		return err
	}
	sb.Printer = emu.New(emu.Config{Dir: filepath.Join(s.Data, "receipts"), Profile: prof, Logger: sb.log.With("part", "printer-emu")})
	pipe := sb.Printer.Pipe()
	sb.closers = append(sb.closers, pipe.Close)
	p.Printer = pipe
	return nil
}

// startOFD runs the OFD emulator and its receipt look-up on loopback; it
// knows the emulated drive's key.
func (sb *Sandbox) startOFD(ofdKey []byte) error {
	s := &sb.settings
	em := sb.Emulator
	o, err := sim.New(sim.Config{
		Dir: s.Data, OFDKey: ofdKey, Clock: sb.clock.Now, Logger: sb.log.With("part", "ofd-sim"),
		DriveKeys: func(n string) ([]byte, bool) {
			if n == em.DriveNumber() {
				return em.Key(), true
			}
			return nil, false
		},
	})
	if err != nil {
		return err
	}
	sb.OFD = o
	sb.closers = append(sb.closers, o.Close)
	ln, err := net.Listen("tcp", cmp.Or(s.OFD.Addr, "127.0.0.1:7777"))
	if err != nil {
		return fmt.Errorf("ofd emulator: %w", err)
	}
	go o.Serve(ln)
	lookup, err := sb.serveHTTP(cmp.Or(s.OFD.LookupAddr, "127.0.0.1:7778"), o.LookupServer())
	if err != nil {
		return fmt.Errorf("ofd look-up: %w", err)
	}
	sb.File.OFD, sb.File.OFDLookup = ln.Addr().String(), "http://"+lookup
	return nil
}

// registerDrive registers a new emulated drive with the retail point's data,
// as a technician registers a real register once at the tax service.
func (sb *Sandbox) registerDrive(ctx context.Context, client *cloud.Client, version string, at time.Time) error {
	st, err := sb.Emulator.State(ctx)
	if err != nil {
		return err
	}
	if st.Phase != fn.PhaseNotRegistered {
		return nil
	}
	p, err := client.Point(ctx)
	if err != nil {
		return fmt.Errorf("registering the drive: the retail point's data: %w", err)
	}
	s, err := Register(ctx, sb.Emulator, p, sb.settings.Register.Serial, version, at)
	if err != nil {
		return err
	}
	sb.log.Info("emulated drive registered", "fd", s.FD)
	return nil
}

// Register writes the registration report of the point's register into a new
// drive; the registration number is derived from the sandbox prefix, INN and serial.
func Register(ctx context.Context, d fn.Drive, p cloud.Point, serial, version string, at time.Time) (fn.Signed, error) {
	reg, err := fiscal.RegNumber(regPrefix, p.INN, serial)
	if err != nil {
		return fn.Signed{}, err
	}
	g := p.Registration(serial, version, reg) // the flags from the point's settings
	g.OFDName, g.OFDINN = ofdName, sim.DefaultOFDINN
	return device.RegisterDrive(ctx, d, g, at)
}

// ofdKey is the OFD emulator's signing key, made once and kept in the data directory.
func (sb *Sandbox) ofdKey() ([]byte, error) {
	path := filepath.Join(sb.settings.Data, "ofd.key")
	if k, err := os.ReadFile(path); err == nil && len(k) == 32 {
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, os.WriteFile(path, k, 0o600)
}

// serveHTTP serves srv on addr until the sandbox closes and returns the address it listens on.
func (sb *Sandbox) serveHTTP(addr string, srv *http.Server) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	go srv.Serve(ln)
	sb.closers = append(sb.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return ln.Addr().String(), nil
}

// ready writes var/sandbox.json, when the sandbox runs the cloud, with the
// register's console socket.
func (sb *Sandbox) ready(socket string) error {
	sb.File.Socket = socket
	if sb.Cloud == nil {
		return nil
	}
	b, _ := json.MarshalIndent(sb.File, "", "  ")
	return os.WriteFile(filepath.Join(sb.settings.Data, "sandbox.json"), append(b, '\n'), 0o600)
}

// Close stops the emulated parts, the last first.
func (sb *Sandbox) Close() {
	for i := len(sb.closers) - 1; i >= 0; i-- {
		if err := sb.closers[i](); err != nil {
			sb.log.Debug("closing", "err", err)
		}
	}
	sb.closers = nil
}
