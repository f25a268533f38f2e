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
	st, err := r.drive.State(dctx)
	cancel()
	r.healthMu.Lock()
	h.Drive.Error = r.driveErr
	r.healthMu.Unlock()
	if err != nil {
		h.Drive.Error = err.Error()
	} else {
		h.Drive.Phase = st.Phase.String()
		h.Drive.Number = st.DriveNumber
		h.Drive.RegNumber = st.RegNumber
		h.Drive.ValidUntil = st.ValidUntil
		h.Drive.Warnings = st.Warnings.Strings()
		h.Drive.LastFD = st.LastFD
		h.ShiftOpen, h.ShiftNumber = st.ShiftOpen, st.Shift
		if st.ShiftOpen {
			h.ShiftOpenedAt = r.wallToLocal(st.ShiftOpenedAt)
		}
		h.WaitingForOFD = int(st.Unsent)
		h.OFDAckedThrough = st.LastFD
		if st.Unsent > 0 {
			h.OldestUnsentAt = r.wallToLocal(st.FirstUnsentTime)
			h.OFDAckedThrough = st.FirstUnsentFD - 1
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
