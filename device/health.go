package device

import (
	"context"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// Health builds the register's health from live state: the drive's own report,
// the store, the OFD sender and the poller. It is what `kassa status` shows and
// what the heartbeat carries.
func (r *Runtime) Health(ctx context.Context) cloud.Health {
	h := cloud.Health{At: r.now(), Version: r.cfg.Version, RemoteMode: r.remote()}
	h.CloudReachable = r.poller.Reachable()
	if r.ofd != nil {
		s := r.ofd.Status()
		h.OFDReachable, h.LastOFDExchange = s.Reachable, s.LastExchange
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	driveState, err := r.drive.State(dctx)
	cancel()
	r.healthMu.Lock()
	h.Drive.Error = r.driveErr
	r.healthMu.Unlock()
	if err != nil {
		h.Drive.Error = err.Error()
	} else {
		h.Drive.Phase = driveState.Phase.String()
		h.Drive.Number = driveState.DriveNumber
		h.Drive.RegNumber = driveState.RegNumber
		h.Drive.ValidUntil = driveState.ValidUntil
		h.Drive.Warnings = driveState.Warnings.Strings()
		h.Drive.LastFD = driveState.LastFD
		h.ShiftOpen, h.ShiftNumber = driveState.ShiftOpen, driveState.Shift
		if driveState.ShiftOpen {
			h.ShiftOpenedAt = r.wallToLocal(driveState.ShiftOpenedAt)
		}
		h.WaitingForOFD = int(driveState.Unsent)
		h.OFDAckedThrough = driveState.LastFD
		if driveState.Unsent > 0 {
			h.OldestUnsentAt = r.wallToLocal(driveState.FirstUnsentTime)
			h.OFDAckedThrough = driveState.FirstUnsentFD - 1
		}
	}
	if n, err := r.store.Waiting(); err == nil {
		h.WaitingForDrive = n
	}
	if stop, err := r.store.Stop(); err == nil {
		h.Stopped, h.StopReason = stop.Stopped, stop.Reason
	}
	if err := r.store.DiskFull(); err != nil {
		h.DiskFull = err.Error()
	}
	h.Printer = r.printerHealth()
	h.Command = r.commandOutcome()
	return h
}

// driveNumber is the drive's 16-digit number as last read from it.
func (r *Runtime) driveNumber() string {
	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	return r.driveNum
}
