package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/openkassa/kassa/device/cloud"
	bolt "go.etcd.io/bbolt"
)

// attemptTimeout bounds one callback POST, whatever the client's own timeout.
const attemptTimeout = 10 * time.Second

// startCallback delivers the document's callback in the background unless that is
// already under way; key is the document's key in bucketDocs.
func (s *Server) startCallback(key string) {
	s.mu.Lock()
	if s.inFlight[key] || s.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	s.inFlight[key] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.deliver(key)
			// A result that came while this delivery finished made the callback due again.
			s.mu.Lock()
			due, err := s.due(key)
			if s.ctx.Err() != nil || !due || err != nil {
				delete(s.inFlight, key)
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
	}()
}

// deliver POSTs the DocumentStatus to the responseURL until it answers 2xx,
// backing off exponentially with jitter for CallbackFor from when the cloud
// learned of the register's result, by the cloud's clock: the window is the
// stored document's, so a restarted cloud goes on with it rather than
// starting another. A fiscalized document is WAIT_FOR_CALLBACK while it is
// refused and COMPLETED once accepted; a failed one stays FAILED. Giving up
// leaves the state and says so in message.
func (s *Server) deliver(key string) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.cfg.CallbackInitial),
		backoff.WithMaxInterval(s.cfg.CallbackMax),
		backoff.WithMaxElapsedTime(0), // the window is checked below, by the cloud's clock
	)
	attempts, accepted := 0, false
	var refusal error
	op := func() error {
		rec, ok, err := s.callbackDoc(key)
		if err != nil {
			return backoff.Permanent(err)
		}
		if !ok {
			return nil // re-queued or gone meanwhile: nothing to deliver
		}
		// One attempt always, then only within the window.
		if attempts > 0 && !s.now().Before(rec.fiscalizedAt().Add(s.cfg.CallbackFor)) {
			return backoff.Permanent(refusal)
		}
		attempts++
		err = s.post(rec)
		accepted, refusal = err == nil, err
		if err != nil {
			s.log.Info("cloud: callback refused", "point", rec.PointID, "id", rec.ID, "attempt", attempts, "err", err)
			if uerr := s.refused(key, err); uerr != nil {
				return backoff.Permanent(uerr)
			}
			s.evaluate(rec.PointID)
		}
		return err
	}
	err := backoff.Retry(op, backoff.WithContext(b, s.ctx))
	if s.ctx.Err() != nil {
		return // closing: the callback stays due and resumes on the next Open
	}
	if err != nil {
		s.log.Warn("cloud: callback abandoned", "doc", key, "attempts", attempts, "err", err)
	}
	refused, uerr := s.settle(key, func(d *docRecord) {
		if accepted {
			d.CallbackAttempts++
			d.CallbackError = ""
		}
		switch {
		case err != nil && d.State == cloud.WaitForCallback:
			d.Message = fmt.Sprintf("Callback not accepted after %d attempts: %v", d.CallbackAttempts, err)
		case err == nil && (d.State == cloud.Printed || d.State == cloud.WaitForCallback):
			d.State, d.Changed, d.Message = cloud.Completed, s.now(), "Document successfully completed with callback"
		}
	})
	if uerr != nil {
		s.log.Error("cloud: recording a callback", "doc", key, "err", uerr)
	}
	// Only a callback with refusals counted can have an alert to close; one
	// accepted without any leaves the alerts as they are.
	if pointID, _, ok := strings.Cut(key, "\x00"); ok && (refused || !accepted || uerr != nil) {
		s.evaluate(pointID)
	}
}

// due reports whether the document's callback is due.
func (s *Server) due(key string) (bool, error) {
	var due bool
	err := s.db.View(func(tx *bolt.Tx) error {
		due = tx.Bucket(bucketCallbacks).Get([]byte(key)) != nil
		return nil
	})
	return due, err
}

// callbackDoc returns the document if its callback is still due.
func (s *Server) callbackDoc(key string) (docRecord, bool, error) {
	var rec docRecord
	var due bool
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCallbacks).Get([]byte(key)) == nil {
			return nil
		}
		var err error
		due, err = getJSON(tx.Bucket(bucketDocs), []byte(key), &rec)
		return err
	})
	return rec, due, err
}

// refused records a refused callback attempt on the document, and its count of
// refusals in bucketCallbacks, where the alerts look without reading documents.
func (s *Server) refused(key string, err error) error {
	return s.db.Batch(func(tx *bolt.Tx) error {
		var d docRecord
		found, gerr := getJSON(tx.Bucket(bucketDocs), []byte(key), &d)
		if gerr != nil || !found || tx.Bucket(bucketCallbacks).Get([]byte(key)) == nil {
			return gerr // re-queued meanwhile: nothing to record
		}
		d.CallbackAttempts++
		d.CallbackError = err.Error()
		if d.State == cloud.Printed {
			d.State, d.Changed = cloud.WaitForCallback, s.now()
		}
		if d.State == cloud.WaitForCallback {
			d.Message = "Waiting for the callback to be accepted: " + err.Error()
		}
		if err := tx.Bucket(bucketCallbacks).Put([]byte(key), binary.BigEndian.AppendUint32(nil, uint32(d.CallbackAttempts))); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketDocs), []byte(key), d)
	})
}

// refusals is the count of refused attempts a bucketCallbacks value holds.
func refusals(v []byte) int {
	if len(v) != 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(v))
}

// settle drops the document's callback from those due and changes the stored
// document; it reports whether refusals of the callback were counted, since
// alerts may then change. Concurrent calls share a commit (db.Batch), so change
// may run more than once and must only set fields.
func (s *Server) settle(key string, change func(*docRecord)) (refused bool, err error) {
	err = s.db.Batch(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCallbacks)
		refused = refusals(cb.Get([]byte(key))) > 0
		if err := cb.Delete([]byte(key)); err != nil {
			return err
		}
		var rec docRecord
		found, err := getJSON(tx.Bucket(bucketDocs), []byte(key), &rec)
		if err != nil || !found {
			return err
		}
		change(&rec)
		return putJSON(tx.Bucket(bucketDocs), []byte(key), rec)
	})
	return refused, err
}

// post sends one callback. The body is the status the document takes once the
// shop accepts it: COMPLETED for a fiscalized document, FAILED for a failed one.
func (s *Server) post(rec docRecord) error {
	st := cloud.DocumentStatus{ID: rec.ID, Status: rec.State, FiscalInfo: rec.FiscalInfo, FailureInfo: rec.FailureInfo,
		Message: rec.Message, TimeStatusChanged: rec.Changed}
	if rec.State == cloud.Printed || rec.State == cloud.WaitForCallback {
		st.Status, st.Message = cloud.Completed, "Document successfully completed with callback"
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		ps, err := s.registerStatus(tx, rec.PointID)
		st.FNState = ps.Status
		return err
	})
	if err != nil {
		return err
	}
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
