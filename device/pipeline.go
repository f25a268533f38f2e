package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// Accept takes leased documents into the store, which deduplicates by id, so a
// lease the cloud repeats never makes a second receipt. It implements cloud.Register.
// The store commits them before the pipeline signs any, usually together with
// the outcomes of the documents before them; until then a crash loses nothing the
// cloud does not hand back to the restarted register.
//
// A document the shop re-queued after it failed is fiscalized again. Accepting
// signs nothing, so a lease that arrives just as the register stops is kept, not
// lost; it waits in the store until `kassa resume`.
func (r *Runtime) Accept(ctx context.Context, leases []cloud.Lease) error {
	docs := make([]store.NewDoc, len(leases))
	for i, l := range leases {
		docs[i] = store.NewDoc{ID: l.ID, Body: l.Document}
		if !l.Requeued {
			continue
		}
		if d, err := r.store.Get(l.ID); err == nil && d.State == store.Failed {
			if err := r.store.Requeue(l.ID); err != nil {
				return err
			}
			r.event("requeue", "document %q re-queued by the shop: fiscalizing it again", l.ID)
		}
	}
	r.store.Accept(docs, r.now())
	r.Wake()
	return nil
}

// Taking implements cloud.Register: a stopped register takes no new documents
// (in remote-fiscalization mode it never stops).
func (r *Runtime) Taking() bool {
	halt, err := r.store.Stop()
	return err == nil && (!halt.Stopped || r.remote())
}

// Unreported implements cloud.Register: results committed but not yet confirmed.
func (r *Runtime) Unreported(ctx context.Context) ([]cloud.Result, error) {
	docs, err := r.store.Unreported(64)
	if err != nil {
		return nil, err
	}
	out := make([]cloud.Result, 0, len(docs))
	for _, d := range docs {
		var res cloud.Result
		if err := json.Unmarshal(d.Result, &res); err != nil {
			return nil, fmt.Errorf("device: result of %q: %w", d.ID, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// Reported implements cloud.Register.
func (r *Runtime) Reported(ctx context.Context, ids []string) error {
	return r.store.Reported(ids, r.now())
}

// processLocked takes one accepted document to fiscalized or failed, pending
// in the run's settlement. Callers hold opMu.
func (r *Runtime) processLocked(ctx context.Context, d *store.Doc) error {
	if r.needReconcile {
		// After a drive fault the drive may have signed what it then failed to
		// answer: read it back before signing anything again.
		if err := r.reconcileLocked(ctx); err != nil {
			r.setDriveErr(err)
			return err
		}
		r.needReconcile = false
		if cur, err := r.store.Get(d.ID); err != nil || cur.State != store.Accepted {
			return err // reconciled: the drive had signed it
		}
	}

	var doc cloud.Document
	// Its own decoder, without encoding/json's pass over the whole body first:
	// decoding the shop's JSON is the register's largest cost per receipt.
	if err := doc.UnmarshalJSON(d.Body); err != nil {
		return r.refuse(d, cloud.FailureNonFN, fmt.Sprintf("the document does not parse: %v", err))
	}
	rc, err := doc.ReceiptAt(r.pt(), r.now()) // the standard VAT rate follows the date
	if err != nil {
		return r.refuse(d, cloud.FailureNonFN, err.Error())
	}
	toPrint := doc.PrintReceipt && r.printer != nil
	if toPrint {
		if err := r.printerReady(ctx); err != nil {
			return err
		}
	}
	ledger, err := r.ledgerLocked()
	if err != nil {
		return err
	}
	if cashOut := outgoingCash(rc); cashOut > ledger.CashBalance {
		return r.refuse(d, cloud.FailureNonFN, fmt.Sprintf(
			"moneyPositions: a cash refund of %s exceeds the drawer's balance of %s", rub(cashOut), rub(ledger.CashBalance)))
	}
	tlv, err := rc.AppendTLV(nil)
	if err != nil {
		return r.refuse(d, cloud.FailureNonFN, err.Error())
	}
	signed, err := r.signReceipt(ctx, rc, tlv)
	if err != nil {
		return r.driveFailed(ctx, d, err)
	}
	// Signing may have opened or closed a shift, which commits what was pending.
	ledger, err = r.ledgerLocked()
	if err != nil {
		return err
	}
	applyReceipt(&ledger, rc.Sign, rc.Correction != nil, rc.Total(), rc.Payments)
	ledger.LastFD = signed.FD
	res := r.printedResult(d.ID, rc.Sign, rc.Correction != nil, rc.Total(), signed)
	batch := r.settlement()
	batch.Fiscalized(d.ID, fiscalOf(signed), mustJSON(res), toPrint)
	batch.Ledger = &ledger
	// Logged, not kept in the event log: the store holds the receipt, and a
	// commit of its own per receipt would cost a disk sync on the hot path.
	r.log.Info("receipt signed", "fd", signed.FD, "id", d.ID, "total", rub(rc.Total()), "fpd", fmt.Sprintf("%010d", signed.FPD))
	r.registrationSucceeded()
	if r.ofd != nil {
		r.ofd.Notify()
	}
	return nil
}

// signReceipt has the drive sign a receipt, opening (or renewing) the shift first.
func (r *Runtime) signReceipt(ctx context.Context, rc *fiscal.Receipt, tlv []byte) (fn.Signed, error) {
	if err := r.ensureShift(ctx); err != nil {
		return fn.Signed{}, err
	}
	doc := func() fn.ReceiptDoc {
		return fn.ReceiptDoc{Time: r.now(), Correction: rc.Correction != nil, Sign: rc.Sign, Total: uint64(rc.Total()), TLV: tlv}
	}
	s, err := r.drive.Receipt(ctx, doc())
	switch {
	case errors.Is(err, fn.ErrShiftExpired):
		// The drive's 24 hours ran out before our own limit did (a clock step, a
		// long outage): close the shift, open the next, and sign there.
		if _, err := r.closeShiftLocked(ctx); err != nil {
			return s, err
		}
		fallthrough
	case errors.Is(err, fn.ErrShiftClosed):
		// The ledger thought a shift was open that the drive has not (a drive
		// closed by other means): open one and sign there.
		if _, err := r.openShiftLocked(ctx); err != nil {
			return s, err
		}
		s, err = r.drive.Receipt(ctx, doc())
	}
	return s, err
}

// refuse fails a document that never reached the drive and counts it against the stop policy.
func (r *Runtime) refuse(d *store.Doc, kind, msg string) error {
	res := cloud.Result{ID: d.ID, Status: cloud.Failed, FailureInfo: &cloud.FailureInfo{Type: kind, Message: msg}, Message: msg}
	r.settlement().Failed(d.ID, msg, mustJSON(res))
	r.event("failed", "document %q not fiscalized: %s", d.ID, msg)
	r.registrationFailed(msg)
	return nil
}

// driveFailed handles a drive error on a document: a fault stops the register at
// once and leaves the document accepted (recovery reconciles it on resume, since the
// drive may have signed before failing); a refusal fails the document.
//
// Remote-fiscalization mode does not stop: a drive whose archive is full or whose
// key has expired refuses every document for good, so each one fails with that
// reason and the shop can send it to another register; after any other fault the
// document waits for the pipeline's next pass.
func (r *Runtime) driveFailed(ctx context.Context, d *store.Doc, err error) error {
	if errors.Is(err, fn.ErrOFDBacklog) {
		r.stop(stopOFD, "the OFD has not acknowledged a document for 30 days, so the drive takes no new ones; "+
			"check the OFD connection (the stop lifts itself once the OFD catches up)")
		return nil
	}
	kind := cloud.FailureFNGeneric
	switch {
	case errors.Is(err, fn.ErrMemoryFull):
		kind = cloud.FailureFNMemoryOverflow
	case errors.Is(err, fn.ErrKeyExpired), errors.Is(err, fn.ErrDriveClosed):
		kind = cloud.FailureFNExpired
	}
	refusal := fmt.Sprintf("the drive refused the receipt: %v", err)
	if !fn.IsFault(err) {
		return r.refuse(d, kind, refusal)
	}
	r.needReconcile = true
	r.setDriveErr(err)
	if !r.remote() {
		r.stop(stopDrive, fmt.Sprintf("drive error: %v", err))
		return nil
	}
	if kind != cloud.FailureFNGeneric {
		return r.refuse(d, kind, refusal)
	}
	r.log.Error("drive error (remote-fiscalization mode: not stopping)", "err", err)
	return fmt.Errorf("device: drive error: %w", err)
}

// outgoingCash is the cash a receipt takes out of the drawer: the cash of a refund
// of a sale or of a purchase.
func outgoingCash(rc *fiscal.Receipt) int64 {
	if rc.Sign == fiscal.IncomeReturn || rc.Sign == fiscal.Expense {
		return rc.Payments.Cash
	}
	return 0
}

// applyReceipt adds a receipt to the ledger: the shift's and cumulative counters,
// and the drawer's cash (in for приход and возврат расхода, out for the others).
func applyReceipt(l *store.Ledger, sign fiscal.CalcSign, correction bool, total int64, p fiscal.Payments) {
	i := int(sign) - 1
	if i < 0 || i > 3 {
		return
	}
	for _, t := range []*store.Totals{&l.ShiftTotals, &l.Cumulative} {
		t.Count[i]++
		t.Sum[i] += total
		t.Cash[i] += p.Cash
		t.Electronic[i] += p.Electronic
		t.Prepaid[i] += p.Prepaid
		t.Credit[i] += p.Credit
		t.Other[i] += p.Other
		if correction {
			t.Corrections[i]++
		}
	}
	if sign == fiscal.Income || sign == fiscal.ExpenseReturn {
		l.CashBalance += p.Cash
	} else {
		l.CashBalance -= p.Cash
	}
}

func fiscalOf(s fn.Signed) store.Fiscal {
	return store.Fiscal{FD: s.FD, FPD: s.FPD, Shift: s.Shift, Number: s.Number, Time: s.Time}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own wire types come here
	}
	return b
}

// rub formats kopecks as roubles for messages.
func rub(k int64) string {
	sign := ""
	if k < 0 {
		sign, k = "-", -k
	}
	return fmt.Sprintf("%s%d.%02d", sign, k/100, k%100)
}
