package device

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/store"
)

// SandboxSerial is the serial number (1013) of a register whose settings give none.
const SandboxSerial = "0000000000001234"

// Parts are what a build brings for the settings left on their embedded
// defaults: the sandbox's cloud, drive, printer and OFD (package sandbox). The
// board build brings none, and each part then needs its setting.
type Parts struct {
	CloudURL, CloudToken string           // the cloud, when cloud.url is empty
	Drive                fn.Drive         // the drive, when drive.port is empty
	Printer              io.ReadWriter    // the printer's line, when printer.port is empty
	OFDAddr              string           // the OFD, when ofd.server is empty
	OFDName, OFDSite     string           // printed on receipts, when ofd.name and ofd.site are empty
	Clock                func() time.Time // the register's clock; nil: the system's
	// Faults injects faults into the parts (`kassa fault …`); nil: none take faults.
	Faults func(args []string) (string, error)
}

// App is a running `kassa run`: the register with its drive, printer, board,
// store, OFD sender and console.
type App struct {
	Settings Settings
	Runtime  *Runtime
	Store    *store.Store
	Drive    fn.Drive
	Sender   *ofd.Sender
	Socket   string // the technician's console

	log     *slog.Logger
	closers []func() error
	wg      sync.WaitGroup
}

// ApplyDefaults fills what the settings leave out and every part needs to
// agree on: the data directory ($KASSA_DATA or ./var) and the serial number.
func (s *Settings) ApplyDefaults() {
	if s.Data == "" {
		s.Data = os.Getenv("KASSA_DATA")
	}
	if s.Data == "" {
		s.Data = "var"
	}
	if s.Register.Serial == "" {
		s.Register.Serial = SandboxSerial
	}
}

// Start brings up the register from its settings and the parts the build
// brings, and returns once the register runs; Wait blocks until ctx ends and
// everything has stopped.
func Start(ctx context.Context, s Settings, parts Parts, version string, log *slog.Logger) (*App, error) {
	s.ApplyDefaults()
	a := &App{Settings: s, log: log}
	if err := a.start(ctx, parts, version); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, parts Parts, version string) error {
	s := &a.Settings
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
	cloudURL, token := s.Cloud.URL, s.Cloud.Token
	if cloudURL == "" {
		cloudURL, token = parts.CloudURL, parts.CloudToken
	}
	if cloudURL == "" {
		return errors.New("cloud.url: this build has no sandbox cloud; set the cloud's URL and token")
	}
	client := cloud.NewClient(cloudURL, token, &http.Client{Timeout: 60 * time.Second})
	if err := a.openDrive(parts.Drive); err != nil {
		return err
	}
	now := time.Now
	if parts.Clock != nil {
		now = parts.Clock
	}
	pr, prof, err := a.openPrinter(parts.Printer)
	if err != nil {
		return err
	}
	hw, err := board.Open(s.Board.Profile, a.log.With("part", "board"))
	if err != nil {
		return fmt.Errorf("board.profile: %w", err)
	}
	a.closers = append(a.closers, hw.Close)

	ofdAddr, ofdName, ofdSite := s.OFD.Server, s.OFD.Name, s.OFD.Site
	if ofdAddr == "" {
		ofdAddr, ofdName, ofdSite = parts.OFDAddr, cmp.Or(ofdName, parts.OFDName), cmp.Or(ofdSite, parts.OFDSite)
	}
	if ofdAddr == "" {
		return errors.New("ofd.server: a real drive needs a real OFD (its acknowledgements are signed with the OFD's key)")
	}
	a.Sender = ofd.NewSender(a.Drive, ofd.SenderConfig{Addr: ofdAddr, Clock: now, Logger: a.log.With("part", "ofd")})

	db, err := store.Open(filepath.Join(s.Data, "kassa.db"), store.Limits{})
	if err != nil {
		return err
	}
	a.Store = db
	a.closers = append(a.closers, db.Close)

	longPoll := s.Cloud.LongPoll == nil || *s.Cloud.LongPoll
	a.Runtime = New(Config{
		Serial: s.Register.Serial, Version: version, Cashier: cmp.Or(s.Register.Cashier, "Администратор"),
		Location: loc, ShiftMaxAge: s.Register.ShiftMaxAge.Duration, CloseAt: s.Register.CloseAt,
		StopAfter: s.Register.StopAfter, RemoteMode: s.Register.RemoteMode,
		Poller:  cloud.PollerConfig{Interval: s.Cloud.PollInterval.Duration, LongPoll: longPoll},
		Printer: pr, PrinterProfile: prof, Board: hw, Faults: parts.Faults, OFDName: ofdName, OFDSite: ofdSite,
	}, a.Drive, db, client, a.Sender, now, a.log.With("part", "register"))

	a.Socket = filepath.Join(s.Data, "kassa.sock")
	ready := make(chan error, 1)
	a.wg.Add(3)
	go func() { defer a.wg.Done(); a.Sender.Run(ctx) }()
	go func() {
		defer a.wg.Done()
		if err := a.Runtime.ServeConsole(ctx, a.Socket); err != nil {
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
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openDrive opens the real drive on its serial port, or takes the build's.
func (a *App) openDrive(d fn.Drive) error {
	if a.Settings.Drive.Port == "" {
		if d == nil {
			return errors.New("drive.port: this build has no emulated drive; set the drive's serial port")
		}
		a.Drive = d
		return nil
	}
	d, closer, err := OpenDrive(a.Settings.Drive, a.log.With("part", "fn"))
	if err != nil {
		return err
	}
	a.Drive = d
	a.closers = append(a.closers, closer.Close)
	return nil
}

// OpenDrive opens the real drive on the serial port s names; closing the
// closer releases the port.
func OpenDrive(s DriveSettings, log *slog.Logger) (fn.Drive, io.Closer, error) {
	if s.Port == "" {
		return nil, nil, errors.New("drive.port: no serial port for the drive")
	}
	port, err := board.OpenSerial(board.SerialConfig{Path: s.Port, Baud: s.Baud})
	if err != nil {
		return nil, nil, fmt.Errorf("drive.port: %w", err)
	}
	return fn.NewClient(port, fn.ClientOptions{Timeout: s.Timeout.Duration, SignTimeout: s.SignTimeout.Duration, Logger: log}), port, nil
}

// openPrinter opens the real printer on its serial port, or the build's line;
// nil with printer.none.
func (a *App) openPrinter(line io.ReadWriter) (Printer, printer.Profile, error) {
	s := &a.Settings
	if s.Printer.None {
		return nil, printer.Profile{}, nil
	}
	prof, err := PrinterProfile(s.Printer)
	if err != nil {
		return nil, prof, err
	}
	opts := printer.Options{Logger: a.log.With("part", "printer")}
	if s.Printer.Port == "" {
		if line == nil {
			return nil, prof, errors.New("printer.port: this build has no emulated printer; set the printer's serial port or printer.none")
		}
		return printer.New(line, prof, opts), prof, nil
	}
	port, err := board.OpenSerial(board.SerialConfig{Path: s.Printer.Port, Baud: prof.Baud, FlowControl: prof.FlowControl})
	if err != nil {
		return nil, prof, fmt.Errorf("printer.port: %w", err)
	}
	a.closers = append(a.closers, port.Close)
	return printer.New(port, prof, opts), prof, nil
}

// PrinterProfile is the printer model the settings name (default emu-58).
func PrinterProfile(s PrinterSettings) (printer.Profile, error) {
	prof, ok := printer.ProfileByName(cmp.Or(s.Profile, "emu-58"))
	if !ok {
		return prof, fmt.Errorf("printer.profile: unknown model %q", s.Profile)
	}
	return prof, nil
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
