package server

import (
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
	bolt "go.etcd.io/bbolt"
)

// docRecord is a shop document as the cloud keeps it.
type docRecord struct {
	ID      string `json:"id"`
	PointID string `json:"pointId"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"` // of the body: a re-post with another hash is a conflict
	// Body is the Document, normalized. It is kept in bucketBodies, written once,
	// so that a change of state neither reads nor rewrites it; set only where read.
	Body        json.RawMessage    `json:"-"`
	ResponseURL string             `json:"responseUrl,omitempty"`
	State       cloud.DocState     `json:"state"`
	Changed     time.Time          `json:"changed"`
	LeasedUntil time.Time          `json:"leasedUntil,omitzero"`
	Leases      int                `json:"leases,omitempty"`
	Requeued    bool               `json:"requeued,omitempty"` // re-queued by the shop; cleared by the next result
	FiscalInfo  *cloud.FiscalInfo  `json:"fiscalInfo,omitempty"`
	FailureInfo *cloud.FailureInfo `json:"failureInfo,omitempty"`
	Message     string             `json:"message,omitempty"`
	Created     time.Time          `json:"created,omitzero"`
	Fiscalized  time.Time          `json:"fiscalized,omitzero"` // when the register's result came
	// OFDDeliveredAt: the first heartbeat whose OFDAckedThrough covered the document.
	OFDDeliveredAt   time.Time `json:"ofdDeliveredAt,omitzero"`
	CallbackAttempts int       `json:"callbackAttempts,omitempty"`
	CallbackError    string    `json:"callbackError,omitempty"` // the last refusal
}

// reported says whether the register's result is in: results after that change nothing.
func (d *docRecord) reported() bool {
	switch d.State {
	case cloud.Printed, cloud.WaitForCallback, cloud.Completed, cloud.Failed:
		return true
	}
	return false
}

var errConflict = errors.New("cloud: document id already used with other content")

type shopHandler func(w http.ResponseWriter, r *http.Request, pr pointRecord)

// shop authenticates the integration pair (HTTP Basic) and passes its point on.
func (s *Server) shop(h shopHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "integration credentials required (HTTP Basic)"})
			return
		}
		var pr pointRecord
		var known bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var c credential
			found, err := getJSON(tx.Bucket(bucketCreds), []byte(user), &c)
			if err != nil || !found {
				// Hash anyway, so a wrong login costs as long as a wrong password.
				checkSecret(nil, nil, pass)
				return err
			}
			if !checkSecret(c.Salt, c.Hash, pass) {
				return nil
			}
			known, err = getJSON(tx.Bucket(bucketPoints), []byte(c.PointID), &pr)
			return err
		})
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
	password, err := s.secret()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	salt, err := s.random(16)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var out cloud.Association
	found := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		var pr pointRecord
		var err error
		if found, err = getJSON(tx.Bucket(bucketPoints), []byte(pointID), &pr); err != nil || !found {
			return err
		}
		if pr.Account != login {
			found = false
			return nil
		}
		user, err := s.issue(tx, pointID, clientID, password, salt)
		if err != nil {
			return err
		}
		out = cloud.Association{UserName: user, Password: password, Name: pr.Point.Name, Address: pr.Point.Address}
		return nil
	})
	switch {
	case err != nil:
		s.internal(w, r, err)
	case !found:
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such retail point", Field: "retailPointId"})
	default:
		s.log.Info("cloud: integration credentials issued", "point", pointID, "clientId", clientID, "user", out.UserName)
		writeJSON(w, http.StatusOK, out)
	}
}

// tooMany answers 429 with when to come back.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeError(w, http.StatusTooManyRequests, cloud.APIError{Message: "too many log-in attempts: try again later"})
}

// issue stores a new password for the (point, clientId) pair, creating its login on first use.
func (s *Server) issue(tx *bolt.Tx, pointID, clientID, password string, salt []byte) (string, error) {
	idx := tx.Bucket(bucketCredIndex)
	ik := []byte(pointID + "\x00" + clientID)
	user := string(idx.Get(ik))
	if user == "" {
		b, err := s.random(8)
		if err != nil {
			return "", err
		}
		user = hex.EncodeToString(b)
		if err := idx.Put(ik, []byte(user)); err != nil {
			return "", err
		}
	}
	c := credential{PointID: pointID, ClientID: clientID, Salt: salt, Hash: hashSecret(salt, password)}
	return user, putJSON(tx.Bucket(bucketCreds), []byte(user), c)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, pr pointRecord) {
	user, _, _ := r.BasicAuth()
	err := s.db.Update(func(tx *bolt.Tx) error {
		var c credential
		if _, err := getJSON(tx.Bucket(bucketCreds), []byte(user), &c); err != nil {
			return err
		}
		if err := tx.Bucket(bucketCredIndex).Delete([]byte(c.PointID + "\x00" + c.ClientID)); err != nil {
			return err
		}
		return tx.Bucket(bucketCreds).Delete([]byte(user))
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: integration credentials revoked", "point", pr.Point.ID, "user", user)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pointStatus(w http.ResponseWriter, r *http.Request, pr pointRecord) {
	var st cloud.PointStatus
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = s.registerStatus(tx, pr.Point.ID)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// registerStatus derives the point's register state from its last heartbeat.
func (s *Server) registerStatus(tx *bolt.Tx, pointID string) (cloud.PointStatus, error) {
	now := s.now()
	tk := tx.Bucket(bucketPointReg).Get([]byte(pointID))
	if tk == nil {
		return cloud.PointStatus{Status: cloud.Disabled, DateTime: now, Message: "no register serves this retail point"}, nil
	}
	var reg registerRecord
	if _, err := s.getRegister(tx, tk, &reg); err != nil {
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

func (s *Server) postDoc(w http.ResponseWriter, r *http.Request, pr pointRecord) {
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
	hash := hex.EncodeToString(sum[:])
	pointID := pr.Point.ID
	var rec docRecord
	created := false
	err = s.db.Batch(func(tx *bolt.Tx) error {
		// Batch may run this more than once: it sets everything it tells.
		rec, created = docRecord{}, false
		docs := tx.Bucket(bucketDocs)
		found, err := getJSON(docs, docKey(pointID, d.ID), &rec)
		if err != nil {
			return err
		}
		if found {
			if rec.Hash != hash {
				return errConflict
			}
			return nil
		}
		seq, err := docs.NextSequence()
		if err != nil {
			return err
		}
		rec = docRecord{ID: d.ID, PointID: pointID, Seq: seq, Hash: hash,
			ResponseURL: d.ResponseURL, State: cloud.Queued, Changed: s.now(), Created: s.now(), Message: queued}
		if err := tx.Bucket(bucketQueue).Put(queueKey(pointID, seq), []byte(d.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketBodies).Put(docKey(pointID, d.ID), norm); err != nil {
			return err
		}
		created = true
		return putJSON(docs, docKey(pointID, d.ID), rec)
	})
	switch {
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, cloud.APIError{Message: "a document with this id and other content exists", Field: "id"})
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	if created {
		s.log.Info("cloud: document queued", "point", pointID, "id", d.ID)
		s.notify(pointID)
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
func (s *Server) answerDoc(w http.ResponseWriter, r *http.Request, rec docRecord) {
	var st cloud.PointStatus
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = s.registerStatus(tx, rec.PointID)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec.status(st.Status))
}

func (d *docRecord) status(fn cloud.RegisterState) cloud.DocumentStatus {
	return cloud.DocumentStatus{Status: d.State, FNState: fn, FiscalInfo: d.FiscalInfo, FailureInfo: d.FailureInfo,
		Message: d.Message, TimeStatusChanged: d.Changed, OFDDelivered: !d.OFDDeliveredAt.IsZero(), OFDDeliveredAt: d.OFDDeliveredAt}
}

// loadDoc answers 404 itself for an id the point does not own.
func (s *Server) loadDoc(w http.ResponseWriter, r *http.Request, pointID string) (docRecord, bool) {
	var rec docRecord
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket(bucketDocs), docKey(pointID, r.PathValue("id")), &rec)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return rec, false
	}
	if !found {
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such document", Field: "id"})
		return rec, false
	}
	return rec, true
}

func (s *Server) docStatus(w http.ResponseWriter, r *http.Request, pr pointRecord) {
	if rec, ok := s.loadDoc(w, r, pr.Point.ID); ok {
		s.answerDoc(w, r, rec)
	}
}

var errNotFailed = errors.New("cloud: only a FAILED document can be re-queued")

// requeue puts a FAILED document at the back of the queue as REQUEUED.
func (s *Server) requeue(w http.ResponseWriter, r *http.Request, pr pointRecord) {
	rec, found, err := s.requeueDoc(pr.Point.ID, r.PathValue("id"))
	switch {
	case errors.Is(err, errNotFailed):
		writeError(w, http.StatusConflict, cloud.APIError{Message: fmt.Sprintf("the document is %s; only a FAILED document can be re-queued", rec.State), Field: "id"})
	case err != nil:
		s.internal(w, r, err)
	case !found:
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such document", Field: "id"})
	default:
		s.answerDoc(w, r, rec)
	}
}

// requeueDoc re-queues a FAILED document (a REQUEUED one stays as it is) and
// wakes the point's register; errNotFailed for any other state.
func (s *Server) requeueDoc(pointID, id string) (docRecord, bool, error) {
	var rec docRecord
	var found bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		var err error
		found, err = getJSON(docs, docKey(pointID, id), &rec)
		if err != nil || !found {
			return err
		}
		if rec.State == cloud.Requeued {
			return nil
		}
		if rec.State != cloud.Failed {
			return errNotFailed
		}
		seq, err := docs.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq, rec.State, rec.Changed, rec.Requeued = seq, cloud.Requeued, s.now(), true
		rec.FailureInfo, rec.FiscalInfo, rec.LeasedUntil = nil, nil, time.Time{}
		rec.Message = "Document re-queued for printing"
		if err := tx.Bucket(bucketQueue).Put(queueKey(pointID, seq), []byte(id)); err != nil {
			return err
		}
		// A callback still retrying the failure has nothing left to say.
		if err := tx.Bucket(bucketCallbacks).Delete(docKey(pointID, id)); err != nil {
			return err
		}
		return putJSON(docs, docKey(pointID, id), rec)
	})
	if err == nil && found {
		s.notify(pointID)
	}
	return rec, found, err
}
