package printer_test

import (
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
)

// TestVATRates2026 prints a receipt with an item at each rate added since 2025
// and checks the item and total lines FFD105.md gives ("VAT since 2025–2026");
// the sums are worked out by hand (sum × rate / (100 + rate)).
func TestVATRates2026(t *testing.T) {
	r := simpleReceipt(t, fiscal.Income)
	r.TaxSystem = fiscal.TaxGeneral
	r.Items = []fiscal.Item{
		item("Чайник", 199000, one(), fiscal.VAT22),  // 358.85
		item("Аванс", 12200, one(), fiscal.VAT22122), // 22.00
		item("Хлеб", 10500, one(), fiscal.VAT5),      // 5.00
		item("Молоко", 10700, one(), fiscal.VAT7),    // 7.00
		item("Сыр", 21000, one(), fiscal.VAT5105),    // 10.00
		item("Масло", 21400, one(), fiscal.VAT7107),  // 14.00
		item("Вода", 10000, one(), fiscal.VAT20),     // 16.67
	}
	r.Payments = fiscal.Payments{Electronic: r.Total()}
	d := receiptDoc(t, r, 130)
	pg, err := printer.Layout(d.doc, d.fpd, extra, profile(t, "emu-80"))
	if err != nil {
		t.Fatal(err)
	}
	text := pg.Text()
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{
		"НДС 22% =358.85", "НДС 22/122 =22.00", "НДС 5% =5.00", "НДС 7% =7.00", "НДС 5/105 =10.00",
		"НДС 7/107 =14.00", "НДС 20% =16.67",
		"СУММА НДС 20% =16.67", "СУММА НДС 22% =358.85", "СУММА НДС 22/122 =22.00", "СУММА НДС 5% =5.00",
		"СУММА НДС 7% =7.00", "СУММА НДС 5/105 =10.00", "СУММА НДС 7/107 =14.00",
	} {
		if !lines[want] {
			t.Errorf("no line %q in\n%s", want, text)
		}
	}
	if strings.Contains(text, "НДС 0%") {
		t.Errorf("a receipt without 0%% items prints a 0%% line:\n%s", text)
	}
}

// TestVAT22Only prints a receipt whose VAT sums are all in 1115: the 1104 = 0
// written beside them is not printed.
func TestVAT22Only(t *testing.T) {
	r := simpleReceipt(t, fiscal.Income)
	r.Items = []fiscal.Item{item("Чайник", 199000, one(), fiscal.VAT22)}
	r.Payments = fiscal.Payments{Electronic: r.Total()}
	d := receiptDoc(t, r, 131)
	if v, ok := d.doc.Money(fiscal.TagVAT0); !ok || v != 0 {
		t.Fatalf("1104 = %d, %v; want 0 beside 1115", v, ok)
	}
	pg, err := printer.Layout(d.doc, d.fpd, extra, profile(t, "emu-58"))
	if err != nil {
		t.Fatal(err)
	}
	text := pg.Text()
	if strings.Contains(text, "0%") || !strings.Contains(text, "СУММА НДС 22%") {
		t.Errorf("want СУММА НДС 22%% and no 0%% line:\n%s", text)
	}
}
