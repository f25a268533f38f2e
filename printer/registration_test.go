package printer_test

import (
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
)

// TestRegistrationChangePrints prints a registration change report with its
// reasons (1101) and the registration flags set.
func TestRegistrationChangePrints(t *testing.T) {
	s := testSeller(t)
	s.Automatic, s.Machine = true, "A-17"
	g := &fiscal.Registration{Seller: s, Serial: serial, Version: "1.4.2", RegisterFFD: fiscal.FFD105,
		DriveFFD: fiscal.FFD105, OFDName: "ООО \"Такском\"", OFDINN: "7704211201", Cashier: "Иванова А.",
		Excise: true, Services: true, AgentFlags: 1 << 5, Reasons: []byte{fiscal.ReasonOFD, fiscal.ReasonSettings}}
	if err := g.ValidateChange(); err != nil {
		t.Fatal(err)
	}
	body := must[[]byte](t)(g.AppendTLV(nil, fiscal.DocRegistrationChange))
	b, fpd := sign(t, fiscal.DocRegistrationChange, body, drive{fd: 9})
	d := decode(t, b, fpd)
	pg, err := printer.Layout(d.doc, d.fpd, extra, profile(t, "emu-80"))
	if err != nil {
		t.Fatal(err)
	}
	text := pg.Text()
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{"ОТЧЕТ ОБ ИЗМЕНЕНИИ ПАРАМЕТРОВ РЕГИСТРАЦИИ", "ПРИЧИНА ПЕРЕРЕГИСТРАЦИИ ЗАМЕНА ОФД",
		"ПРИЧИНА ПЕРЕРЕГИСТРАЦИИ ИЗМЕНЕНИЕ НАСТРОЕК ККТ", "АВТОМАТИЧЕСКИЙ РЕЖИМ ДА", "НОМЕР АВТОМАТА A-17",
		"ПОДАКЦИЗНЫЕ ТОВАРЫ ДА", "УСЛУГИ ДА", "АС БСО НЕТ", "ПРИНТЕР В АВТОМАТЕ НЕТ", "ПРИЗНАК АГЕНТА КОМИССИОНЕР"} {
		if !lines[want] {
			t.Errorf("no line %q in\n%s", want, text)
		}
	}
}

// TestWarningWords prints the drive's warnings as the drive means them
// (FN-UART.md §4): 1050 is the keys' last 30 days, 1052 the archive 90 % full.
func TestWarningWords(t *testing.T) {
	d := reportDoc(t, fiscal.DocShiftClose, 140, func(b []byte) []byte { return closeCountersWarned(b, 1, 0, 1, 1) })
	pg, err := printer.Layout(d.doc, d.fpd, extra, profile(t, "emu-80"))
	if err != nil {
		t.Fatal(err)
	}
	text := pg.Text()
	for _, want := range []string{"РЕСУРС ФН: МЕНЕЕ 30 ДНЕЙ", "ПАМЯТЬ ФН ЗАПОЛНЕНА НА 90%"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
}
