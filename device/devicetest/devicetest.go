// Package devicetest holds what the register's tests share: a shop's sale,
// posting it and reading its status over the shop API, and a wait.
package devicetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// Sale is a shop document: one position per sum (roubles), paid by payment type.
func Sale(id, docType, payment string, sums ...float64) map[string]any {
	var pos []map[string]any
	total := 0.0
	for i, s := range sums {
		pos = append(pos, map[string]any{"name": fmt.Sprintf("Товар %d", i+1), "price": s, "quantity": 1, "vatTag": 1105})
		total += s
	}
	return map[string]any{
		"id": id, "docType": docType, "checkoutDateTime": "2026-11-23T09:00:00+03:00", "email": "buyer@example.com",
		"inventPositions": pos, "moneyPositions": []map[string]any{{"paymentType": payment, "sum": total}},
	}
}

// PostDoc posts a shop document with a point's pair and returns the HTTP status.
func PostDoc(t testing.TB, base, login, password string, doc map[string]any) int {
	t.Helper()
	b, _ := json.Marshal(doc)
	req, _ := http.NewRequest("POST", base+"/api/fn/v2/doc", bytes.NewReader(b))
	req.SetBasicAuth(login, password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Logf("POST %s: %d %s", doc["id"], resp.StatusCode, body)
	}
	return resp.StatusCode
}

// DocStatus reads a document's status over the shop API.
func DocStatus(t testing.TB, base, login, password, id string) cloud.DocumentStatus {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/fn/v1/doc/"+id+"/status", nil)
	req.SetBasicAuth(login, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st cloud.DocumentStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	return st
}

// WaitFor polls ok every 20 ms and fails t, naming what, if it is not true within timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
