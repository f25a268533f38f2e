package server

import (
	"strings"
	"testing"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"golang.org/x/crypto/bcrypt"
)

// TestCabinetDocumentRates shows each position's VAT rate on the cabinet's
// document page, at the rate of the receipt's date (23.11.2026): vatTag 1102
// is 22 % there, 1109 5 %, 1103 10 %.
func TestCabinetDocumentRates(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	o := f.owner()
	o.mustLogin()
	f.post(cloudtest.Doc(func(m map[string]any) {
		m["id"] = "rates"
		m["taxMode"] = "SIMPLIFIED"
		m["checkoutDateTime"] = "2025-12-31T23:00:00+03:00" // the receipt's own date wins
		m["inventPositions"] = append(m["inventPositions"].([]any),
			map[string]any{"name": "Хлеб", "price": 105, "quantity": 1, "vatTag": 1109})
		m["moneyPositions"] = []any{map[string]any{"paymentType": "CARD", "sum": 2140}}
	}))
	f.fiscalize("rates", 11, 214000)
	code, body := o.get("/cabinet/documents/" + f.sb.RetailPointID + "/rates")
	for _, want := range []string{"НДС 22%", "НДС 10%", "НДС 5%"} {
		if !strings.Contains(body, want) {
			t.Errorf("document page (HTTP %d) lacks %q", code, want)
		}
	}
	if strings.Contains(body, "НДС 20%") {
		t.Errorf("document page shows 20 %% for a receipt of 2026")
	}
}
