package device

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server"
	"github.com/openkassa/kassa/device/cloud/server/mail"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
	"github.com/openkassa/kassa/store"
)

// SandboxSerial is the serial number (1013) of the sandbox register.
const SandboxSerial = "0000000000001234"

// sandboxRegPrefix is the first 10 digits of the sandbox registration number.
const sandboxRegPrefix = "0000000001"

// App is a running `kassa run`: the register and, in the sandbox, the emulators it
// talks to, each on its own port as DESIGN.md gives them.
type App struct {
	Settings Settings
	Runtime  *Runtime
	Store    *store.Store
	Drive    fn.Drive
	Emulator *fn.Emulator // nil with a real drive
	// PrinterEmu is the emulated printer; nil with a real one or none.
	PrinterEmu     *emu.Printer
	printerProfile printer.Profile
	Cloud          *server.Server
	OFD            *sim.Server
	Sender         *ofd.Sender
	Sandbox        SandboxFile

	// clock is the sandbox's clock that `kassa fault clock advance` moves; nil
	// with a real drive, whose register runs on the system's clock.
	clock   *sandboxClock
	log     *slog.Logger
	closers []func() error
	wg      sync.WaitGroup
}

// SandboxFile is var/sandbox.json: what a script or an integrator needs to post documents.
type SandboxFile struct {
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

// Start brings up everything the settings ask for and starts the register. It
// returns once every part listens and var/sandbox.json is written; Wait blocks
// until ctx ends and everything has stopped.
func Start(ctx context.Context, s Settings, version string, log *slog.Logger) (*App, error) {
	a := &App{Settings: s, log: log}
	if err := a.start(ctx, version); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, version string) error {
	s := &a.Settings
	if s.Data == "" {
		s.Data = os.Getenv("KASSA_DATA")
	}
	if s.Data == "" {
		s.Data = "var"
	}
	if err := os.MkdirAll(s.Data, 0o700); err != nil {
		return err
	}
	loc := time.Local
	if s.Register.Timezone != "" {
		l, err := time.LoadLocation(s.Register.Timezone)
		if err != nil {
			return fmt.Errorf("register.timezone: %w", err)
		}
		loc = l
	}
	if s.Register.Serial == "" {
		s.Register.Serial = SandboxSerial
	}

	// The cloud: the sandbox's in-process, or a real one.
	cloudURL, token := s.Cloud.URL, s.Cloud.Token
	if cloudURL == "" {
		mailer, smtpAddr, err := a.startMailSink()
		if err != nil {
			return err
		}
		// AllowPrivateTargets: the sandbox's shops and webhooks run on this machine.
		srv, err := server.Open(server.Config{Dir: s.Data, Logger: a.log.With("part", "cloud"), Mailer: mailer, AllowPrivateTargets: true})
		if err != nil {
			return err
		}
		a.Cloud = srv
		a.closers = append(a.closers, srv.Close)
		sb, err := srv.Sandbox()
		if err != nil {
			return err
		}
		addr, err := a.serveHTTP(orDefault(s.Cloud.Addr, "127.0.0.1:8780"), server.HTTPServer(srv.Handler(), server.ServerLimits{}))
		if err != nil {
			return fmt.Errorf("cloud: %w", err)
		}
		cloudURL, token = "http://"+addr, sb.RegisterToken
		a.Sandbox = SandboxFile{Cloud: cloudURL, Login: sb.Login, Password: sb.Password, RetailPointID: sb.RetailPointID,
			CabinetLogin: sb.CabinetLogin, CabinetPassword: sb.CabinetPassword, RetailPoints: sb.RetailPoints,
			Cabinet: cloudURL + "/cabinet/", SMTP: smtpAddr}
	}
	client := cloud.NewClient(cloudURL, token, &http.Client{Timeout: 60 * time.Second})

	// The drive: the emulator under data/fn, or a real one on a serial port.
	ofdKey, err := a.sandboxOFDKey()
	if err != nil {
		return err
	}
	if err := a.openDrive(ofdKey); err != nil {
		return err
	}
	now := time.Now
	if a.Emulator != nil {
		c, err := openSandboxClock(filepath.Join(s.Data, clockFile))
		if err != nil {
			return err
		}
		a.clock, now = c, c.Now
	}
	pr, err := a.openPrinter()
	if err != nil {
		return err
	}
	hw, err := board.Open(s.Board.Profile, a.log.With("part", "board"))
	if err != nil {
		return fmt.Errorf("board.profile: %w", err)
	}
	a.closers = append(a.closers, hw.Close)

	// The OFD: the emulator, or a real one.
	ofdAddr := s.OFD.Server
	if ofdAddr == "" && a.Emulator == nil {
		return errors.New("ofd.server: a real drive needs a real OFD (its acknowledgements are signed with the OFD's key)")
	}
	if ofdAddr == "" {
		em := a.Emulator
		o, err := sim.New(sim.Config{
			Dir: s.Data, OFDKey: ofdKey, Clock: now, Logger: a.log.With("part", "ofd-sim"),
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
		a.OFD = o
		a.closers = append(a.closers, o.Close)
		ln, err := net.Listen("tcp", orDefault(s.OFD.Addr, "127.0.0.1:7777"))
		if err != nil {
			return fmt.Errorf("ofd emulator: %w", err)
		}
		go o.Serve(ln)
		ofdAddr = ln.Addr().String()
		lookup, err := a.serveHTTP(orDefault(s.OFD.LookupAddr, "127.0.0.1:7778"), o.LookupServer())
		if err != nil {
			return fmt.Errorf("ofd look-up: %w", err)
		}
		a.Sandbox.OFD, a.Sandbox.OFDLookup = ofdAddr, "http://"+lookup
	}
	a.Sender = ofd.NewSender(a.Drive, ofd.SenderConfig{Addr: ofdAddr, Clock: now, Logger: a.log.With("part", "ofd")})

	st, err := store.Open(filepath.Join(s.Data, "kassa.db"), store.Limits{})
	if err != nil {
		return err
	}
	a.Store = st
	a.closers = append(a.closers, st.Close)

	if err := a.registerSandboxDrive(ctx, client, version, now()); err != nil {
		return err
	}

	longPoll := s.Cloud.LongPoll == nil || *s.Cloud.LongPoll
	a.Runtime = New(Config{
		Serial: s.Register.Serial, Version: version, Cashier: orDefault(s.Register.Cashier, "Администратор"),
		Location: loc, ShiftMaxAge: s.Register.ShiftMaxAge.Duration, CloseAt: s.Register.CloseAt,
		StopAfter: s.Register.StopAfter, RemoteMode: s.Register.RemoteMode,
		Poller:  cloud.PollerConfig{Interval: s.Cloud.PollInterval.Duration, LongPoll: longPoll},
		Printer: pr, PrinterProfile: a.printerProfile, Board: hw, Faults: a.Fault, OFDName: sandboxOFDName, OFDSite: a.Sandbox.OFDLookup,
	}, a.Drive, st, client, a.Sender, now, a.log.With("part", "register"))

	sock := filepath.Join(s.Data, "kassa.sock")
	a.Sandbox.Socket = sock
	ready := make(chan error, 1)
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.Sender.Run(ctx) }()
	go func() {
		defer a.wg.Done()
		if err := a.Runtime.ServeConsole(ctx, sock); err != nil {
			a.log.Error("console", "err", err)
		}
	}()
	go func() {
		defer a.wg.Done()
		if err := a.Runtime.Run(ctx, ready); err != nil {
			a.log.Error("register stopped with an error", "err", err)
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if a.Cloud != nil {
		b, _ := json.MarshalIndent(a.Sandbox, "", "  ")
		if err := os.WriteFile(filepath.Join(s.Data, "sandbox.json"), append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// registerSandboxDrive registers a new emulated drive with the sandbox point's data,
// as a technician registers a real register once at the tax service.
func (a *App) registerSandboxDrive(ctx context.Context, client *cloud.Client, version string, at time.Time) error {
	st, err := a.Drive.State(ctx)
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
	s, err := registerDrive(ctx, a.Drive, p, a.Settings.Register.Serial, version, at)
	if err != nil {
		return err
	}
	a.log.Info("emulated drive registered", "fd", s.FD)
	return nil
}

// registerDrive writes the registration report of the point's register into a new
// drive; the registration number is derived from the sandbox prefix, INN and serial.
func registerDrive(ctx context.Context, d fn.Drive, p cloud.Point, serial, version string, at time.Time) (fn.Signed, error) {
	reg, err := fiscal.RegNumber(sandboxRegPrefix, p.INN, serial)
	if err != nil {
		return fn.Signed{}, err
	}
	g := p.Registration(serial, version, reg) // the flags from the point's settings
	g.OFDName, g.OFDINN = sandboxOFDName, sim.DefaultOFDINN
	if err := g.Validate(); err != nil {
		return fn.Signed{}, fmt.Errorf("registering the drive: %w", err)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistration)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := d.Register(ctx, fn.Doc{Time: at, TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("registering the drive: %w", err)
	}
	return s, nil
}

// startMailSink starts the sandbox's SMTP sink on loopback, which keeps every alert
// the cloud mails as an .eml file under data/mail, and returns a sender to it.
func (a *App) startMailSink() (server.Mailer, string, error) {
	log := a.log.With("part", "mail")
	sink, err := mail.NewSink(filepath.Join(a.Settings.Data, "mail"), log)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("mail sink: %w", err)
	}
	go sink.Serve(ln)
	a.closers = append(a.closers, sink.Close)
	sender, err := mail.NewSender(mail.Config{Addr: ln.Addr().String(), From: "kassa@sandbox.local", TLS: mail.TLSOff}, log)
	if err != nil {
		return nil, "", err
	}
	return sender, ln.Addr().String(), nil
}

// sandboxOFDName is the OFD emulator's name in registrations and on receipts.
const sandboxOFDName = "ОФД-эмулятор kassa"

// openDrive opens the real drive on its serial port, or the emulated one under data/fn.
func (a *App) openDrive(ofdKey []byte) error {
	s := &a.Settings
	if s.Drive.Port != "" {
		port, err := board.OpenSerial(board.SerialConfig{Path: s.Drive.Port, Baud: s.Drive.Baud})
		if err != nil {
			return fmt.Errorf("drive.port: %w", err)
		}
		a.closers = append(a.closers, port.Close)
		a.Drive = fn.NewClient(port, fn.ClientOptions{Timeout: s.Drive.Timeout.Duration, SignTimeout: s.Drive.SignTimeout.Duration,
			Logger: a.log.With("part", "fn")})
		return nil
	}
	emuOFDKey := ofdKey
	if s.OFD.Server != "" {
		emuOFDKey = nil // another OFD signs with its own key: accept its acknowledgements (sandbox only)
	}
	var latency fn.Latency
	switch s.Drive.Latency {
	case "":
	case "typical":
		latency = fn.TypicalLatency()
	default:
		return fmt.Errorf("drive.latency %q: want \"typical\" or none", s.Drive.Latency)
	}
	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(s.Data, "fn"), OFDKey: emuOFDKey, Latency: latency, CheckTables: true, Logger: a.log.With("part", "fn")})
	if err != nil {
		return err
	}
	a.Emulator, a.Drive = em, em
	a.closers = append(a.closers, em.Close)
	return nil
}

// openPrinter opens the real printer on its serial port, or the emulated one that
// writes each page to data/receipts as <FD>.txt and <FD>.png; nil with printer.none.
func (a *App) openPrinter() (Printer, error) {
	s := &a.Settings
	if s.Printer.None {
		return nil, nil
	}
	prof, ok := printer.ProfileByName(orDefault(s.Printer.Profile, "emu-58"))
	if !ok {
		return nil, fmt.Errorf("printer.profile: unknown model %q", s.Printer.Profile)
	}
	a.printerProfile = prof
	opts := printer.Options{Logger: a.log.With("part", "printer")}
	if s.Printer.Port != "" {
		port, err := board.OpenSerial(board.SerialConfig{Path: s.Printer.Port, Baud: prof.Baud, FlowControl: prof.FlowControl})
		if err != nil {
			return nil, fmt.Errorf("printer.port: %w", err)
		}
		a.closers = append(a.closers, port.Close)
		return printer.New(port, prof, opts), nil
	}
	a.PrinterEmu = emu.New(emu.Config{Dir: filepath.Join(s.Data, "receipts"), Profile: prof, Logger: a.log.With("part", "printer-emu")})
	pipe := a.PrinterEmu.Pipe()
	a.closers = append(a.closers, pipe.Close)
	return printer.New(pipe, prof, opts), nil
}

// sandboxOFDKey is the OFD emulator's signing key, made once and kept in the data directory.
func (a *App) sandboxOFDKey() ([]byte, error) {
	path := filepath.Join(a.Settings.Data, "ofd.key")
	if k, err := os.ReadFile(path); err == nil && len(k) == 32 {
		return k, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, os.WriteFile(path, k, 0o600)
}

// serveHTTP serves srv on addr until the App closes and returns the address it listens on.
func (a *App) serveHTTP(addr string, srv *http.Server) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	go srv.Serve(ln)
	a.closers = append(a.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return ln.Addr().String(), nil
}

// Wait blocks until ctx ends, then shuts down in order: the end of ctx stops
// the taking of work (the poller's leases, the console's listener); Wait then
// waits for what runs (the document in flight, a report to the cloud, a
// console command such as a shift close, the OFD sender) and only then
// closes the parts, the store and the drive among them, the register first.
func (a *App) Wait(ctx context.Context) {
	<-ctx.Done()
	a.wg.Wait()
	a.close()
}

func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Debug("closing", "err", err)
		}
	}
	a.closers = nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
