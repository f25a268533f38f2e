package cloud

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxLeaseBatch bounds one lease answer whatever the register asks for.
const maxLeaseBatch = 100

type deviceHandler func(w http.ResponseWriter, r *http.Request, key []byte, reg registerRecord)

// device authenticates the register's bearer token. Tokens are looked up by their
// SHA-256, so the file never holds one a thief could replay.
func (s *Server) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeError(w, http.StatusUnauthorized, APIError{Message: "register token required (Bearer)"})
			return
		}
		key := tokenKey(token)
		var reg registerRecord
		var found bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			found, err = getJSON(tx.Bucket(bucketRegisters), key, &reg)
			return err
		})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if !found {
			writeError(w, http.StatusUnauthorized, APIError{Message: "unknown register token"})
			return
		}
		h(w, r, key, reg)
	}
}

// lease hands out up to ?max= documents, waiting up to wait for the first one. It
// waits on the point's wake channel (taken before each scan, so no post is missed)
// and on the earliest expiring lease, never on a polling loop.
func (s *Server) lease(w http.ResponseWriter, r *http.Request, _ []byte, reg registerRecord) {
	wait, limit, err := leaseParams(r)
	if err != nil {
		writeFieldError(w, err)
		return
	}
	wait = min(wait, s.cfg.MaxWait)
	resume := r.URL.Query().Get("resume") == "1"
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		wake := s.waiter(reg.PointID)
		leases, next, err := s.take(reg.PointID, limit, resume)
		resume = false
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if len(leases) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, LeaseResponse{Documents: leases})
			return
		}
		if !s.await(wake, next, deadline.C, r) {
			if r.Context().Err() == nil {
				writeJSON(w, http.StatusOK, LeaseResponse{Documents: []Lease{}})
			}
			return
		}
	}
}

// await waits for a post to the point, for the lease expiring at next (if any), or
// for the end; it reports whether to scan the queue again.
func (s *Server) await(wake <-chan struct{}, next time.Time, deadline <-chan time.Time, r *http.Request) bool {
	var expiry <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(max(next.Sub(s.now()), time.Millisecond))
		defer t.Stop()
		expiry = t.C
	}
	select {
	case <-wake:
		return true
	case <-expiry:
		return true
	case <-deadline:
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}

func leaseParams(r *http.Request) (time.Duration, int, error) {
	q := r.URL.Query()
	wait, limit := time.Duration(0), 16
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, err2 := strconv.Atoi(v)
			if err2 != nil {
				return 0, 0, fieldErr("wait", "%q is not a duration", v)
			}
			d = time.Duration(secs) * time.Second
		}
		if d < 0 {
			return 0, 0, fieldErr("wait", "negative")
		}
		wait = d
	}
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, fieldErr("max", "%q is not a positive number", v)
		}
		limit = min(n, maxLeaseBatch)
	}
	return wait, limit, nil
}

// take leases up to limit of the point's oldest waiting documents, and expired leases again with
// the same id (with resume, every lease of the point's register, expired or not: it restarted).
// It returns the earliest expiry of the leases still running.
func (s *Server) take(pointID string, limit int, resume bool) ([]Lease, time.Time, error) {
	now := s.now()
	leases := []Lease{}
	var next time.Time
	err := s.db.Update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		prefix := []byte(pointID + "\x00")
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(leases) < limit; k, v = c.Next() {
			var rec docRecord
			found, err := getJSON(docs, docKey(pointID, string(v)), &rec)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			switch {
			case rec.State == Queued || rec.State == Requeued:
				rec.State, rec.Changed, rec.Message = Pending, now, "Document taken by the register"
			case rec.State == Pending && (resume || !now.Before(rec.LeasedUntil)):
				// Lease expired, or its register restarted: the same register
				// gets it again under the same id.
			case rec.State == Pending:
				if next.IsZero() || rec.LeasedUntil.Before(next) {
					next = rec.LeasedUntil
				}
				continue
			default:
				continue
			}
			rec.LeasedUntil = now.Add(s.cfg.LeaseFor)
			rec.Leases++
			if err := putJSON(docs, docKey(pointID, rec.ID), rec); err != nil {
				return err
			}
			leases = append(leases, Lease{ID: rec.ID, Document: rec.Body, LeasedUntil: rec.LeasedUntil, Requeued: rec.Requeued})
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cloud: lease for point %s: %w", pointID, err)
	}
	for _, l := range leases {
		s.log.Debug("cloud: document leased", "point", pointID, "id", l.ID, "until", l.LeasedUntil)
	}
	return leases, next, nil
}

func (s *Server) point(w http.ResponseWriter, r *http.Request, _ []byte, reg registerRecord) {
	var pr pointRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bucketPoints), []byte(reg.PointID), &pr)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	p := pr.Point
	if p.RegNumber == "" && reg.Health != nil {
		p.RegNumber = reg.Health.Drive.RegNumber
	}
	writeJSON(w, http.StatusOK, p)
}

// results records the register's outcomes. A result for a document already
// reported is accepted again and changes nothing, so the register may resend freely.
func (s *Server) results(w http.ResponseWriter, r *http.Request, _ []byte, reg registerRecord) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req ResultsRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		writeFieldError(w, err)
		return
	}
	for i, res := range req.Results {
		field := fmt.Sprintf("results[%d]", i)
		switch {
		case res.ID == "":
			writeError(w, http.StatusBadRequest, APIError{Message: "required", Field: field + ".id"})
			return
		case res.Status == Printed && res.FiscalInfo == nil:
			writeError(w, http.StatusBadRequest, APIError{Message: "a PRINTED result needs fiscalInfo", Field: field + ".fiscalInfo"})
			return
		case res.Status != Printed && res.Status != Failed:
			writeError(w, http.StatusBadRequest, APIError{Message: "must be PRINTED or FAILED", Field: field + ".status"})
			return
		}
	}
	now := s.now()
	var out ResultsResponse
	var callbacks []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		for _, res := range req.Results {
			key := docKey(reg.PointID, res.ID)
			var rec docRecord
			found, err := getJSON(docs, key, &rec)
			if err != nil {
				return err
			}
			if !found {
				out.Unknown = append(out.Unknown, res.ID)
				continue
			}
			if rec.reported() {
				continue
			}
			if err := tx.Bucket(bucketQueue).Delete(queueKey(reg.PointID, rec.Seq)); err != nil {
				return err
			}
			rec.Changed, rec.LeasedUntil, rec.Requeued = now, time.Time{}, false
			if res.Status == Printed {
				rec.State, rec.FiscalInfo, rec.Message = Printed, res.FiscalInfo, "Document printed"
				if rec.ResponseURL == "" {
					rec.State, rec.Message = Completed, "Document successfully completed"
				}
			} else {
				rec.State, rec.FailureInfo, rec.Message = Failed, res.FailureInfo, res.Message
				if rec.FailureInfo == nil {
					rec.FailureInfo = &FailureInfo{Type: FailureNonFN, Message: res.Message}
				}
				if rec.Message == "" {
					rec.Message = rec.FailureInfo.Message
				}
			}
			if rec.ResponseURL != "" {
				if err := tx.Bucket(bucketCallbacks).Put(key, nil); err != nil {
					return err
				}
				callbacks = append(callbacks, string(key))
			}
			if err := putJSON(docs, key, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for _, id := range out.Unknown {
		s.log.Warn("cloud: result for an unknown document", "point", reg.PointID, "id", id)
	}
	for _, k := range callbacks {
		s.startCallback(k)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, key []byte, _ registerRecord) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var h Health
	if err := decodeStrict(body, &h, ""); err != nil {
		writeFieldError(w, err)
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		var reg registerRecord
		if _, err := getJSON(tx.Bucket(bucketRegisters), key, &reg); err != nil {
			return err
		}
		// Staleness is judged by the cloud's clock, not by the register's own.
		reg.LastSeen, reg.Health = s.now(), &h
		return putJSON(tx.Bucket(bucketRegisters), key, reg)
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
