package fiscal

import (
	"fmt"
	"strings"
	"time"
)

// ReceiptQR is the text of a receipt's QR code (FFD105.md, "Receipt"): the
// document's wall-clock time to the minute, the total with a dot and two
// decimals, the drive's number, the FD number, the printed ФПД and the
// calculation sign, numbers without leading zeros — what a buyer's app sends
// to the tax service to check the receipt.
func ReceiptQR(wall time.Time, total int64, driveNumber string, fd, fpd uint32, sign CalcSign) string {
	return fmt.Sprintf("t=%s&s=%d.%02d&fn=%s&i=%d&fp=%d&n=%d",
		wall.Format("20060102T1504"), total/100, total%100, strings.TrimSpace(driveNumber), fd, fpd, sign)
}
