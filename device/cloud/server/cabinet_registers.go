package server

import (
	"net/http"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	bolt "go.etcd.io/bbolt"
)

// registerView is one row of the registers page.
type registerView struct {
	Point    pointRecord
	Zone     *time.Location // the point's
	Status   cloud.PointStatus
	Since    time.Time // of Status
	Bound    bool
	Reg      registerRecord
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
	rows, err := s.registerRows(c)
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
func (s *Server) registerRows(c *cabinetCtx) ([]registerView, error) {
	pts, err := s.points(c)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var rows []registerView
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, pr := range pts {
			row := registerView{Point: pr, Zone: pointZone(pr.Point)}
			st, err := s.registerStatus(tx, pr.Point.ID)
			if err != nil {
				return err
			}
			row.Status, row.Since = st, st.DateTime
			if tk := tx.Bucket(bucketPointReg).Get([]byte(pr.Point.ID)); tk != nil {
				row.Bound = true
				if _, err := s.getRegister(tx, tk, &row.Reg); err != nil {
					return err
				}
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
			var pc PointCommand
			found, err := getJSON(tx.Bucket(bucketMeta), commandKey(pr.Point.ID), &pc)
			if err != nil {
				return err
			}
			if found {
				row.Command = &pc
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

// resume asks the point's stopped register to take documents again; the
// answer to its next heartbeat carries the request.
func (s *Server) resume(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	id := r.PathValue("point")
	if !c.owns(id) {
		notFound(w)
		return
	}
	var stopped bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		tk := tx.Bucket(bucketPointReg).Get([]byte(id))
		if tk == nil {
			return nil
		}
		var reg registerRecord
		if _, err := s.getRegister(tx, tk, &reg); err != nil {
			return err
		}
		stopped = reg.Health != nil && reg.Health.Stopped
		if !stopped {
			return nil
		}
		reg.Resume = true
		return putJSON(tx.Bucket(bucketRegisters), tk, reg)
	})
	if err != nil {
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
