package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// registerView is one row of the registers page.
type registerView struct {
	Point    storage.Point
	Zone     *time.Location // the point's
	Status   cloud.PointStatus
	Since    time.Time // of Status
	Bound    bool
	Reg      storage.Register
	ShiftAge time.Duration
	// OldestAge is the age of the oldest document waiting for the OFD.
	OldestAge time.Duration
	DriveLeft time.Duration // until the drive's validity ends
	Command   *PointCommand // the last command from the cabinet
}

func (s *Server) registersPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	s.renderRegisters(w, r, c, "")
}

func (s *Server) renderRegisters(w http.ResponseWriter, r *http.Request, c *cabinetCtx, flash string) {
	rows, err := s.registerRows(r, c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := c.view("Кассы", "registers")
	v.Flash = flash
	v.Data = rows
	s.render(w, r, http.StatusOK, "registers", v)
}

// registerRows is the registers page's rows: the account's points in order.
func (s *Server) registerRows(r *http.Request, c *cabinetCtx) ([]registerView, error) {
	pts, err := s.points(r, c)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var rows []registerView
	for _, pr := range pts {
		row := registerView{Point: pr, Zone: pointZone(pr.Point)}
		st, err := s.registerStatus(r.Context(), pr.Point.ID)
		if err != nil {
			return nil, err
		}
		row.Status, row.Since = st, st.DateTime
		row.Reg, err = s.store.PointRegister(r.Context(), pr.Point.ID)
		switch {
		case err == nil:
			row.Bound = true
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		if h := row.Reg.Health; h != nil {
			if st.Status != cloud.RegFailed || h.Stopped {
				row.Since = row.Reg.Since
			}
			if h.ShiftOpen && !h.ShiftOpenedAt.IsZero() {
				row.ShiftAge = now.Sub(h.ShiftOpenedAt)
			}
			if h.WaitingForOFD > 0 && !h.OldestUnsentAt.IsZero() {
				row.OldestAge = now.Sub(h.OldestUnsentAt)
			}
			if !h.Drive.ValidUntil.IsZero() {
				row.DriveLeft = h.Drive.ValidUntil.Sub(now)
			}
		}
		pc, err := s.store.Command(r.Context(), pr.Point.ID)
		switch {
		case err == nil:
			row.Command = &pc
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// resume asks the point's stopped register to take documents again; the
// answer to its next heartbeat carries the request.
func (s *Server) resume(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	id := r.PathValue("point")
	if !c.owns(id) {
		notFound(w)
		return
	}
	stopped, err := s.store.AskResume(r.Context(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	flash := "Касса не остановлена: возобновлять нечего."
	if stopped {
		s.log.Info("cloud: resume requested in the cabinet", "point", id, "login", c.Login)
		flash = "Команда «возобновить» уйдёт кассе в ответ на её следующий сигнал."
	}
	s.renderRegisters(w, r, c, flash)
}
