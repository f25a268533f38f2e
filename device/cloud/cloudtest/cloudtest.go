// Package cloudtest holds what the cloud's tests on both ends share: the shop
// document they post (a sale with two positions and two payments, edited per
// test) and a wait for a condition.
package cloudtest

import (
	"encoding/json"
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms and fails t if it is not true within 5 s.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Doc is a valid shop document as JSON, changed by edit (a JSON-like map).
func Doc(edit func(m map[string]any)) []byte {
	m := map[string]any{
		"id":               "3769574b-d082-4fe2-8cf0-dee21f9a7e0f",
		"docNum":           "1045",
		"docType":          "SALE",
		"checkoutDateTime": "2026-11-22T12:24:00+03:00",
		"email":            "buyer@example.com",
		"printReceipt":     false,
		"cashierName":      "Иванова А.",
		"cashierInn":       "500100732259",
		"clientName":       "ООО Ромашка",
		"clientInn":        "7707083893",
		"inventPositions": []any{
			map[string]any{"name": "Чайник", "price": 1990.00, "quantity": 1, "vatTag": 1102,
				"paymentObject": "commodity", "paymentMethod": "full_payment", "measure": "шт", "description": "ignored"},
			map[string]any{"name": "Сахар", "price": 100, "quantity": 0.5, "vatTag": 1103, "discSum": 5},
		},
		"moneyPositions": []any{
			map[string]any{"paymentType": "CARD", "sum": 1990.00},
			map[string]any{"paymentType": "CASH", "sum": 45},
		},
		"unknownField": 1,
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func Pos(m map[string]any, i int) map[string]any {
	return m["inventPositions"].([]any)[i].(map[string]any)
}
