package device

import (
	"context"
	"fmt"
	"time"

	"github.com/openkassa/kassa/store"
)

// registrationFailed counts a document that failed registration; one more than
// StopAfter in a row stops the register (not in remote-fiscalization mode).
func (r *Runtime) registrationFailed(msg string) {
	if r.remote() {
		return
	}
	halt, err := r.store.Stop()
	if err != nil {
		r.log.Error("stop state", "err", err)
		return
	}
	halt.Consecutive++
	if err := r.store.SetStop(halt); err != nil {
		r.log.Error("stop state", "err", err)
	}
	if halt.Consecutive > r.cfg.StopAfter {
		r.stop(stopRegistration, fmt.Sprintf("%d documents in a row failed registration; the last: %s", halt.Consecutive, msg))
	}
}

// registrationSucceeded resets the count of failures in a row.
func (r *Runtime) registrationSucceeded() {
	halt, err := r.store.Stop()
	if err == nil && halt.Consecutive != 0 {
		halt.Consecutive = 0
		err = r.store.SetStop(halt)
	}
	if err != nil {
		r.log.Error("stop state", "err", err)
	}
	r.setDriveErr(nil)
}

// What stopped the register.
const (
	stopRegistration = "registration"
	stopDrive        = "drive"
	stopOFD          = "ofd"
)

// stop halts the taking of documents, durably, and says so loudly. In remote-
// fiscalization mode nothing stops; the reason still shows in health.
func (r *Runtime) stop(kind, reason string) {
	if r.remote() {
		r.log.Error("registration error (remote-fiscalization mode: not stopping)", "reason", reason)
		return
	}
	halt, err := r.store.Stop()
	if err != nil {
		r.log.Error("stop state", "err", err)
	}
	if halt.Stopped {
		return
	}
	halt.Stopped, halt.Reason, halt.Kind, halt.Since = true, reason, kind, r.now()
	if err := r.store.SetStop(halt); err != nil {
		r.log.Error("stop state", "err", err)
	}
	r.log.Error("REGISTER STOPPED: no documents are taken until `kassa resume`", "reason", reason)
	r.event("stop", "register stopped: %s", reason)
	r.HeartbeatNow()
}

// Resume lifts a stop: the drive is reconciled first, then documents flow again.
func (r *Runtime) Resume(ctx context.Context) error {
	r.opMu.Lock()
	err := r.reconcileLocked(ctx)
	r.opMu.Unlock()
	if err != nil {
		return fmt.Errorf("device: resume: the drive does not answer cleanly: %w", err)
	}
	if err := r.store.SetStop(store.Stop{}); err != nil {
		return err
	}
	r.setDriveErr(nil)
	r.event("resume", "register resumed")
	r.HeartbeatNow()
	r.Wake()
	return nil
}

// liftOFDStop resumes a register stopped by the OFD backlog once the drive's
// oldest unsent document is back within the limit.
func (r *Runtime) liftOFDStop(ctx context.Context) {
	halt, err := r.store.Stop()
	if err != nil || !halt.Stopped || halt.Kind != stopOFD {
		return
	}
	ds, err := r.drive.State(ctx)
	if err != nil || (ds.Unsent > 0 && r.now().Sub(r.wallToLocal(ds.FirstUnsentTime)) >= ofdLimit) {
		return
	}
	if err := r.Resume(ctx); err != nil {
		r.log.Error("lifting the OFD stop", "err", err)
	}
}

// ofdLimit is how long a drive keeps documents unacknowledged before it blocks.
const ofdLimit = 30 * 24 * time.Hour

func (r *Runtime) setDriveErr(err error) {
	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	if err == nil {
		r.driveErr = ""
	} else {
		r.driveErr = err.Error()
	}
}
