package cloud

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// TestControlCharacters refuses NUL, ESC, GS … in text fields with the field's
// name (issue 22, item 10); GS stays allowed inside a marking code.
func TestControlCharacters(t *testing.T) {
	cases := []struct {
		name, field string
		edit        func(m map[string]any)
	}{
		{"NUL in an item name", "inventPositions[0].name", func(m map[string]any) { cloudtest.Pos(m, 0)["name"] = "Чай\x00ник" }},
		{"ESC in an item name", "inventPositions[1].name", func(m map[string]any) { cloudtest.Pos(m, 1)["name"] = "\x1b@Сахар" }},
		{"GS in an item name", "inventPositions[0].name", func(m map[string]any) { cloudtest.Pos(m, 0)["name"] = "Чай\x1dник" }},
		{"ESC in the measure", "inventPositions[0].measure", func(m map[string]any) { cloudtest.Pos(m, 0)["measure"] = "шт\x1b" }},
		{"ESC in a marking code", "inventPositions[0].productMark", func(m map[string]any) {
			cloudtest.Pos(m, 0)["productMark"] = "010460043993125621JgXJ5.T\x1b8005112000"
		}},
		{"NUL in the cashier", "cashierName", func(m map[string]any) { m["cashierName"] = "Иванова\x00" }},
		{"BEL in the client", "clientName", func(m map[string]any) { m["clientName"] = "ООО\x07" }},
		{"DEL in docNum", "docNum", func(m map[string]any) { m["docNum"] = "10\x7f45" }},
		{"ESC in textToPrint", "textToPrint", func(m map[string]any) { m["textToPrint"] = "Заказ\x1bd\x05" }},
		{"NUL in a supplier name", "inventPositions[0].supplierInfo.name", func(m map[string]any) {
			cloudtest.Pos(m, 0)["agentInfo"] = map[string]any{"types": []string{"commission_agent"}}
			cloudtest.Pos(m, 0)["supplierInfo"] = map[string]any{"name": "ООО\x00", "inn": "7707083893"}
		}},
		{"GS in a correction basis", "correction.baseName", func(m map[string]any) {
			m["docType"] = "SALE_CORRECTION"
			m["correction"] = map[string]any{"type": "SELF", "baseName": "акт\x1d", "baseDate": "2026-11-20", "baseNumber": "1"}
		}},
		{"id .", "id", func(m map[string]any) { m["id"] = "." }},
		{"id ..", "id", func(m map[string]any) { m["id"] = ".." }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Document
			err := json.Unmarshal(cloudtest.Doc(c.edit), &d)
			if err == nil {
				_, err = d.Receipt(testPoint)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("error %v, want field %s", err, c.field)
			}
		})
	}
	// GS in a marking code, and line breaks in the printed text, are fine.
	var d Document
	if err := json.Unmarshal(cloudtest.Doc(func(m map[string]any) {
		cloudtest.Pos(m, 0)["productMark"] = "010460043993125621JgXJ5.T\x1d8005112000\x1d930001"
		m["textToPrint"] = "Заказ 1045\nСпасибо!\r\n\tЖдём снова"
	}), &d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Receipt(testPoint); err != nil {
		t.Fatal(err)
	}
}
