package device

import (
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// printedResult is what the cloud learns of a fiscalized document.
func (r *Runtime) printedResult(id string, sign fiscal.CalcSign, correction bool, total int64, s fn.Signed) cloud.Result {
	return cloud.Result{
		ID:     id,
		Status: cloud.Printed,
		FiscalInfo: &cloud.FiscalInfo{
			ShiftNumber:           int(s.Shift),
			CheckNumber:           int(s.Number),
			KKTNumber:             r.cfg.Serial,
			FNNumber:              r.driveNumber(),
			FNDocNumber:           int(s.FD),
			FNDocMark:             int64(s.FPD),
			Date:                  r.wallToLocal(s.Time),
			Sum:                   cloud.Money(total),
			CheckType:             checkType(sign, correction),
			QR:                    fiscal.ReceiptQR(s.Time, total, r.driveNumber(), s.FD, s.FPD, sign),
			ECRRegistrationNumber: strings.TrimSpace(r.pt().RegNumber),
		},
		Message: "Document fiscalized",
	}
}

// wallToLocal turns a drive time (the wall clock written as UTC) back into the
// register's own zone.
func (r *Runtime) wallToLocal(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, r.cfg.Location)
}

// checkType names a receipt for fiscalInfo.checkType, as the vendor's API does.
func checkType(sign fiscal.CalcSign, correction bool) string {
	names := map[fiscal.CalcSign]string{
		fiscal.Income: "SALE", fiscal.IncomeReturn: "RETURN",
		fiscal.Expense: "PURCHASE", fiscal.ExpenseReturn: "RETURN_PURCHASE",
	}
	n := names[sign]
	if correction {
		n += "_CORRECTION"
	}
	return n
}
