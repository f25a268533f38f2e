package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/openkassa/kassa/device/cloud/server/mail"
	bolt "go.etcd.io/bbolt"
)

// Mailer sends an e-mail; *mail.Sender is one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Kinds of alert: one incident of a kind is open at a time per point (per
// document for AlertCallback).
const (
	AlertStopped     = "stopped"     // the register stopped taking documents
	AlertSilent      = "silent"      // no heartbeat for Config.AlertSilence
	AlertUndelivered = "undelivered" // the oldest document not acknowledged by the OFD is older than Config.AlertUndelivered
	AlertShift       = "shift"       // the shift has been open for Config.AlertShift
	AlertCallback    = "callback"    // a document's callback refused Config.AlertCallbackAttempts times
)

// Alert is the JSON body POSTed to a point's webhook, once when an incident
// begins (Open) and once when it ends.
type Alert struct {
	PointID    string    `json:"retailPointId"`
	PointName  string    `json:"retailPointName"`
	Kind       string    `json:"kind"`
	Open       bool      `json:"open"` // false: the all-clear
	Since      time.Time `json:"since"`
	At         time.Time `json:"at"`
	Title      string    `json:"title"`
	Message    string    `json:"message"`
	DocumentID string    `json:"documentId,omitempty"`
}

// incident is an open alert as kept in bucketIncidents.
type incident struct {
	Kind       string    `json:"kind"`
	DocumentID string    `json:"documentId,omitempty"`
	Message    string    `json:"message"`
	Since      time.Time `json:"since"`
	key        string    // its key in bucketIncidents, while evaluating
}

// alertEntry is one message on one channel, as the cabinet's alert log shows it.
type alertEntry struct {
	Seq      uint64    `json:"seq"`
	Alert    Alert     `json:"alert"`
	Channel  string    `json:"channel"` // "email" or "webhook"
	To       string    `json:"to"`
	Attempts int       `json:"attempts"`
	Sent     bool      `json:"sent"`
	Done     bool      `json:"done"` // no more attempts
	Error    string    `json:"error,omitempty"`
	Changed  time.Time `json:"changed"`
}

var alertTitles = map[string][2]string{ // kind → {begins, ends}
	AlertStopped:     {"регистрация чеков остановлена", "регистрация чеков возобновлена"},
	AlertSilent:      {"нет связи с кассой", "связь с кассой восстановлена"},
	AlertUndelivered: {"документы долго не доставлены в ОФД", "документы доставлены в ОФД"},
	AlertShift:       {"смена скоро превысит 24 часа", "смена закрыта"},
	AlertCallback:    {"магазин не принимает уведомление о документе", "магазин принял уведомление о документе"},
}

func (a Alert) title() string {
	t := alertTitles[a.Kind]
	if a.Open {
		return t[0]
	}
	return t[1]
}

// Subject names the point and what happened, so the owner reads it from the list.
func (a Alert) subject() string {
	if a.Open {
		return fmt.Sprintf("Касса %s: %s — %s", a.PointName, a.Title, a.Message)
	}
	return fmt.Sprintf("Касса %s: всё в порядке — %s", a.PointName, a.Title)
}

func (a Alert) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Торговая точка: %s (%s)\n", a.PointName, a.PointID)
	if a.Open {
		fmt.Fprintf(&b, "Тревога: %s.\n%s\nС %s.\n", a.Title, a.Message, a.Since.Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "Всё в порядке: %s.\nТревога «%s» длилась с %s по %s.\n", a.Title, alertTitles[a.Kind][0],
			a.Since.Format(time.RFC3339), a.At.Format(time.RFC3339))
	}
	if a.DocumentID != "" {
		fmt.Fprintf(&b, "Документ: %s\n", a.DocumentID)
	}
	b.WriteString("\nЖурнал тревог — в кабинете владельца, раздел «Тревоги».\n")
	return b.String()
}

func incidentKey(pointID, kind, docID string) string {
	k := pointID + "\x00" + kind
	if docID != "" {
		k += "\x00" + docID
	}
	return k
}

// watch evaluates the time-driven alerts of every point and drops expired
// cabinet sessions, each AlertEvery.
func (s *Server) watch() {
	var ids []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPoints).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		s.log.Error("cloud: listing points for alerts", "err", err)
		return
	}
	for _, id := range ids {
		s.evaluate(id)
	}
	if err := s.dropSessions(); err != nil {
		s.log.Error("cloud: dropping expired sessions", "err", err)
	}
}

// evaluate compares the point's conditions with its open incidents: a new
// condition opens an incident and sends its alert, a condition gone closes it
// and sends the all-clear. A read transaction looks first, since mostly nothing
// changed; the change itself is worked out again in one write transaction, so
// concurrent heartbeats never open one incident twice.
func (s *Server) evaluate(pointID string) {
	var changed bool
	err := s.db.View(func(tx *bolt.Tx) error {
		_, opened, closed, err := s.incidentChanges(tx, pointID)
		changed = len(opened)+len(closed) > 0
		return err
	})
	if err != nil || !changed {
		s.logEvaluateError(pointID, err)
		return
	}
	var pr pointRecord
	var out []Alert
	err = s.db.Update(func(tx *bolt.Tx) error {
		var opened, closed []incident
		var err error
		pr, opened, closed, err = s.incidentChanges(tx, pointID)
		if err != nil {
			return err
		}
		now := s.now()
		alert := func(in incident, isOpen bool) Alert {
			a := Alert{PointID: pointID, PointName: pr.Point.Name, Kind: in.Kind, Open: isOpen, Since: in.Since, At: now,
				Message: in.Message, DocumentID: in.DocumentID}
			a.Title = a.title()
			return a
		}
		b := tx.Bucket(bucketIncidents)
		for _, in := range opened {
			if err := putJSON(b, []byte(in.key), in); err != nil {
				return err
			}
			out = append(out, alert(in, true))
		}
		for _, in := range closed {
			if err := b.Delete([]byte(in.key)); err != nil {
				return err
			}
			out = append(out, alert(in, false))
		}
		return nil
	})
	if err != nil {
		s.logEvaluateError(pointID, err)
		return
	}
	for _, a := range out {
		s.log.Info("cloud: alert", "point", pointID, "kind", a.Kind, "open", a.Open, "message", a.Message)
		if pr.NotifyEmail != "" {
			s.dispatch(a, "email", pr.NotifyEmail)
		}
		if pr.WebhookURL != "" {
			s.dispatch(a, "webhook", pr.WebhookURL)
		}
	}
}

func (s *Server) logEvaluateError(pointID string, err error) {
	if err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		s.log.Error("cloud: evaluating alerts", "point", pointID, "err", err)
	}
}

// incidentChanges returns the point and, in key order, the incidents to open
// (conditions holding that have none) and to close (open ones whose condition is gone).
func (s *Server) incidentChanges(tx *bolt.Tx, pointID string) (pr pointRecord, opened, closed []incident, err error) {
	found, err := getJSON(tx.Bucket(bucketPoints), []byte(pointID), &pr)
	if err != nil || !found {
		return pr, nil, nil, err
	}
	active, err := s.conditions(tx, pointID, s.now())
	if err != nil {
		return pr, nil, nil, err
	}
	open := map[string]incident{}
	prefix := []byte(pointID + "\x00")
	c := tx.Bucket(bucketIncidents).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var in incident
		if err := json.Unmarshal(v, &in); err != nil {
			return pr, nil, nil, fmt.Errorf("incident %q: %w", k, err)
		}
		open[string(k)] = in
	}
	for _, k := range sortedKeys(active) {
		if _, ok := open[k]; !ok {
			in := active[k]
			in.key = k
			opened = append(opened, in)
		}
	}
	for _, k := range sortedKeys(open) {
		if _, ok := active[k]; !ok {
			in := open[k]
			in.key = k
			closed = append(closed, in)
		}
	}
	return pr, opened, closed, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// conditions are the point's alert conditions holding now, keyed as incidents.
func (s *Server) conditions(tx *bolt.Tx, pointID string, now time.Time) (map[string]incident, error) {
	out := map[string]incident{}
	tk := tx.Bucket(bucketPointReg).Get([]byte(pointID))
	if tk != nil {
		var reg registerRecord
		if _, err := s.getRegister(tx, tk, &reg); err != nil {
			return nil, err
		}
		if h := reg.Health; h != nil {
			add := func(kind, msg string, since time.Time) {
				out[incidentKey(pointID, kind, "")] = incident{Kind: kind, Message: msg, Since: since}
			}
			if h.Stopped {
				reason := h.StopReason
				if reason == "" {
					reason = "касса перестала принимать документы"
				}
				add(AlertStopped, reason, reg.LastSeen)
			}
			if silent := now.Sub(reg.LastSeen); silent > s.cfg.AlertSilence {
				add(AlertSilent, fmt.Sprintf("касса не выходила на связь %s, с %s", ruDuration(silent),
					reg.LastSeen.Format("02.01.2006 15:04 MST")), reg.LastSeen)
			}
			if h.WaitingForOFD > 0 && !h.OldestUnsentAt.IsZero() && now.Sub(h.OldestUnsentAt) > s.cfg.AlertUndelivered {
				add(AlertUndelivered, fmt.Sprintf("%d док. ждут ОФД, старейший %s (предел накопителя — 30 дней)",
					h.WaitingForOFD, ruDuration(now.Sub(h.OldestUnsentAt))), h.OldestUnsentAt)
			}
			if h.ShiftOpen && !h.ShiftOpenedAt.IsZero() && now.Sub(h.ShiftOpenedAt) >= s.cfg.AlertShift {
				add(AlertShift, fmt.Sprintf("смена № %d открыта %s; через 24 часа касса не сможет пробивать чеки",
					h.ShiftNumber, ruDuration(now.Sub(h.ShiftOpenedAt))), h.ShiftOpenedAt)
			}
		}
	}
	prefix := []byte(pointID + "\x00")
	c := tx.Bucket(bucketCallbacks).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if refusals(v) < s.cfg.AlertCallbackAttempts {
			continue
		}
		var rec docRecord
		found, err := getJSON(tx.Bucket(bucketDocs), k, &rec)
		if err != nil {
			return nil, err
		}
		if found && rec.CallbackAttempts >= s.cfg.AlertCallbackAttempts {
			out[incidentKey(pointID, AlertCallback, rec.ID)] = incident{Kind: AlertCallback, DocumentID: rec.ID, Since: rec.Changed,
				Message: fmt.Sprintf("документ %s: %d попыток, последняя: %s", rec.ID, rec.CallbackAttempts, rec.CallbackError)}
		}
	}
	return out, nil
}

// ruDuration writes a duration as an owner reads it: "3 ч 20 мин", "2 дн 4 ч".
func ruDuration(d time.Duration) string {
	d = d.Truncate(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%d дн %d ч", days, hours)
	case hours > 0:
		return fmt.Sprintf("%d ч %d мин", hours, mins)
	}
	return fmt.Sprintf("%d мин", mins)
}

// dispatch queues the alert for one destination (a channel and an address).
// Each destination has one sender at a time, which delivers its alerts in the
// order they were raised, each retried with backoff for AlertRetryFor before the
// next one goes: an owner never gets the all-clear before the alert. Every
// outcome is kept in the alert log.
func (s *Server) dispatch(a Alert, channel, to string) {
	e := alertEntry{Alert: a, Channel: channel, To: to, Changed: s.now()}
	if err := s.logAlert(&e); err != nil {
		s.log.Error("cloud: alert log", "err", err)
		return
	}
	dest := channel + "\x00" + to
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	s.outbox[dest] = append(s.outbox[dest], e)
	if len(s.outbox[dest]) > 1 {
		return // the destination's sender takes it after those before it
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.mu.Lock()
			queue := s.outbox[dest]
			if len(queue) == 0 || s.ctx.Err() != nil {
				delete(s.outbox, dest)
				s.mu.Unlock()
				return
			}
			next := queue[0]
			s.mu.Unlock()
			s.deliverAlert(next)
			s.mu.Lock()
			s.outbox[dest] = s.outbox[dest][1:]
			s.mu.Unlock()
		}
	}()
}

// deliverAlert sends one logged alert, retrying with backoff for AlertRetryFor.
func (s *Server) deliverAlert(e alertEntry) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.cfg.AlertRetryInitial),
		backoff.WithMaxInterval(max(s.cfg.AlertRetryInitial, s.cfg.AlertRetryFor/4)),
		backoff.WithMaxElapsedTime(s.cfg.AlertRetryFor),
	)
	op := func() error {
		e.Attempts++
		err := s.send(e.Alert, e.Channel, e.To)
		if err != nil {
			e.Error, e.Changed = err.Error(), s.now()
			if lerr := s.logAlert(&e); lerr != nil {
				return backoff.Permanent(lerr)
			}
		}
		return err
	}
	err := backoff.Retry(op, backoff.WithContext(b, s.ctx))
	if s.ctx.Err() != nil {
		return
	}
	e.Done, e.Sent, e.Changed = true, err == nil, s.now()
	if err == nil {
		e.Error = ""
	} else {
		s.log.Warn("cloud: alert not sent", "point", e.Alert.PointID, "kind", e.Alert.Kind, "channel", e.Channel, "attempts", e.Attempts, "err", err)
	}
	if err := s.logAlert(&e); err != nil {
		s.log.Error("cloud: alert log", "err", err)
	}
}

var errNoMailer = errors.New("no SMTP server configured")

func (s *Server) send(a Alert, channel, to string) error {
	ctx, cancel := context.WithTimeout(s.ctx, attemptTimeout)
	defer cancel()
	if channel == "email" {
		if s.cfg.Mailer == nil {
			return backoff.Permanent(errNoMailer)
		}
		return s.cfg.Mailer.Send(ctx, mail.Message{To: []string{to}, Subject: a.subject(), Text: a.text()})
	}
	body, err := json.Marshal(a)
	if err != nil {
		return backoff.Permanent(err)
	}
	return s.postJSON(ctx, "webhook", to, body)
}

// logAlert stores the entry, numbering it on first store.
func (s *Server) logAlert(e *alertEntry) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlertLog)
		if e.Seq == 0 {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			e.Seq = seq
		}
		return putJSON(b, binary.BigEndian.AppendUint64(nil, e.Seq), e)
	})
}

// alertLog returns the newest entries of the given points, newest first.
func (s *Server) alertLog(points map[string]bool, limit int) ([]alertEntry, error) {
	var out []alertEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAlertLog).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var e alertEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("alert log %x: %w", k, err)
			}
			if points[e.Alert.PointID] {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}
