package server

import (
	"net/http"
	"testing"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// TestAcceptVAT22WithoutDate: a document without checkoutDateTime, posted on
// the cloud's 2026 clock with vatTag 1102 and its VAT at 22 %, is accepted.
func TestAcceptVAT22WithoutDate(t *testing.T) {
	f := newFixture(t, Config{})
	body := cloudtest.Doc(func(m map[string]any) {
		delete(m, "checkoutDateTime")
		cloudtest.Pos(m, 0)["vatSum"] = 358.85 // 1990.00 × 22/122
	})
	if code, data := f.shop("POST", "/api/fn/v2/doc", body); code != http.StatusOK {
		t.Fatalf("HTTP %d %s", code, data)
	}
}
