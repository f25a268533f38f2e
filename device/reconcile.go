package device

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// reconcile brings the store up to the drive, which is the source of truth: every
// document the drive signed after the ledger's last one is read back from its
// archive and accounted for. A receipt signed just before a crash is matched to its
// accepted shop document by the shop id it carries (1084), so it is marked
// fiscalized rather than signed a second time.
func (r *Runtime) reconcile(ctx context.Context) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	return r.reconcileLocked(ctx)
}

func (r *Runtime) reconcileLocked(ctx context.Context) error {
	if err := r.settleLocked(ctx); err != nil {
		return err
	}
	// What the store takes from the drive's archive must be durable there first.
	if err := r.drive.Sync(ctx); err != nil {
		return err
	}
	driveState, err := r.drive.State(ctx)
	if err != nil {
		return err
	}
	if driveState.Phase != fn.PhaseFiscal {
		return fmt.Errorf("device: the drive is %s, not in fiscal mode", driveState.Phase)
	}
	r.healthMu.Lock()
	r.driveNum = driveState.DriveNumber
	r.healthMu.Unlock()
	// The registration number lives in the drive; receipts carry the drive's.
	p := r.pt()
	p.RegNumber = driveState.RegNumber
	r.point.Store(&p)
	ledger, err := r.store.Ledger()
	if err != nil {
		return err
	}
	if ledger.LastFD > driveState.LastFD {
		return fmt.Errorf("device: the store has accounted for FD %d but the drive's last document is FD %d: a different drive?", ledger.LastFD, driveState.LastFD)
	}
	for fd := ledger.LastFD + 1; fd <= driveState.LastFD; fd++ {
		a, err := r.drive.Document(ctx, fd)
		if err != nil {
			return fmt.Errorf("device: read FD %d: %w", fd, err)
		}
		if err := r.applyArchived(&ledger, a); err != nil {
			return fmt.Errorf("device: FD %d: %w", fd, err)
		}
	}
	if ledger.ShiftOpen != driveState.ShiftOpen {
		// Only a store that never saw the shift open lands here.
		ledger.ShiftOpen, ledger.Shift = driveState.ShiftOpen, driveState.Shift
		if err := r.store.SetLedger(ledger); err != nil {
			return err
		}
	}
	return nil
}

// applyArchived accounts for one document read back from the drive.
func (r *Runtime) applyArchived(ledger *store.Ledger, a fn.Archived) error {
	els, err := topElements(a.TLV)
	if err != nil {
		return err
	}
	ledger.LastFD = a.FD
	switch a.Type {
	case fiscal.DocShiftOpen:
		r.startShift(ledger, uint32(els.uint(1038)), a.Time)
		r.event("recovery", "FD %d: shift %d open, found in the drive", a.FD, els.uint(1038))
	case fiscal.DocShiftClose:
		ledger.ShiftOpen = false
		r.event("recovery", "FD %d: shift %d close, found in the drive", a.FD, els.uint(1038))
	case fiscal.DocReceipt, fiscal.DocCorrection:
		sign := fiscal.CalcSign(els.uint(1054))
		total := int64(els.uint(1020))
		pay := fiscal.Payments{
			Cash: int64(els.uint(1031)), Electronic: int64(els.uint(1081)), Prepaid: int64(els.uint(1215)),
			Credit: int64(els.uint(1216)), Other: int64(els.uint(1217)),
		}
		applyReceipt(ledger, sign, a.Type == fiscal.DocCorrection, total, pay)
		id := els.shopID
		d, err := r.store.Get(id)
		s := fn.Signed{FD: a.FD, FPD: a.FPD, Time: a.Time, Shift: uint32(els.uint(1038)), Number: uint32(els.uint(1042))}
		if err == nil && d.State == store.Accepted {
			res := r.printedResult(id, sign, a.Type == fiscal.DocCorrection, total, s)
			r.event("recovery", "FD %d: receipt for %q was signed before the crash; taken from the drive", a.FD, id)
			return r.store.Fiscalize(id, fiscalOf(s), mustJSON(res), ledger, r.wantsPrint(d.Body))
		}
		if errors.Is(err, store.ErrNotFound) && id != "" {
			// Only a store rebuilt from the drive (docs/recovery.md) lacks the
			// shop document of a receipt the drive signed after the ledger's
			// last: take it as signed, so its result goes to the cloud and a
			// lease of it again is answered with this receipt, not a second one.
			r.store.Accept([]store.NewDoc{{ID: id, Body: json.RawMessage(`{}`)}}, a.Time)
			res := r.printedResult(id, sign, a.Type == fiscal.DocCorrection, total, s)
			r.event("recovery", "FD %d: receipt for %q rebuilt from the drive's archive", a.FD, id)
			return r.store.Fiscalize(id, fiscalOf(s), mustJSON(res), ledger, false)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.event("recovery", "FD %d: a receipt for %q that the store does not hold as accepted; counted", a.FD, id)
	}
	return r.store.SetLedger(*ledger)
}

// archivedFields are a signed document's top-level values, read raw.
type archivedFields struct {
	vals   map[fiscal.Tag][]byte
	shopID string
}

func (f archivedFields) uint(t fiscal.Tag) uint64 {
	v := f.vals[t]
	if len(v) == 0 || len(v) > 8 {
		return 0
	}
	var b [8]byte
	copy(b[:], v)
	return binary.LittleEndian.Uint64(b[:])
}

func topElements(doc []byte) (archivedFields, error) {
	f := archivedFields{vals: map[fiscal.Tag][]byte{}}
	outer, _, err := fiscal.NextElement(doc, 0)
	if err != nil {
		return f, err
	}
	els, err := fiscal.SplitElements(outer.Value)
	if err != nil {
		return f, err
	}
	for _, e := range els {
		f.vals[e.Tag] = e.Value
		if e.Tag != 1084 {
			continue
		}
		inner, err := fiscal.SplitElements(e.Value)
		if err != nil {
			return f, err
		}
		var name, value string
		for _, x := range inner {
			switch x.Tag {
			case 1085:
				name = fiscal.DecodeString(x.Value)
			case 1086:
				value = fiscal.DecodeString(x.Value)
			}
		}
		if name == "id" {
			f.shopID = value
		}
	}
	return f, nil
}

// ReceiptOf is the shop's document id (1084 named "id") and the total (1020)
// of a signed receipt.
func ReceiptOf(doc []byte) (id string, total uint64, err error) {
	f, err := topElements(doc)
	return f.shopID, f.uint(1020), err
}
