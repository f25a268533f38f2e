package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// maxLeaseBatch bounds one lease answer whatever the register asks for.
const maxLeaseBatch = 100

type deviceHandler func(w http.ResponseWriter, r *http.Request, reg storage.Register)

// device authenticates the register's bearer token. Tokens are looked up by their
// SHA-256, so the file never holds one a thief could replay.
func (s *Server) device(h deviceHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "register token required (Bearer)"})
			return
		}
		reg, err := s.store.Register(r.Context(), tokenKey(token))
		if errors.Is(err, storage.ErrNotFound) {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "unknown register token"})
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		h(w, r, reg)
	}
}

// lease hands out up to ?max= documents, waiting up to wait for the first one. It
// waits on the store's Notifier for the point (taken before each scan, so no
// post is missed) and on the earliest expiring lease, never on a polling loop.
func (s *Server) lease(w http.ResponseWriter, r *http.Request, reg storage.Register) {
	t0 := time.Now()
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
		wake := s.store.Wait(reg.PointID)
		leases, next, err := s.take(r, reg, limit, resume, after)
		resume, after = false, ""
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if len(leases) > 0 || wait == 0 {
			if len(leases) > 0 {
				s.metrics.leases.Observe(time.Since(t0).Seconds())
			}
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

// take leases up to limit of the point's oldest waiting documents to the
// register, and expired leases again with the same id (with resume, every
// lease the register holds, expired or not: it restarted; after, when not "",
// is the last document of the previous resume page). It returns the earliest
// expiry of the leases still running.
func (s *Server) take(r *http.Request, reg storage.Register, limit int, resume bool, after string) ([]cloud.Lease, time.Time, error) {
	now := s.now()
	got, err := s.store.Lease(r.Context(), storage.LeaseRequest{PointID: reg.PointID, Owner: reg.ID, Max: limit, Now: now,
		Until: now.Add(s.cfg.LeaseFor), Resume: resume, After: after}, "Document taken by the register")
	if err != nil {
		return nil, time.Time{}, err
	}
	leases := make([]cloud.Lease, len(got.Documents))
	s.metrics.documents.WithLabelValues(string(cloud.Pending)).Add(float64(len(got.Documents)))
	for i, d := range got.Documents {
		leases[i] = cloud.Lease{ID: d.ID, Document: d.Body, LeasedUntil: d.LeasedUntil, Requeued: d.Requeued}
		s.log.Debug("cloud: document leased", "point", reg.PointID, "id", d.ID, "until", d.LeasedUntil)
	}
	return leases, got.NextExpiry, nil
}

func (s *Server) point(w http.ResponseWriter, r *http.Request, reg storage.Register) {
	pr, err := s.store.Point(r.Context(), reg.PointID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
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
func (s *Server) results(w http.ResponseWriter, r *http.Request, reg storage.Register) {
	var req cloud.ResultsRequest
	if !decodeBody(w, r, &req) {
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
	ids := make([]string, len(req.Results))
	for i, res := range req.Results {
		ids[i] = res.ID
	}
	got, err := s.store.Report(r.Context(), reg.PointID, ids, now, func(i int, d *storage.Document) {
		res := req.Results[i]
		d.Changed, d.Requeued = now, false
		if res.Status == cloud.Printed {
			d.State, d.FiscalInfo, d.Message, d.Fiscalized = cloud.Printed, res.FiscalInfo, "Document printed", now
			if d.ResponseURL == "" {
				d.State, d.Message = cloud.Completed, "Document successfully completed"
			}
			return
		}
		d.State, d.FailureInfo, d.Message = cloud.Failed, res.FailureInfo, res.Message
		if d.FailureInfo == nil {
			d.FailureInfo = &cloud.FailureInfo{Type: cloud.FailureNonFN, Message: res.Message}
		}
		if d.Message == "" {
			d.Message = d.FailureInfo.Message
		}
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := cloud.ResultsResponse{Unknown: got.Unknown}
	for _, id := range out.Unknown {
		s.log.Warn("cloud: result for an unknown document", "point", reg.PointID, "id", id)
	}
	due := false
	for _, d := range got.Changed {
		s.metrics.document(d.State)
		due = due || d.CallbackDue
	}
	if due {
		s.takeCallbacks(now)
	}
	s.evaluate(reg.PointID)
	writeJSON(w, http.StatusOK, out)
}

// heartbeat records the register's health, marks the documents the OFD has
// acknowledged as delivered, and answers whether the owner asked it to resume
// or for a report.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, reg storage.Register) {
	var h cloud.Health
	if !decodeBody(w, r, &h) {
		return
	}
	ctx := r.Context()
	pointID := reg.PointID
	// Staleness is judged by the cloud's clock, not by the register's own.
	now := s.now()
	var out cloud.HeartbeatResponse
	_, resume, err := s.store.RecordHeartbeat(ctx, storage.Heartbeat{RegisterID: reg.ID, Health: h, At: now, Stale: s.cfg.Stale})
	var delivered int
	if err == nil {
		delivered, err = s.store.MarkDelivered(ctx, pointID, h.Drive.Number, h.OFDAckedThrough, now)
	}
	if err == nil {
		// A command from the cabinet goes out once, last, so that no failure
		// after it loses it; its outcome comes back in Health.
		out.Command, err = s.store.ExchangeCommand(ctx, pointID, h.Command, now)
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out.Resume = resume
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
