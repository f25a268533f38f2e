package server

import (
	"errors"
	"net/http"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// PointCommand is the last command the owner gave a point's register from
// the cabinet, and where it stands: one per point, a new one replaces the last.
type PointCommand = storage.Command

// ErrNoRegister: the point has no register to send a command to.
var ErrNoRegister = errors.New("cloud: no register serves the point")

// RequestCommand records the owner's command (CommandXReport or
// CommandCloseShift) for the point's register; the answer to its next
// heartbeat carries it, once. A command not yet sent is replaced.
func (s *Server) RequestCommand(pointID, kind, login string) (PointCommand, error) {
	if kind != cloud.CommandXReport && kind != cloud.CommandCloseShift {
		return PointCommand{}, errors.New("cloud: unknown command " + kind)
	}
	id, err := s.uuid()
	if err != nil {
		return PointCommand{}, err
	}
	pc := PointCommand{Command: cloud.Command{ID: id, Kind: kind}, Login: login, Asked: s.now()}
	err = s.store.PutCommand(s.ctx, pointID, pc)
	if errors.Is(err, storage.ErrNotFound) {
		return PointCommand{}, ErrNoRegister
	}
	return pc, err
}

// LastCommand returns the point's last command from the cabinet, if any.
func (s *Server) LastCommand(pointID string) (PointCommand, bool, error) {
	pc, err := s.store.Command(s.ctx, pointID)
	if errors.Is(err, storage.ErrNotFound) {
		return pc, false, nil
	}
	return pc, err == nil, err
}

// commandWords name the commands as the owner reads them.
var commandWords = map[string]string{cloud.CommandXReport: "X-отчёт", cloud.CommandCloseShift: "Закрытие смены"}

// askCommand is the cabinet's form for a command; a shift close is asked to
// be confirmed first, since it cannot be undone.
func (s *Server) askCommand(kind string) cabinetHandler {
	return func(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
		id := r.PathValue("point")
		if !c.owns(id) {
			notFound(w)
			return
		}
		if kind == cloud.CommandCloseShift && r.PostFormValue("confirm") != "yes" {
			s.confirmClose(w, r, c, id)
			return
		}
		_, err := s.RequestCommand(id, kind, c.Login)
		if errors.Is(err, ErrNoRegister) {
			s.renderRegisters(w, r, c, "К точке не привязана касса: команду некому отправить.")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		s.log.Info("cloud: command requested in the cabinet", "point", id, "command", kind, "login", c.Login)
		s.renderRegisters(w, r, c, "Команда «"+commandWords[kind]+"» уйдёт кассе в ответ на её следующий сигнал; итог появится здесь.")
	}
}

// closeData is the confirmation page of a shift close.
type closeData struct {
	Point registerView
}

func (s *Server) confirmClose(w http.ResponseWriter, r *http.Request, c *cabinetCtx, pointID string) {
	rows, err := s.registerRows(r, c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for _, row := range rows {
		if row.Point.Point.ID == pointID {
			v := c.view("Закрыть смену?", "registers")
			v.Data = closeData{Point: row}
			s.render(w, r, http.StatusOK, "close", v)
			return
		}
	}
	notFound(w)
}

// opLine is one type of receipt of the register's shift totals.
type opLine struct {
	Kind string
	cloud.OpTotals
	Out bool // money paid out: counted against the takings
}

// shiftOps lists the shift's types of receipt that have any, in order.
func shiftOps(t *cloud.ShiftTotals) []opLine {
	var out []opLine
	for _, l := range []opLine{{Kind: "SALE", OpTotals: t.Income}, {Kind: "RETURN", OpTotals: t.IncomeReturn}, {Kind: "BUY", OpTotals: t.Expense}, {Kind: "BUY_RETURN", OpTotals: t.ExpenseReturn}} {
		if l.Count > 0 {
			l.Out = kindSign[l.Kind] < 0
			out = append(out, l)
		}
	}
	return out
}

// shiftNet is the register's shift takings: money in less money out, in all
// and split by the payments' forms.
type shiftNet struct{ Net, Cash, Card, Other cloud.Money }

func shiftTakings(t *cloud.ShiftTotals) shiftNet {
	var n shiftNet
	for _, o := range []struct {
		op   cloud.OpTotals
		sign cloud.Money
	}{{t.Income, 1}, {t.IncomeReturn, -1}, {t.Expense, -1}, {t.ExpenseReturn, 1}} {
		n.Net += o.sign * o.op.Sum
		n.Cash += o.sign * o.op.Cash
		n.Card += o.sign * o.op.Electronic
		n.Other += o.sign * o.op.Other
	}
	return n
}
