// Package device is the register runtime: it takes documents from the cloud, has the
// fiscal drive sign them, keeps shifts and the drawer's balance, reports results,
// stops when documents keep failing, recovers after a crash by reconciling its store
// with the drive, and answers the technician's console. It never signs or numbers a
// document itself (the drive does), never fakes an OFD acknowledgement, and never
// reports a result that is not committed to its store first.
package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/store"
)

// Config is the runtime's policy. The zero value of each field means its default.
type Config struct {
	Serial      string         // the register's serial number, 1013
	Version     string         // the register's version, 1188
	Cashier     string         // who opens and closes shifts the runtime opens itself
	Location    *time.Location // the register's wall clock zone (default time.Local)
	ShiftMaxAge time.Duration  // close the shift at this age (default 23h30m; the drive refuses at 24 h)
	CloseAt     string         // "HH:MM": also close the open shift at this local time each day ("" = off)
	// StopAfter is how many registration errors in a row are tolerated: one more
	// stops the taking of documents (default 3). A drive fault stops at once.
	StopAfter int
	// RemoteMode is remote-fiscalization mode: the stop policy is off and a failed
	// document may be sent again.
	RemoteMode     bool
	HeartbeatEvery time.Duration // default 15 s
	Poller         cloud.PollerConfig

	Board          Board           // nil: no GPIO (the LED, button and sensors are not wired)
	Printer        Printer         // nil: no printer; every receipt is electronic
	PrinterProfile printer.Profile // the printer's paper and abilities
	OFDName        string          // printed on receipts, for the buyer to check them
	OFDSite        string

	// Faults injects faults into the sandbox's emulators (`kassa fault …`); nil in production.
	Faults func(args []string) (string, error)
}

// OFD is what the runtime needs of the OFD sender.
type OFD interface {
	Notify()
	Status() ofd.SenderStatus
}

// Runtime is one register.
type Runtime struct {
	cfg     Config
	drive   fn.Drive
	store   *store.Store
	cloud   *cloud.Client
	ofd     OFD
	printer Printer
	board   Board
	clock   func() time.Time
	log     *slog.Logger
	poller  *cloud.Poller

	// opMu serialises everything that talks to the drive or changes the ledger:
	// the pipeline, shift operations and the console's commands.
	opMu          sync.Mutex
	wake          chan struct{}
	point         atomic.Pointer[cloud.Point] // swapped whole when the cabinet changes it
	needReconcile bool                        // a drive fault happened: reconcile before the next signature
	pending       *store.Settlement           // signed or refused, not yet committed to the store (under opMu)

	printWake chan struct{}
	beat      chan struct{} // send a heartbeat now: the stop state changed
	pulse     pulse         // the pipeline loop's, for the service manager's watchdog

	healthMu   sync.Mutex
	driveErr   string
	driveNum   string
	printerSt  printer.Status
	printerErr error
}

// New assembles a runtime; Run starts it.
func New(cfg Config, drive fn.Drive, db *store.Store, cl *cloud.Client, o OFD, clock func() time.Time, log *slog.Logger) *Runtime {
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.ShiftMaxAge == 0 {
		cfg.ShiftMaxAge = 23*time.Hour + 30*time.Minute
	}
	if cfg.StopAfter == 0 {
		cfg.StopAfter = 3
	}
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = 15 * time.Second
	}
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Runtime{cfg: cfg, drive: drive, store: db, cloud: cl, ofd: o, printer: cfg.Printer, board: cfg.Board, clock: clock, log: log,
		wake: make(chan struct{}, 1), printWake: make(chan struct{}, 1), beat: make(chan struct{}, 1)}
	pc := cfg.Poller
	if pc.Logger == nil {
		pc.Logger = log
	}
	if pc.Clock == nil {
		pc.Clock = clock
	}
	r.poller = cloud.NewPoller(cl, r, pc)
	return r
}

// now is the register's wall clock in its own zone.
func (r *Runtime) now() time.Time { return r.clock().In(r.cfg.Location) }

// Run recovers, then takes and fiscalizes documents until ctx ends. The document
// in flight when ctx ends is finished and committed before Run returns. Recovery's
// outcome goes to ready (nil: the register is taking documents), if ready is not nil.
func (r *Runtime) Run(ctx context.Context, ready chan<- error) error {
	err := r.loadPoint(ctx)
	if err == nil {
		if err = r.reconcile(ctx); err != nil {
			err = fmt.Errorf("device: recovery: %w", err)
		}
	}
	if ready != nil {
		ready <- err
	}
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	loops := []func(context.Context){r.pipelineLoop, r.heartbeatLoop, r.shiftLoop, r.printLoop, r.boardLoop,
		func(ctx context.Context) { r.poller.Run(ctx) }}
	for _, loop := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	wg.Wait()
	return nil
}

// loadPoint fetches the retail point's seller data, falling back to the copy kept
// from the last start so that a register restarted while the cloud is down still
// fiscalizes what it has accepted.
func (r *Runtime) loadPoint(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := r.cloud.Point(pctx)
	if err == nil {
		r.point.Store(&p)
		return r.store.SetSetting("point", p)
	}
	found, serr := r.store.Setting("point", &p)
	if serr != nil {
		return serr
	}
	r.point.Store(&p)
	if !found {
		return fmt.Errorf("device: the retail point's data: cloud unreachable and none kept: %w", err)
	}
	r.log.Warn("cloud unreachable at start; using the retail point's data kept from before", "err", err)
	return nil
}

// refreshPoint takes the retail point's settings changed in the cabinet (the stop
// policy, the seller's data). The registration number stays the drive's.
func (r *Runtime) refreshPoint(ctx context.Context) {
	p, err := r.cloud.Point(ctx)
	if err != nil {
		return
	}
	old := r.pt()
	p.RegNumber = old.RegNumber
	if p != old {
		r.point.Store(&p)
		if err := r.store.SetSetting("point", p); err != nil {
			r.log.Error("keeping the retail point's data", "err", err)
		}
	}
}

// remote says whether the register is in remote-fiscalization mode: by its own
// configuration, or because the owner turned "stop registration on errors" off.
func (r *Runtime) remote() bool {
	return r.cfg.RemoteMode || r.pt().RemoteMode
}

// pt is the retail point's data as last known.
func (r *Runtime) pt() cloud.Point {
	if p := r.point.Load(); p != nil {
		return *p
	}
	return cloud.Point{}
}

// Wake tells the pipeline that documents are waiting.
func (r *Runtime) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runtime) pipelineLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.pulse.beat(true)
		r.drain(ctx)
		r.pulse.beat(false)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
			r.liftOFDStop(ctx)
		}
	}
}

// settleEvery bounds a run of documents committed to the store together.
const settleEvery = 32

// drain fiscalizes every accepted document, oldest first, while not stopped. A
// document waiting for the printer is passed over; electronic ones behind it go on.
func (r *Runtime) drain(ctx context.Context) {
	for progressed := true; progressed && ctx.Err() == nil; {
		progressed = false
		docs, err := r.store.Accepted()
		if err != nil {
			return
		}
		for len(docs) > 0 {
			n := min(len(docs), settleEvery)
			done, more, err := r.processRun(ctx, docs[:n])
			docs = docs[n:]
			progressed = progressed || done > 0
			if err != nil {
				r.log.Error("documents not processed", "err", err)
				return
			}
			if !more {
				return
			}
		}
	}
}

// processRun fiscalizes a run of documents one by one and commits their outcomes
// to the store together: one transaction for the run rather than one per receipt.
// The drive has each one durably before the next; a crash before the commit is
// reconciled from the drive's archive. Nothing is reported to the cloud before
// the commit. It returns how many were settled, and whether to go on (not
// stopped, not cancelled).
func (r *Runtime) processRun(ctx context.Context, docs []*store.Doc) (done int, more bool, err error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	defer func() {
		if serr := r.settleLocked(ctx); err == nil {
			err = serr
		}
	}()
	for _, d := range docs {
		if !r.Taking() || ctx.Err() != nil {
			return done, false, nil
		}
		// The document in flight finishes even if ctx ends meanwhile: a SIGTERM
		// must not leave a signed receipt uncommitted.
		err := r.processLocked(context.WithoutCancel(ctx), d)
		if errors.Is(err, errWaitPrinter) {
			continue
		}
		if err != nil {
			return done, false, fmt.Errorf("%q: %w", d.ID, err)
		}
		done++
		r.pulse.progressed()
	}
	return done, true, nil
}

// settleLocked has the drive make the pending outcomes' documents durable,
// commits the outcomes, then lets the poller report them and the printer print
// them. It finishes even if ctx ends: a SIGTERM must not leave signed receipts
// uncommitted. Callers hold opMu.
func (r *Runtime) settleLocked(ctx context.Context) error {
	batch := r.pending
	r.pending = nil
	if batch == nil || batch.Len() == 0 {
		return nil
	}
	err := r.drive.Sync(context.WithoutCancel(ctx))
	if err == nil {
		err = r.store.Settle(batch)
	}
	if err != nil {
		// The drive has signed what the store did not take: read the drive's
		// archive back before signing anything again.
		r.needReconcile = true
		return fmt.Errorf("device: committing %d documents: %w", batch.Len(), err)
	}
	if batch.Prints() {
		r.wakePrinter()
	}
	r.poller.Kick()
	return nil
}

// settlement is the pending settlement, begun if there is none. Callers hold opMu.
func (r *Runtime) settlement() *store.Settlement {
	if r.pending == nil {
		r.pending = &store.Settlement{}
	}
	return r.pending
}

// ledgerLocked is the ledger as of the last document processed, committed or
// pending. Callers hold opMu.
func (r *Runtime) ledgerLocked() (store.Ledger, error) {
	if r.pending != nil && r.pending.Ledger != nil {
		return *r.pending.Ledger, nil
	}
	return r.store.Ledger()
}

func (r *Runtime) heartbeatLoop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.HeartbeatEvery)
	defer tick.Stop()
	for {
		h := r.Health(ctx)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := r.cloud.SendHeartbeat(hctx, h)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Debug("heartbeat not delivered", "err", err)
		case err == nil && resp.Resume:
			// The owner pressed "resume" in the cabinet.
			if err := r.Resume(ctx); err != nil {
				r.log.Error("resume from the cabinet", "err", err)
			}
		}
		if err == nil && resp.Command != nil {
			r.runCommand(ctx, *resp.Command) // an X report or a shift close asked in the cabinet
		}
		if err == nil {
			r.refreshPoint(hctx)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.beat:
		}
	}
}

// HeartbeatNow has the next heartbeat go at once, so the cloud (and the owner's
// alerts) learn of a stop or a resume without waiting for the period.
func (r *Runtime) HeartbeatNow() {
	select {
	case r.beat <- struct{}{}:
	default:
	}
}

// ClockMoved tells the register that its clock jumped forward (a drill):
// health, the cloud and the OFD stop's lifting see the new time at once. It
// returns the register's time now.
func (r *Runtime) ClockMoved() time.Time {
	r.HeartbeatNow()
	return r.now()
}

// event logs and records one event of the register's log.
func (r *Runtime) event(kind, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	r.log.Info(text, "event", kind)
	if err := r.store.Log(store.Event{At: r.now(), Kind: kind, Text: text}); err != nil {
		r.log.Error("event log", "err", err)
	}
}
