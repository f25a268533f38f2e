package server

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
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
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "register token required (Bearer)"})
			return
		}
		key := tokenKey(token)
		var reg registerRecord
		var found bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			found, err = s.getRegister(tx, key, &reg)
			return err
		})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if !found {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "unknown register token"})
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
	resume, after := r.URL.Query().Get("resume") == "1", r.URL.Query().Get("after")
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		wake := s.waiter(reg.PointID)
		leases, next, err := s.take(reg.PointID, limit, resume, after)
		resume, after = false, ""
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if len(leases) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, cloud.LeaseResponse{Documents: leases})
			return
		}
		if !s.await(wake, next, deadline.C, r) {
			if r.Context().Err() == nil {
				writeJSON(w, http.StatusOK, cloud.LeaseResponse{Documents: []cloud.Lease{}})
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
				return 0, 0, cloud.FieldErrorf("wait", "%q is not a duration", v)
			}
			d = time.Duration(secs) * time.Second
		}
		if d < 0 {
			return 0, 0, cloud.FieldErrorf("wait", "negative")
		}
		wait = d
	}
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, cloud.FieldErrorf("max", "%q is not a positive number", v)
		}
		limit = min(n, maxLeaseBatch)
	}
	return wait, limit, nil
}

// take leases up to limit of the point's oldest waiting documents, and expired leases again with
// the same id (with resume, every lease of the point's register, expired or not: it restarted;
// after, when not "", is the last document of the previous resume page). It returns the earliest
// expiry of the leases still running.
func (s *Server) take(pointID string, limit int, resume bool, after string) ([]cloud.Lease, time.Time, error) {
	now := s.now()
	leases := []cloud.Lease{}
	var next time.Time
	err := s.db.Update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		prefix := []byte(pointID + "\x00")
		from := prefix
		if after != "" {
			var prev docRecord
			found, err := getJSON(docs, docKey(pointID, after), &prev)
			if err != nil {
				return err
			}
			if found {
				from = queueKey(pointID, prev.Seq+1)
			}
		}
		queue := tx.Bucket(bucketQueue)
		c := queue.Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(leases) < limit; k, v = c.Next() {
			id, until := queueEntry(v)
			if !resume && now.Before(until) {
				// A running lease, known from the queue alone.
				if next.IsZero() || until.Before(next) {
					next = until
				}
				continue
			}
			var rec docRecord
			found, err := getJSON(docs, docKey(pointID, id), &rec)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			switch {
			case rec.State == cloud.Queued || rec.State == cloud.Requeued:
				rec.State, rec.Changed, rec.Message = cloud.Pending, now, "Document taken by the register"
			case rec.State == cloud.Pending && (resume || !now.Before(rec.LeasedUntil)):
				// Lease expired, or its register restarted: the same register
				// gets it again under the same id.
			case rec.State == cloud.Pending:
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
			// The cursor stays valid: the key exists, only its value changes.
			if err := queue.Put(bytes.Clone(k), leasedEntry(rec.ID, rec.LeasedUntil)); err != nil {
				return err
			}
			body := bytes.Clone(tx.Bucket(bucketBodies).Get(docKey(pointID, rec.ID)))
			leases = append(leases, cloud.Lease{ID: rec.ID, Document: body, LeasedUntil: rec.LeasedUntil, Requeued: rec.Requeued})
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

// A queue entry's value is the document's id, followed for a leased document
// by a NUL and its lease's expiry (Unix nanoseconds, u64 BE): a lease scan
// passes running leases over without reading their documents. Ids hold no
// control characters (checkID).
func leasedEntry(id string, until time.Time) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(id), 0), uint64(until.UnixNano()))
}

// queueEntry reads a queue entry's value: the id, and the lease's expiry if
// the entry says it is leased.
func queueEntry(v []byte) (id string, until time.Time) {
	if n := len(v) - 9; n > 0 && v[n] == 0 {
		return string(v[:n]), time.Unix(0, int64(binary.BigEndian.Uint64(v[n+1:])))
	}
	return string(v), time.Time{}
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

// awaitAck files a fiscalized document under those the OFD has yet to acknowledge,
// unless the register's last heartbeat already showed it acknowledged (the
// result came late, after an outage): then it is delivered as of now.
func (s *Server) awaitAck(tx *bolt.Tx, pointID string, rec *docRecord) error {
	fi := rec.FiscalInfo
	if fi.FNDocNumber <= 0 || fi.FNNumber == "" {
		return nil
	}
	fd := uint32(fi.FNDocNumber)
	var reg registerRecord
	if tk := tx.Bucket(bucketPointReg).Get([]byte(pointID)); tk != nil {
		if _, err := s.getRegister(tx, tk, &reg); err != nil {
			return err
		}
	}
	if h := reg.Health; h != nil && h.Drive.Number == fi.FNNumber && fd <= h.OFDAckedThrough {
		rec.OFDDeliveredAt = s.now()
		return nil
	}
	return tx.Bucket(bucketUnacked).Put(unackedKey(pointID, fi.FNNumber, fd), []byte(rec.ID))
}

// results records the register's outcomes. A result for a document already
// reported is accepted again and changes nothing, so the register may resend freely.
func (s *Server) results(w http.ResponseWriter, r *http.Request, _ []byte, reg registerRecord) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req cloud.ResultsRequest
	if err := cloud.DecodeStrict(body, &req, ""); err != nil {
		writeFieldError(w, err)
		return
	}
	for i, res := range req.Results {
		field := fmt.Sprintf("results[%d]", i)
		switch {
		case res.ID == "":
			writeError(w, http.StatusBadRequest, cloud.APIError{Message: "required", Field: field + ".id"})
			return
		case res.Status == cloud.Printed && res.FiscalInfo == nil:
			writeError(w, http.StatusBadRequest, cloud.APIError{Message: "a PRINTED result needs fiscalInfo", Field: field + ".fiscalInfo"})
			return
		case res.Status != cloud.Printed && res.Status != cloud.Failed:
			writeError(w, http.StatusBadRequest, cloud.APIError{Message: "must be PRINTED or FAILED", Field: field + ".status"})
			return
		}
	}
	now := s.now()
	var out cloud.ResultsResponse
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
			if res.Status == cloud.Printed {
				rec.State, rec.FiscalInfo, rec.Message, rec.Fiscalized = cloud.Printed, res.FiscalInfo, "Document printed", now
				if err := s.awaitAck(tx, reg.PointID, &rec); err != nil {
					return err
				}
				if rec.ResponseURL == "" {
					rec.State, rec.Message = cloud.Completed, "Document successfully completed"
				}
			} else {
				rec.State, rec.FailureInfo, rec.Message = cloud.Failed, res.FailureInfo, res.Message
				if rec.FailureInfo == nil {
					rec.FailureInfo = &cloud.FailureInfo{Type: cloud.FailureNonFN, Message: res.Message}
				}
				if rec.Message == "" {
					rec.Message = rec.FailureInfo.Message
				}
			}
			if rec.ResponseURL != "" {
				// Due again; a count of refusals already there stays.
				if cb := tx.Bucket(bucketCallbacks); cb.Get(key) == nil {
					if err := cb.Put(key, nil); err != nil {
						return err
					}
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
	s.evaluate(reg.PointID)
	writeJSON(w, http.StatusOK, out)
}

// heartbeat records the register's health, marks the documents the OFD has
// acknowledged as delivered, and answers whether the owner asked it to resume
// or for a report.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, key []byte, _ registerRecord) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var h cloud.Health
	if err := cloud.DecodeStrict(body, &h, ""); err != nil {
		writeFieldError(w, err)
		return
	}
	var out cloud.HeartbeatResponse
	var pointID string
	delivered := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		var reg registerRecord
		if _, err := s.getRegister(tx, key, &reg); err != nil {
			return err
		}
		pointID = reg.PointID
		// Staleness is judged by the cloud's clock, not by the register's own.
		now := s.now()
		if reg.Health == nil || now.Sub(reg.LastSeen) > s.cfg.Stale || reg.Health.Stopped != h.Stopped {
			reg.Since = now
		}
		reg.LastSeen, reg.Health = now, &h
		// A resume goes out once, and only to a register still stopped.
		out.Resume = reg.Resume && h.Stopped
		reg.Resume = false
		if err := putJSON(tx.Bucket(bucketRegisters), key, reg); err != nil {
			return err
		}
		// A command from the cabinet goes out once; its outcome comes back in Health.
		var err error
		if out.Command, err = s.exchangeCommand(tx, reg.PointID, h.Command); err != nil {
			return err
		}
		delivered, err = s.markDelivered(tx, reg.PointID, h.Drive.Number, h.OFDAckedThrough)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if delivered > 0 {
		s.log.Debug("cloud: documents acknowledged by the OFD", "point", pointID, "count", delivered, "through", h.OFDAckedThrough)
	}
	if out.Resume {
		s.log.Info("cloud: resume sent to the register", "point", pointID)
	}
	if out.Command != nil {
		s.log.Info("cloud: command sent to the register", "point", pointID, "command", out.Command.Kind, "id", out.Command.ID)
	}
	s.evaluate(pointID)
	writeJSON(w, http.StatusOK, out)
}

// unackedKey orders a point's documents not yet acknowledged by the OFD by drive
// and fiscal document number, so an acknowledgement is one short cursor walk.
func unackedKey(pointID, drive string, fd uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte(pointID+"\x00"+drive+"\x00"), fd)
}

// markDelivered stamps the point's documents of the drive numbered up to through
// as delivered to the OFD now. The drive sends in order, so every earlier one is
// acknowledged too; a new drive numbers from 1 again, hence the drive in the key.
func (s *Server) markDelivered(tx *bolt.Tx, pointID, drive string, through uint32) (int, error) {
	if drive == "" || through == 0 {
		return 0, nil
	}
	prefix := []byte(pointID + "\x00" + drive + "\x00")
	c := tx.Bucket(bucketUnacked).Cursor()
	docs := tx.Bucket(bucketDocs)
	var done [][]byte
	var ids []string
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+4 || binary.BigEndian.Uint32(k[len(prefix):]) > through {
			break
		}
		done = append(done, k)
		ids = append(ids, string(v))
	}
	now := s.now()
	for i, k := range done {
		if err := tx.Bucket(bucketUnacked).Delete(k); err != nil {
			return 0, err
		}
		var rec docRecord
		found, err := getJSON(docs, docKey(pointID, ids[i]), &rec)
		if err != nil {
			return 0, err
		}
		if !found || !rec.OFDDeliveredAt.IsZero() {
			continue
		}
		rec.OFDDeliveredAt = now
		if err := putJSON(docs, docKey(pointID, rec.ID), rec); err != nil {
			return 0, err
		}
	}
	return len(done), nil
}
