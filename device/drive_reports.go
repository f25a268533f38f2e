package device

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// StateReport has the drive sign a current state report (21): what it has not
// yet sent to the OFD and since when. It is printed when a printer is set.
func (r *Runtime) StateReport(ctx context.Context) (fn.Signed, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if err := r.settleLocked(ctx); err != nil {
		return fn.Signed{}, err
	}
	rep := fiscal.Report{Seller: r.seller(), Autonomous: r.pt().Offline}
	tlv, err := rep.AppendTLV(nil, fiscal.DocStateReport)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := r.drive.StateReport(ctx, fn.Doc{Time: r.now(), TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("device: state report: %w", err)
	}
	return s, r.accountReport(s, "state report")
}

// ChangeRegistration has the drive sign a registration change report (11) with
// the retail point's current data and settings, for the reasons given (1101).
func (r *Runtime) ChangeRegistration(ctx context.Context, reasons []byte) (fn.Signed, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	driveState, err := r.betweenShiftsLocked(ctx, "a registration changes only between shifts")
	if err != nil {
		return fn.Signed{}, err
	}
	g := r.pt().Registration(r.cfg.Serial, r.cfg.Version, driveState.RegNumber)
	g.Reasons = reasons
	if err := g.ValidateChange(); err != nil {
		return fn.Signed{}, fmt.Errorf("device: registration change: %w", err)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistrationChange)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := r.drive.ChangeRegistration(ctx, fn.Doc{Time: r.now(), TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("device: registration change: %w", err)
	}
	return s, r.accountReport(s, "registration change")
}

// CloseDrive has the drive sign its close report (6), after which it signs
// nothing more: only its archive can be read, and the register takes no documents
// until a new drive is registered.
func (r *Runtime) CloseDrive(ctx context.Context) (fn.Signed, error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if _, err := r.betweenShiftsLocked(ctx, "the drive closes only between shifts"); err != nil {
		return fn.Signed{}, err
	}
	cashier := r.cfg.Cashier
	if cashier == "" {
		cashier = cloud.DefaultRegistrar
	}
	rep := fiscal.Report{Seller: r.seller(), Cashier: cashier}
	tlv, err := rep.AppendTLV(nil, fiscal.DocDriveClose)
	if err != nil {
		return fn.Signed{}, err
	}
	s, err := r.drive.CloseDrive(ctx, fn.Doc{Time: r.now(), TLV: tlv})
	if err != nil {
		return s, fmt.Errorf("device: drive close: %w", err)
	}
	if err := r.accountReport(s, "drive close"); err != nil {
		return s, err
	}
	r.stop(stopDrive, fmt.Sprintf("the fiscal drive was closed (FD %d): register a new drive before taking documents", s.FD))
	return s, nil
}

// betweenShiftsLocked settles the run and returns the drive's state, or an
// error saying why (why) the shift must be closed first. Callers hold opMu.
func (r *Runtime) betweenShiftsLocked(ctx context.Context, why string) (fn.State, error) {
	if err := r.settleLocked(ctx); err != nil {
		return fn.State{}, err
	}
	driveState, err := r.drive.State(ctx)
	if err != nil {
		return driveState, err
	}
	if driveState.ShiftOpen {
		return driveState, fmt.Errorf("device: close the shift first (kassa shift close): %s", why)
	}
	return driveState, nil
}

// accountReport records a report the drive signed in the ledger and the
// events, and queues it for printing.
func (r *Runtime) accountReport(s fn.Signed, what string) error {
	ledger, err := r.store.Ledger()
	if err != nil {
		return err
	}
	ledger.LastFD = s.FD
	if err := r.store.SetLedger(ledger); err != nil {
		return err
	}
	r.event("report", "%s signed (FD %d)", what, s.FD)
	r.printReport(s.FD)
	return nil
}

// confirmWord is what a technician adds to an irreversible console command.
const confirmWord = "--yes"

func cmdStateReport(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	if len(args) != 0 {
		return consoleAnswer{}, errors.New("usage: state-report")
	}
	s, err := r.StateReport(ctx)
	if err != nil {
		return consoleAnswer{}, err
	}
	return text("state report signed: FD %d, ФП %010d\n", s.FD, s.FPD), nil
}

func cmdReregister(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	const usage = "usage: reregister REASON[,REASON…] " + confirmWord +
		"  (1 drive replaced, 2 OFD changed, 3 user's data changed, 4 register's settings changed)"
	confirmed := len(args) == 2 && args[1] == confirmWord
	if len(args) == 0 || len(args) > 2 || (len(args) == 2 && !confirmed) {
		return consoleAnswer{}, errors.New(usage)
	}
	var reasons []byte
	for _, f := range strings.Split(args[0], ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < int(fiscal.ReasonDrive) || n > int(fiscal.ReasonSettings) {
			return consoleAnswer{}, fmt.Errorf("reason %q: not one of 1..4; %s", f, usage)
		}
		reasons = append(reasons, byte(n))
	}
	if !confirmed {
		return text("this signs a registration change report (11) with the retail point's current data and settings, "+
			"reasons %s; the tax service sees it. Repeat with %s to sign it.\n", args[0], confirmWord), nil
	}
	s, err := r.ChangeRegistration(ctx, reasons)
	if err != nil {
		return consoleAnswer{}, err
	}
	return text("registration change report signed: FD %d, ФП %010d\n", s.FD, s.FPD), nil
}

func cmdCloseDrive(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	switch {
	case len(args) == 0:
		return text("this closes the fiscal drive for good: it signs its close report (6) and nothing more; "+
			"its archive can still be read. Send everything to the OFD first (kassa status shows what waits). "+
			"Repeat as `close-drive %s` to close it.\n", confirmWord), nil
	case len(args) == 1 && args[0] == confirmWord:
	default:
		return consoleAnswer{}, errors.New("usage: close-drive [" + confirmWord + "]")
	}
	s, err := r.CloseDrive(ctx)
	if err != nil {
		return consoleAnswer{}, err
	}
	return text("drive closed: FD %d, ФП %010d\n", s.FD, s.FPD), nil
}

// RegisterDrive writes the registration report g into a new drive, at the time at.
func RegisterDrive(ctx context.Context, d fn.Drive, g fiscal.Registration, at time.Time) (fn.Signed, error) {
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
