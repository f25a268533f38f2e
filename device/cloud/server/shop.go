package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

type shopHandler func(w http.ResponseWriter, r *http.Request, pr storage.Point)

// shop authenticates the integration pair (HTTP Basic) and passes its point on.
func (s *Server) shop(h shopHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "integration credentials required (HTTP Basic)"})
			return
		}
		pr, known, err := s.shopPoint(r.Context(), user, pass)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if !known {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "wrong integration login or password"})
			return
		}
		h(w, r, pr)
	}
}

// shopPoint returns the point of an integration pair, reporting false for
// a wrong login or password.
func (s *Server) shopPoint(ctx context.Context, user, pass string) (storage.Point, bool, error) {
	c, err := s.store.ShopLogin(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		// Hash anyway, so a wrong login costs as long as a wrong password.
		checkSecret(nil, nil, pass)
		return storage.Point{}, false, nil
	}
	if err != nil || !checkSecret(c.Salt, c.Hash, pass) {
		return storage.Point{}, false, err
	}
	pr, err := s.store.Point(ctx, c.PointID)
	if errors.Is(err, storage.ErrNotFound) {
		return pr, false, nil
	}
	return pr, err == nil, err
}

// associate issues the integration pair of a point to its cabinet account. The
// login is stable per (point, clientId); each call makes a new password. The
// cabinet's password is checked as the log-in form checks it: limited per login
// and source, and outside the write transaction that issues the pair.
func (s *Server) associate(w http.ResponseWriter, r *http.Request) {
	login, pass, ok := r.BasicAuth()
	if !ok {
		writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "cabinet credentials required (HTTP Basic)"})
		return
	}
	pointID, clientID := r.PathValue("retailPointId"), r.URL.Query().Get("clientId")
	source := s.clientAddr(r)
	if wait := s.guard.allow(s.now(), login, source); wait > 0 {
		s.log.Warn("cloud: associate refused: too many attempts", "login", login, "addr", source)
		tooMany(w, wait)
		return
	}
	_, ok, err := s.checkPassword(r.Context(), login, pass)
	switch {
	case errors.Is(err, errBusy):
		tooMany(w, time.Second)
		return
	case err != nil:
		s.internal(w, r, err)
		return
	case !ok:
		s.guard.fail(s.now(), login, source)
		s.log.Info("cloud: associate: wrong cabinet password", "login", login, "addr", source)
		writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "wrong cabinet login or password"})
		return
	}
	s.guard.succeed(login, source)
	pr, err := s.store.Point(r.Context(), pointID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || err == nil && pr.Account != login:
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such retail point", Field: "retailPointId"})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	name, password, err := s.newShopLogin(r.Context(), pointID, clientID, false)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: integration credentials issued", "point", pointID, "clientId", clientID, "user", name)
	writeJSON(w, http.StatusOK, cloud.Association{UserName: name, Password: password, Name: pr.Point.Name, Address: pr.Point.Address})
}

// tooMany answers 429 with when to come back.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeError(w, http.StatusTooManyRequests, cloud.APIError{Message: "too many log-in attempts: try again later"})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	user, _, _ := r.BasicAuth()
	if err := s.store.RevokeShopLogin(r.Context(), user); err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: integration credentials revoked", "point", pr.Point.ID, "user", user)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pointStatus(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	st, err := s.registerStatus(r.Context(), pr.Point.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// registerStatus derives the point's register state from its last heartbeat.
func (s *Server) registerStatus(ctx context.Context, pointID string) (cloud.PointStatus, error) {
	now := s.now()
	reg, err := s.store.PointRegister(ctx, pointID)
	if errors.Is(err, storage.ErrNotFound) {
		return cloud.PointStatus{Status: cloud.Disabled, DateTime: now, Message: "no register serves this retail point"}, nil
	}
	if err != nil {
		return cloud.PointStatus{}, err
	}
	switch {
	case reg.Health == nil:
		return cloud.PointStatus{Status: cloud.Associated, DateTime: reg.BoundAt, Message: "the register has not reported in yet"}, nil
	case now.Sub(reg.LastSeen) > s.cfg.Stale:
		return cloud.PointStatus{Status: cloud.RegFailed, DateTime: reg.LastSeen,
			Message: "no contact since " + reg.LastSeen.Format(time.RFC3339)}, nil
	case reg.Health.Stopped:
		reason := reg.Health.StopReason
		if reason == "" {
			reason = "the register stopped taking documents"
		}
		return cloud.PointStatus{Status: cloud.RegFailed, DateTime: reg.LastSeen, Message: reason}, nil
	case reg.Health.DiskFull != "":
		return cloud.PointStatus{Status: cloud.RegFailed, DateTime: reg.LastSeen, Message: "the register: " + reg.Health.DiskFull}, nil
	}
	if full := s.diskFull(); full != "" {
		return cloud.PointStatus{Status: cloud.RegFailed, DateTime: now, Message: full}, nil
	}
	return cloud.PointStatus{Status: cloud.Ready, DateTime: reg.LastSeen}, nil
}

func (s *Server) postDoc(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var d cloud.Document
	if err := json.Unmarshal(body, &d); err != nil {
		writeFieldError(w, err)
		return
	}
	at := d.CheckoutDateTime // the register dates the receipt; this picks the VAT rate meanwhile
	if at.IsZero() {
		at = s.now()
	}
	_, notes, err := d.ReceiptNotes(pr.Point, at)
	if err != nil {
		writeFieldError(w, err)
		return
	}
	queued := "Document queued for printing"
	if len(notes) > 0 {
		queued += "; " + strings.Join(notes, "; ")
	}
	norm, err := json.Marshal(&d)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	sum := sha256.Sum256(norm)
	pointID := pr.Point.ID
	rec, created, err := s.store.PostDocument(r.Context(), storage.NewDocument{PointID: pointID, ID: d.ID, Hash: hex.EncodeToString(sum[:]),
		Body: norm, ResponseURL: d.ResponseURL, Message: queued, At: s.now()})
	switch {
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, cloud.APIError{Message: "a document with this id and other content exists", Field: "id"})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	if created {
		s.metrics.document(cloud.Queued)
		s.log.Info("cloud: document queued", "point", pointID, "id", d.ID)
	}
	s.answerDoc(w, r, rec)
}

// writeFieldError answers 400 naming the shop's field.
func writeFieldError(w http.ResponseWriter, err error) {
	var fe *cloud.FieldError
	if errors.As(err, &fe) {
		writeError(w, http.StatusBadRequest, cloud.APIError{Message: fe.Message, Field: fe.Field})
		return
	}
	writeError(w, http.StatusBadRequest, cloud.APIError{Message: err.Error()})
}

// answerDoc writes a document's DocumentStatus with the point's current fnState.
func (s *Server) answerDoc(w http.ResponseWriter, r *http.Request, rec storage.Document) {
	st, err := s.registerStatus(r.Context(), rec.PointID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, docStatus(&rec, st.Status))
}

func docStatus(d *storage.Document, fn cloud.RegisterState) cloud.DocumentStatus {
	return cloud.DocumentStatus{Status: d.State, FNState: fn, FiscalInfo: d.FiscalInfo, FailureInfo: d.FailureInfo,
		Message: d.Message, TimeStatusChanged: d.Changed, OFDDelivered: !d.OFDDeliveredAt.IsZero(), OFDDeliveredAt: d.OFDDeliveredAt}
}

func (s *Server) docStatus(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	rec, err := s.store.Document(r.Context(), pr.Point.ID, r.PathValue("id"))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such document", Field: "id"})
	case err != nil:
		s.internal(w, r, err)
	default:
		s.answerDoc(w, r, rec)
	}
}

// requeue puts a FAILED document at the back of the queue as REQUEUED.
func (s *Server) requeue(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	rec, err := s.requeueDoc(r.Context(), pr.Point.ID, r.PathValue("id"))
	switch {
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, cloud.APIError{Message: fmt.Sprintf("the document is %s; only a FAILED document can be re-queued", rec.State), Field: "id"})
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such document", Field: "id"})
	case err != nil:
		s.internal(w, r, err)
	default:
		s.answerDoc(w, r, rec)
	}
}

// requeueDoc re-queues a FAILED document (a REQUEUED one stays as it is);
// the store wakes the point's register. storage.ErrConflict, with the
// document, for any other state.
func (s *Server) requeueDoc(ctx context.Context, pointID, id string) (storage.Document, error) {
	return s.store.Requeue(ctx, pointID, id, s.now(), "Document re-queued for printing")
}
