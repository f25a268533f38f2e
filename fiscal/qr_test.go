package fiscal

import (
	"testing"
	"time"
)

func TestReceiptQR(t *testing.T) {
	got := ReceiptQR(time.Date(2026, 11, 22, 9, 5, 59, 0, time.UTC), 199005, "9999078900004312", 7, 123456, IncomeReturn)
	want := "t=20261122T0905&s=1990.05&fn=9999078900004312&i=7&fp=123456&n=2"
	if got != want {
		t.Fatalf("ReceiptQR = %q, want %q", got, want)
	}
}
