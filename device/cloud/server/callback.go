package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// attemptTimeout bounds one callback POST, whatever the client's own timeout.
const attemptTimeout = 10 * time.Second

// callbackHold is how long this process holds a callback job beyond the
// pause before its next attempt: if it dies, another takes the job then.
const callbackHold = time.Minute + attemptTimeout

// maxTaken is how many callback jobs one take asks for.
const maxTaken = 100

// takeCallbacks takes the callback jobs due by dueBy that no process holds
// and delivers each in the background.
func (s *Server) takeCallbacks(dueBy time.Time) {
	for {
		now := s.now()
		jobs, err := s.store.TakeCallbacks(s.ctx, s.node, dueBy, now, now.Add(callbackHold), maxTaken)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("cloud: taking callbacks", "err", err)
			}
			return
		}
		for _, j := range jobs {
			s.startCallback(j)
		}
		if len(jobs) < maxTaken {
			return
		}
	}
}

// startCallback delivers the job in the background; a job of a document
// whose callback is already being delivered here goes next, after it.
func (s *Server) startCallback(j storage.CallbackJob) {
	key := j.PointID + "\x00" + j.ID
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	if _, ok := s.inFlight[key]; ok {
		s.inFlight[key] = &j
		s.mu.Unlock()
		return
	}
	s.inFlight[key] = nil
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.deliver(j)
			s.mu.Lock()
			next := s.inFlight[key]
			if next == nil || s.ctx.Err() != nil {
				delete(s.inFlight, key)
				s.mu.Unlock()
				return
			}
			j = *next
			s.inFlight[key] = nil
			s.mu.Unlock()
		}
	}()
}

// callbackPause is the pause after the n-th refused attempt: CallbackInitial
// growing by half each time, with jitter of ±half, at most CallbackMax.
func (s *Server) callbackPause(n int) time.Duration {
	d := float64(s.cfg.CallbackInitial)
	for i := 1; i < n && d < float64(s.cfg.CallbackMax); i++ {
		d *= 1.5
	}
	d *= 0.5 + mathrand.Float64()
	return min(time.Duration(d), s.cfg.CallbackMax)
}

// deliver POSTs the DocumentStatus to the responseURL until it answers 2xx,
// pausing longer after each refusal for CallbackFor from when the cloud
// learned of the register's result, by the cloud's clock: the window is the
// stored document's, so a restarted cloud goes on with it rather than
// starting another. A fiscalized document is WAIT_FOR_CALLBACK while it is
// refused and COMPLETED once accepted; a failed one stays FAILED. Giving up
// leaves the state and says so in message. Each refusal and the pause after
// it are in the store, so that another process can go on if this one dies.
func (s *Server) deliver(j storage.CallbackJob) {
	var refusal error
	accepted := false
	for attempts := 0; ; {
		rec, err := s.store.CallbackDocument(s.ctx, j)
		if errors.Is(err, storage.ErrNotFound) {
			return // re-queued, settled or made anew meanwhile: nothing to deliver
		}
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("cloud: reading a callback", "point", j.PointID, "id", j.ID, "err", err)
			}
			return // the job stays due; its hold ends and it is taken again
		}
		// One attempt always, then only within the window.
		if attempts > 0 && !s.now().Before(rec.FiscalizedAt().Add(s.cfg.CallbackFor)) {
			break
		}
		attempts++
		refusal = s.post(rec)
		if accepted = refusal == nil; accepted {
			break
		}
		s.metrics.callbacks.WithLabelValues("refused").Inc()
		s.log.Info("cloud: callback refused", "point", rec.PointID, "id", rec.ID, "attempt", attempts, "err", refusal)
		pause := s.callbackPause(attempts)
		now := s.now()
		next := now.Add(pause)
		_, err = s.store.RefuseCallback(s.ctx, j, storage.Refusal{Reason: refusal.Error(), Next: next, Hold: next.Add(callbackHold)}, func(d *storage.Document) {
			if d.State == cloud.Printed {
				d.State, d.Changed = cloud.WaitForCallback, now
			}
			if d.State == cloud.WaitForCallback {
				d.Message = "Waiting for the callback to be accepted: " + refusal.Error()
			}
		})
		if errors.Is(err, storage.ErrNotFound) {
			return
		}
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Error("cloud: recording a refused callback", "point", j.PointID, "id", j.ID, "err", err)
			}
			return
		}
		s.evaluate(j.PointID)
		var permanent *backoff.PermanentError
		if errors.As(refusal, &permanent) {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return // closing: the callback stays due and resumes on the next Open
		}
	}
	if accepted {
		s.metrics.callbacks.WithLabelValues("delivered").Inc()
		s.metrics.document(cloud.Completed)
	} else {
		s.metrics.callbacks.WithLabelValues("given up").Inc()
		s.log.Warn("cloud: callback abandoned", "point", j.PointID, "id", j.ID, "err", refusal)
	}
	refused, err := s.store.SettleCallback(s.ctx, j, accepted, func(d *storage.Document) {
		switch {
		case !accepted && d.State == cloud.WaitForCallback:
			d.Message = fmt.Sprintf("Callback not accepted after %d attempts: %v", d.CallbackAttempts, refusal)
		case accepted && (d.State == cloud.Printed || d.State == cloud.WaitForCallback):
			d.State, d.Changed, d.Message = cloud.Completed, s.now(), "Document successfully completed with callback"
		}
	})
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil && s.ctx.Err() == nil {
		s.log.Error("cloud: recording a callback", "point", j.PointID, "id", j.ID, "err", err)
	}
	// Only a callback with refusals counted can have an alert to close; one
	// accepted without any leaves the alerts as they are.
	if refused > 0 || !accepted || err != nil {
		s.evaluate(j.PointID)
	}
}

// post sends one callback. The body is the status the document takes once the
// shop accepts it: COMPLETED for a fiscalized document, FAILED for a failed one.
func (s *Server) post(rec storage.Document) error {
	st := cloud.DocumentStatus{ID: rec.ID, Status: rec.State, FiscalInfo: rec.FiscalInfo, FailureInfo: rec.FailureInfo,
		Message: rec.Message, TimeStatusChanged: rec.Changed}
	if rec.State == cloud.Printed || rec.State == cloud.WaitForCallback {
		st.Status, st.Message = cloud.Completed, "Document successfully completed with callback"
	}
	ps, err := s.registerStatus(s.ctx, rec.PointID)
	if err != nil {
		return err
	}
	st.FNState = ps.Status
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, attemptTimeout)
	defer cancel()
	return s.postJSON(ctx, "callback", rec.ResponseURL, body)
}

// postJSON posts body to url and wants a 2xx answer; a URL that cannot make a
// request is a permanent error, anything else is worth another try.
func (s *Server) postJSON(ctx context.Context, what, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return backoff.Permanent(fmt.Errorf("%s URL: %w", what, err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.cfg.Client.Do(req)
	if errors.Is(err, errPrivateTarget) {
		return backoff.Permanent(fmt.Errorf("%s URL: %w", what, err))
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", what, resp.Status)
	}
	return nil
}
