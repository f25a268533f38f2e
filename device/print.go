package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/store"
)

// Printer is what the runtime needs of the receipt printer.
type Printer interface {
	Status(ctx context.Context) (printer.Status, error)
	Print(ctx context.Context, job []byte) error
}

// errWaitPrinter says a document that must be printed waits: the printer cannot
// print now, and a receipt is not signed that cannot be handed over.
var errWaitPrinter = errors.New("device: waiting for the printer")

// printerReady checks the printer before signing a document that must be printed.
func (r *Runtime) printerReady(ctx context.Context) error {
	status, err := r.printerStatus(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", errWaitPrinter, err)
	}
	if !status.Ready() {
		return fmt.Errorf("%w: %s", errWaitPrinter, status)
	}
	return nil
}

// printerStatus asks the printer and remembers the answer for health.
func (r *Runtime) printerStatus(ctx context.Context) (printer.Status, error) {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	status, err := r.printer.Status(sctx)
	status.PaperOut, status.CoverOpen = r.sensors(status.PaperOut, status.CoverOpen)
	r.healthMu.Lock()
	r.printerSt, r.printerErr = status, err
	r.healthMu.Unlock()
	return status, err
}

// printerHealth is the printer's part of health, from its last status.
func (r *Runtime) printerHealth() cloud.PrinterHealth {
	if r.printer == nil {
		return cloud.PrinterHealth{State: "none"}
	}
	r.healthMu.Lock()
	status, err := r.printerSt, r.printerErr
	r.healthMu.Unlock()
	h := cloud.PrinterHealth{State: "ready", Paper: "ok", CoverOpen: status.CoverOpen}
	switch {
	case err != nil:
		h.State = "unreachable: " + err.Error()
	case !status.Ready():
		h.State = status.String()
	}
	switch {
	case status.PaperOut:
		h.Paper = "out"
	case status.PaperNearEnd:
		h.Paper = "near end"
	}
	return h
}

// wantsPrint says whether a shop document asks for a printed receipt that this
// register can print.
func (r *Runtime) wantsPrint(body json.RawMessage) bool {
	var d struct {
		PrintReceipt bool `json:"printReceipt"`
	}
	return r.printer != nil && json.Unmarshal(body, &d) == nil && d.PrintReceipt
}

// printLoop prints the durable print queue in document order whenever the
// printer can take it; what fails stays queued for the next try or the next start.
func (r *Runtime) printLoop(ctx context.Context) {
	if r.printer == nil {
		return
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		r.printQueued(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.printWake:
		case <-tick.C:
		}
	}
}

func (r *Runtime) printQueued(ctx context.Context) {
	queue, err := r.store.Prints()
	if err != nil || len(queue) == 0 {
		if err == nil {
			r.printerStatus(ctx) // keep health current while idle
		}
		return
	}
	for _, p := range queue {
		if r.printerReady(ctx) != nil {
			return
		}
		if err := r.printDocument(ctx, p); err != nil {
			r.log.Warn("print failed; it stays queued", "fd", p.FD, "err", err)
			return
		}
		if err := r.store.Printed(p); err != nil {
			r.log.Error("print queue", "err", err)
			return
		}
	}
}

// printDocument prints a signed document as the drive holds it: what is printed
// is exactly what was signed.
func (r *Runtime) printDocument(ctx context.Context, p store.Print) error {
	a, err := r.drive.Document(ctx, p.FD)
	if err != nil {
		return err
	}
	doc, err := fiscal.Decode(a.TLV)
	if err != nil {
		return err
	}
	extra := printer.Extra{OFDName: r.cfg.OFDName, OFDSite: r.cfg.OFDSite, Copy: p.Copy}
	if d := r.docByFD(p.FD); d != nil {
		var shop cloud.Document
		if json.Unmarshal(d.Body, &shop) == nil {
			extra.TextToPrint, extra.CashierPosition = shop.TextToPrint, shop.CashierPosition
		}
	}
	page, err := printer.Layout(doc, a.FPD, extra, r.cfg.PrinterProfile)
	if err != nil {
		return err
	}
	return r.printPage(ctx, page)
}

func (r *Runtime) printPage(ctx context.Context, page *printer.Page) error {
	job, err := page.ESCPOS(r.cfg.PrinterProfile)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return r.printer.Print(pctx, job)
}

// docByFD finds the shop document a receipt was signed for, if the store still holds it.
func (r *Runtime) docByFD(fd uint32) *store.Doc {
	docs, err := r.store.Docs(func(d *store.Doc) bool { return d.Fiscal != nil && d.Fiscal.FD == fd })
	if err != nil || len(docs) == 0 {
		return nil
	}
	return docs[0]
}

// printXReport prints the X report from the ledger: no fiscal document is made.
func (r *Runtime) printXReport(ctx context.Context, ledger store.Ledger) error {
	if err := r.printerReady(ctx); err != nil {
		return err
	}
	driveState, err := r.drive.State(ctx)
	if err != nil {
		return err
	}
	t := ledger.ShiftTotals
	total := func(i int) printer.Totals { return printer.Totals{Count: t.Count[i], Sum: t.Sum[i]} }
	var receipts uint32
	var cash, electronic int64
	for i := range t.Count {
		receipts += t.Count[i]
		cash += t.Cash[i]
		electronic += t.Electronic[i]
	}
	page := printer.XReport(printer.XReportData{
		Seller: r.pt().Name, INN: r.pt().INN, RegNumber: driveState.RegNumber, DriveNumber: driveState.DriveNumber,
		Time: r.now(), Shift: ledger.Shift, ShiftOpen: ledger.ShiftOpen, Opened: r.wallToLocal(ledger.OpenedAt),
		Receipts: receipts, Income: total(0), IncomeRet: total(1), Expense: total(2), ExpenseRet: total(3),
		Cash: cash, Electronic: electronic, Unsent: driveState.Unsent, UnsentSince: r.wallToLocal(driveState.FirstUnsentTime),
	}, r.cfg.PrinterProfile)
	return r.printPage(ctx, page)
}

// printSelfTest prints the self-test page with the checks' results.
func (r *Runtime) printSelfTest(ctx context.Context, results string) error {
	if err := r.printerReady(ctx); err != nil {
		return err
	}
	page := printer.SelfTest(printer.SelfTestData{Version: r.cfg.Version, Time: r.now(),
		Info: strings.Split(strings.TrimSpace(results), "\n")}, r.cfg.PrinterProfile)
	return r.printPage(ctx, page)
}

// printReport queues a shift report for the printer, when there is one.
func (r *Runtime) printReport(fd uint32) {
	if r.printer == nil {
		return
	}
	if err := r.store.QueuePrint(store.Print{FD: fd}); err != nil {
		r.log.Error("print queue", "err", err)
	}
	r.wakePrinter()
}

// Reprint queues a copy of a signed document.
func (r *Runtime) Reprint(fd uint32) error {
	if r.printer == nil {
		return errors.New("device: no printer")
	}
	if err := r.store.QueuePrint(store.Print{FD: fd, Copy: true}); err != nil {
		return err
	}
	r.wakePrinter()
	return nil
}

func (r *Runtime) wakePrinter() {
	select {
	case r.printWake <- struct{}{}:
	default:
	}
}
