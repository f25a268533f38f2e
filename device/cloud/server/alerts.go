package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/openkassa/kassa/device/cloud/server/mail"
	"github.com/openkassa/kassa/device/cloud/server/storage"
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
// begins (Open) and once when it ends; the store keeps it in the alert log.
type Alert = storage.Alert

var alertTitles = map[string][2]string{ // kind → {begins, ends}
	AlertStopped:     {"регистрация чеков остановлена", "регистрация чеков возобновлена"},
	AlertSilent:      {"нет связи с кассой", "связь с кассой восстановлена"},
	AlertUndelivered: {"документы долго не доставлены в ОФД", "документы доставлены в ОФД"},
	AlertShift:       {"смена скоро превысит 24 часа", "смена закрыта"},
	AlertCallback:    {"магазин не принимает уведомление о документе", "магазин принял уведомление о документе"},
}

// alertTitle is what the alert's kind says, begun or ended.
func alertTitle(a Alert) string {
	t := alertTitles[a.Kind]
	if a.Open {
		return t[0]
	}
	return t[1]
}

// alertSubject names the point and what happened, so the owner reads it from the list.
func alertSubject(a Alert) string {
	if a.Open {
		return fmt.Sprintf("Касса %s: %s — %s", a.PointName, a.Title, a.Message)
	}
	return fmt.Sprintf("Касса %s: всё в порядке — %s", a.PointName, a.Title)
}

// alertText is the mail's body.
func alertText(a Alert) string {
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

func incidentKey(in storage.Incident) string {
	return in.Kind + "\x00" + in.DocumentID
}

// watch evaluates the time-driven alerts of every point, drops expired
// cabinet sessions, and takes the callbacks and alerts that no process
// holds any more (another one's that died), each AlertEvery.
func (s *Server) watch() {
	ids, err := s.store.PointIDs(s.ctx)
	if err != nil {
		s.logStoreError("cloud: listing points for alerts", err)
		return
	}
	for _, id := range ids {
		s.evaluate(id)
	}
	now := s.now()
	s.guard.sweep(now)
	if err := s.store.DropSessions(s.ctx, now); err != nil {
		s.logStoreError("cloud: dropping expired sessions", err)
	}
	s.takeCallbacks(now)
	s.takeAlerts()
}

// logStoreError logs a background failure, unless the server is closing.
func (s *Server) logStoreError(msg string, err error, args ...any) {
	if s.ctx.Err() == nil {
		s.log.Error(msg, append(args, "err", err)...)
	}
}

// evaluate compares the point's conditions with its open incidents: a new
// condition opens an incident and sends its alert, a condition gone closes it
// and sends the all-clear. The store opens and closes each incident once,
// with its alerts, so concurrent heartbeats never send one alert twice.
func (s *Server) evaluate(pointID string) {
	ctx := s.ctx
	now := s.now()
	active, err := s.conditions(pointID, now)
	if err != nil {
		s.logStoreError("cloud: evaluating alerts", err, "point", pointID)
		return
	}
	open, err := s.store.Incidents(ctx, pointID)
	if err != nil {
		s.logStoreError("cloud: evaluating alerts", err, "point", pointID)
		return
	}
	isOpen := map[string]bool{}
	for _, in := range open {
		isOpen[incidentKey(in)] = true
	}
	// The point is read only when an incident opens or closes: most
	// evaluations change nothing.
	if !incidentsChange(active, open) {
		return
	}
	pr, err := s.store.Point(ctx, pointID)
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err != nil {
		s.logStoreError("cloud: evaluating alerts", err, "point", pointID)
		return
	}
	changed := false
	for _, k := range sortedKeys(active) {
		if in := active[k]; !isOpen[k] {
			ok, err := s.store.OpenIncident(ctx, in, s.alertEntries(pr, in, true, now))
			if err != nil {
				s.logStoreError("cloud: opening an incident", err, "point", pointID, "kind", in.Kind)
				return
			}
			if ok {
				s.log.Info("cloud: alert", "point", pointID, "kind", in.Kind, "open", true, "message", in.Message)
				changed = true
			}
		}
	}
	for _, in := range open {
		if _, ok := active[incidentKey(in)]; !ok {
			ok, err := s.store.CloseIncident(ctx, in, s.alertEntries(pr, in, false, now))
			if err != nil {
				s.logStoreError("cloud: closing an incident", err, "point", pointID, "kind", in.Kind)
				return
			}
			if ok {
				s.log.Info("cloud: alert", "point", pointID, "kind", in.Kind, "open", false, "message", in.Message)
				changed = true
			}
		}
	}
	if changed {
		s.takeAlerts()
	}
}

// incidentsChange says whether evaluate has an incident to open (a
// condition with none open) or to close (an open one whose condition is gone).
func incidentsChange(active map[string]storage.Incident, open []storage.Incident) bool {
	if len(active) != len(open) {
		return true
	}
	for _, in := range open {
		if _, ok := active[incidentKey(in)]; !ok {
			return true
		}
	}
	return false
}

// alertEntries are the incident's alert for each of the point's destinations.
func (s *Server) alertEntries(pr storage.Point, in storage.Incident, isOpen bool, now time.Time) []storage.AlertEntry {
	a := Alert{PointID: pr.Point.ID, PointName: pr.Point.Name, Kind: in.Kind, Open: isOpen, Since: in.Since, At: now,
		Message: in.Message, DocumentID: in.DocumentID}
	a.Title = alertTitle(a)
	var out []storage.AlertEntry
	if pr.NotifyEmail != "" {
		out = append(out, storage.AlertEntry{Alert: a, Channel: "email", To: pr.NotifyEmail, Changed: now})
	}
	if pr.WebhookURL != "" {
		out = append(out, storage.AlertEntry{Alert: a, Channel: "webhook", To: pr.WebhookURL, Changed: now})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// conditions are the point's alert conditions holding now, by incidentKey.
func (s *Server) conditions(pointID string, now time.Time) (map[string]storage.Incident, error) {
	out := map[string]storage.Incident{}
	add := func(in storage.Incident) {
		in.PointID = pointID
		out[incidentKey(in)] = in
	}
	reg, err := s.store.PointRegister(s.ctx, pointID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	if h := reg.Health; err == nil && h != nil {
		alert := func(kind, msg string, since time.Time) {
			add(storage.Incident{Kind: kind, Message: msg, Since: since})
		}
		if h.Stopped {
			reason := h.StopReason
			if reason == "" {
				reason = "касса перестала принимать документы"
			}
			alert(AlertStopped, reason, reg.LastSeen)
		}
		if silent := now.Sub(reg.LastSeen); silent > s.cfg.AlertSilence {
			alert(AlertSilent, fmt.Sprintf("касса не выходила на связь %s, с %s", ruDuration(silent),
				reg.LastSeen.Format("02.01.2006 15:04 MST")), reg.LastSeen)
		}
		if h.WaitingForOFD > 0 && !h.OldestUnsentAt.IsZero() && now.Sub(h.OldestUnsentAt) > s.cfg.AlertUndelivered {
			alert(AlertUndelivered, fmt.Sprintf("%d док. ждут ОФД, старейший %s (предел накопителя — 30 дней)",
				h.WaitingForOFD, ruDuration(now.Sub(h.OldestUnsentAt))), h.OldestUnsentAt)
		}
		if h.ShiftOpen && !h.ShiftOpenedAt.IsZero() && now.Sub(h.ShiftOpenedAt) >= s.cfg.AlertShift {
			alert(AlertShift, fmt.Sprintf("смена № %d открыта %s; через 24 часа касса не сможет пробивать чеки",
				h.ShiftNumber, ruDuration(now.Sub(h.ShiftOpenedAt))), h.ShiftOpenedAt)
		}
	}
	refused, err := s.store.RefusedCallbacks(s.ctx, pointID, s.cfg.AlertCallbackAttempts)
	if err != nil {
		return nil, err
	}
	for _, rec := range refused {
		add(storage.Incident{Kind: AlertCallback, DocumentID: rec.ID, Since: rec.Changed,
			Message: fmt.Sprintf("документ %s: %d попыток, последняя: %s", rec.ID, rec.CallbackAttempts, rec.CallbackError)})
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

// alertHold is how long this process holds an alert destination beyond the
// retries of its current entry: if it dies, another takes the destination then.
const alertHold = time.Minute + 2*attemptTimeout

// takeAlerts starts a sender for each destination with alerts waiting in its
// outbox that no process holds.
func (s *Server) takeAlerts() {
	for s.ctx.Err() == nil {
		now := s.now()
		e, err := s.store.ClaimAlert(s.ctx, s.node, "", "", now, now.Add(s.cfg.AlertRetryFor+alertHold))
		if errors.Is(err, storage.ErrNotFound) {
			return
		}
		if err != nil {
			s.logStoreError("cloud: alert outbox", err)
			return
		}
		s.startSender(e)
	}
}

// startSender delivers the destination's alerts, from e on, in the order
// they were raised, each retried with backoff for AlertRetryFor before the
// next one goes: an owner never gets the all-clear before the alert. Every
// outcome is kept in the alert log. A destination has one sender at a time:
// the store holds it for this process while it sends.
func (s *Server) startSender(e storage.AlertEntry) {
	dest := e.Channel + "\x00" + e.To
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.senders[dest] || s.ctx.Err() != nil {
		return // already sending here: it asks for the next entry itself
	}
	s.senders[dest] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.senders, dest)
			s.mu.Unlock()
		}()
		for {
			if !s.deliverAlert(e) {
				return
			}
			now := s.now()
			next, err := s.store.ClaimAlert(s.ctx, s.node, e.Channel, e.To, now, now.Add(s.cfg.AlertRetryFor+alertHold))
			if err != nil {
				if !errors.Is(err, storage.ErrNotFound) {
					s.logStoreError("cloud: alert outbox", err)
				}
				return
			}
			e = next
		}
	}()
}

// deliverAlert sends one logged alert, retrying with backoff for
// AlertRetryFor; it reports false when the server is closing (the entry
// stays in the outbox) or the log cannot be written.
func (s *Server) deliverAlert(e storage.AlertEntry) bool {
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
			if lerr := s.store.SaveAlert(s.ctx, e); lerr != nil {
				return backoff.Permanent(lerr)
			}
		}
		return err
	}
	err := backoff.Retry(op, backoff.WithContext(b, s.ctx))
	if s.ctx.Err() != nil {
		return false
	}
	e.Done, e.Sent, e.Changed = true, err == nil, s.now()
	if err == nil {
		e.Error = ""
	} else {
		s.log.Warn("cloud: alert not sent", "point", e.Alert.PointID, "kind", e.Alert.Kind, "channel", e.Channel, "attempts", e.Attempts, "err", err)
	}
	if err := s.store.SaveAlert(s.ctx, e); err != nil {
		s.logStoreError("cloud: alert log", err)
		return false
	}
	return true
}

var errNoMailer = errors.New("no SMTP server configured")

func (s *Server) send(a Alert, channel, to string) error {
	ctx, cancel := context.WithTimeout(s.ctx, attemptTimeout)
	defer cancel()
	if channel == "email" {
		if s.cfg.Mailer == nil {
			return backoff.Permanent(errNoMailer)
		}
		return s.cfg.Mailer.Send(ctx, mail.Message{To: []string{to}, Subject: alertSubject(a), Text: alertText(a)})
	}
	body, err := json.Marshal(a)
	if err != nil {
		return backoff.Permanent(err)
	}
	return s.postJSON(ctx, "webhook", to, body)
}
