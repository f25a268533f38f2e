package printer_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
)

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name    string
		replies [4]byte
		want    printer.Status
		wantErr bool
	}{
		{"ready", [4]byte{0x12, 0x12, 0x12, 0x12}, printer.Status{Online: true}, false},
		{"offline, cover open", [4]byte{0x1A, 0x16, 0x12, 0x12}, printer.Status{CoverOpen: true}, false},
		{"paper end by the sensor", [4]byte{0x1A, 0x12, 0x12, 0x72}, printer.Status{PaperOut: true}, false},
		{"printing stopped at paper end", [4]byte{0x1A, 0x32, 0x12, 0x12}, printer.Status{PaperOut: true}, false},
		{"near end", [4]byte{0x12, 0x12, 0x12, 0x1E}, printer.Status{Online: true, PaperNearEnd: true}, false},
		{"cutter error", [4]byte{0x1A, 0x52, 0x16, 0x12}, printer.Status{Error: true}, false},
		{"unrecoverable", [4]byte{0x1A, 0x12, 0x32, 0x12}, printer.Status{Error: true}, false},
		{"noise", [4]byte{0x12, 0x12, 0xFF, 0x12}, printer.Status{}, true},
		{"bit 0 set", [4]byte{0x13, 0x12, 0x12, 0x12}, printer.Status{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := printer.ParseStatus(c.replies)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestStatusReplies: what the emulator answers parses back to the same status.
func TestStatusReplies(t *testing.T) {
	for i := range 32 {
		s := printer.Status{Online: i&1 != 0, PaperNearEnd: i&2 != 0, PaperOut: i&4 != 0, CoverOpen: i&8 != 0, Error: i&16 != 0}
		got, err := printer.ParseStatus(s.Replies())
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Errorf("%+v came back as %+v", s, got)
		}
	}
}

func TestESCPOS(t *testing.T) {
	p := profile(t, "emu-58")
	pg := &printer.Page{Columns: 32, Lines: []printer.Line{
		{Text: "ЧЕК", Align: printer.Center, Bold: true, Large: true},
		{Text: "Ёлка «зелёная» — 1 шт"},
	}}
	job, err := pg.ESCPOS(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x1B, '@', 0x1B, 't', 17, 0x1B, 'a', 1, 0x1B, 'E', 1, 0x1D, '!', 0x11, 0x97, 0x85, 0x8A, '\n',
		0x1B, 'a', 0, 0x1B, 'E', 0, 0x1D, '!', 0}
	if !bytes.HasPrefix(job, want) {
		t.Errorf("job starts % X,\nwant % X", job[:min(len(job), len(want))], want)
	}
	if !bytes.Contains(job, []byte{0xF0, 0xAB, 0xAA, 0xA0, ' ', '"', 0xA7}) || !bytes.Contains(job, []byte(`" - 1 `)) {
		t.Errorf("CP866 text or its substitutes missing: % X", job)
	}
	if !bytes.HasSuffix(job, []byte{0x1B, 'd', printer.TearFeed, 0x1D, 'V', 1}) {
		t.Errorf("job does not end with a feed and a cut: % X", job[len(job)-8:])
	}
	noCut := profile(t, "xprinter-xp58")
	job, err = pg.ESCPOS(noCut)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(job, []byte{0x1D, 'V'}) {
		t.Error("a profile without a cutter is sent GS V")
	}
}

func TestESCPOSRefuses(t *testing.T) {
	p := profile(t, "emu-58")
	for name, pg := range map[string]*printer.Page{
		"other width":     {Columns: 48, Lines: []printer.Line{{Text: "x"}}},
		"line too long":   {Columns: 32, Lines: []printer.Line{{Text: strings.Repeat("x", 33)}}},
		"large too long":  {Columns: 32, Lines: []printer.Line{{Text: strings.Repeat("x", 17), Large: true}}},
		"QR over the max": {Columns: 32, Lines: []printer.Line{{QR: strings.Repeat("x", 3000)}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pg.ESCPOS(p); !errors.Is(err, printer.ErrEncode) {
				t.Errorf("ESCPOS: %v, want ErrEncode", err)
			}
		})
	}
}

// TestReceiptOrder checks the receipt's requisites come in FFD105.md's order
// ("The printed receipt") on every paper width.
func TestReceiptOrder(t *testing.T) {
	d := receiptDoc(t, fullReceipt(t), 121)
	order := []string{"КАССОВЫЙ ЧЕК", "ПРИХОД", `ООО "Ромашка"`, "ИНН", "АДРЕС РАСЧЕТОВ", "МЕСТО РАСЧЕТОВ",
		"ДАТА, ВРЕМЯ", "ЧЕК №", "СМЕНА №", "КАССИР", "1. Чайник", "1 x 1990.00", "НДС 20%", "ПРЕДОПЛАТА 100%",
		"УСЛУГА", "ПРИЗНАК АГЕНТА", "КТН 444D", "ИТОГ", "НАЛИЧНЫМИ", "БЕЗНАЛИЧНЫМИ", "СУММА НДС 20%", "СНО",
		"РН ККТ", "ФН №", "ФД №", "ФП", "ЭЛ. АДР. ПОКУПАТЕЛЯ", "ЭЛ. АДР. ОТПРАВИТЕЛЯ", "САЙТ ФНС: www.nalog.gov.ru",
		"ОФД: ", "САЙТ ОФД: receipt.taxcom.ru", "[QR t="}
	for _, cols := range []int{32, 42, 48} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			p := profile(t, "emu-58")
			p.Columns = cols
			pg := must[*printer.Page](t)(printer.Layout(d.doc, d.fpd, extra, p))
			checkWidths(t, pg, p)
			text := pg.Text()
			at := 0
			for _, w := range order {
				i := strings.Index(text[at:], w)
				if i < 0 {
					t.Fatalf("%q missing after byte %d of\n%s", w, at, text)
				}
				at += i + len(w)
			}
			if !strings.Contains(text, fmt.Sprintf("%010d", d.fpd)) {
				t.Errorf("ФП %010d not printed", d.fpd)
			}
		})
	}
}

func TestLayoutSigns(t *testing.T) {
	for s, word := range map[fiscal.CalcSign]string{fiscal.Income: "ПРИХОД", fiscal.IncomeReturn: "ВОЗВРАТ ПРИХОДА",
		fiscal.Expense: "РАСХОД", fiscal.ExpenseReturn: "ВОЗВРАТ РАСХОДА"} {
		d := receiptDoc(t, simpleReceipt(t, s), 130)
		pg := must[*printer.Page](t)(printer.Layout(d.doc, d.fpd, printer.Extra{Copy: true}, profile(t, "emu-58")))
		if pg.Lines[0].Text != "КОПИЯ" || pg.Lines[2].Text != word {
			t.Errorf("sign %d: heading %q, %q; want КОПИЯ, %s", s, pg.Lines[0].Text, pg.Lines[2].Text, word)
		}
	}
}

func TestLayoutRefuses(t *testing.T) {
	p := profile(t, "emu-58")
	d := receiptDoc(t, simpleReceipt(t, fiscal.Income), 130)
	if _, err := printer.Layout(d.doc, d.fpd+1, printer.Extra{}, p); err == nil {
		t.Error("a fiscal sign other than the document's 1077 was printed")
	}
	if _, err := printer.Layout(d.doc, 0, printer.Extra{}, p); err != nil {
		t.Errorf("fpd 0 should take the document's 1077: %v", err)
	}
	narrow := p
	narrow.Columns = 20
	if _, err := printer.Layout(d.doc, d.fpd, printer.Extra{}, narrow); !errors.Is(err, printer.ErrNotPrintable) {
		t.Errorf("20 columns: %v, want ErrNotPrintable", err)
	}
	noFD := &fiscal.Document{Type: fiscal.DocReceipt}
	for _, e := range d.doc.Elements {
		if e.Tag != fiscal.TagDocNumber {
			noFD.Elements = append(noFD.Elements, e)
		}
	}
	if _, err := printer.Layout(noFD, d.fpd, printer.Extra{}, p); !errors.Is(err, fiscal.ErrMissingTag) {
		t.Errorf("no 1040: %v, want ErrMissingTag", err)
	}
	ack := &fiscal.Document{Type: fiscal.DocOperatorAck}
	if _, err := printer.Layout(ack, 1, printer.Extra{}, p); !errors.Is(err, printer.ErrNotPrintable) {
		t.Errorf("operator acknowledgement: %v, want ErrNotPrintable", err)
	}
}

// TestNonFiscal prints the X-report and the self-test through the emulator: they
// fit, say they are not fiscal, and are named apart from the fiscal documents.
func TestNonFiscal(t *testing.T) {
	for _, name := range []string{"emu-58", "emu-80"} {
		p := profile(t, name)
		r := newRig(t, p, t.TempDir())
		x := printer.XReport(printer.XReportData{Seller: `ООО "Ромашка"`, INN: "7707083893", Time: t0, Shift: 7,
			ShiftOpen: true, Opened: t0.Add(-3e12), Receipts: 12, Income: printer.Totals{Count: 10, Sum: 1234500},
			IncomeRet: printer.Totals{Count: 2, Sum: 29800}, Cash: 500000, Electronic: 704700, Unsent: 1,
			UnsentSince: t0, RegNumber: "0000000001036873", DriveNumber: driveNumber}, p)
		st := printer.SelfTest(printer.SelfTestData{Version: "1.4.2", Time: t0, Info: []string{"ФН: 9999078900012345"}}, p)
		for i, pg := range []*printer.Page{x, st} {
			checkWidths(t, pg, p)
			if err := r.pr.Print(t.Context(), must[[]byte](t)(pg.ESCPOS(p))); err != nil {
				t.Fatal(err)
			}
			got := r.emu.Pages()[i]
			if got.FD != 0 || got.Name != fmt.Sprintf("nonfiscal-%d", i+1) || !strings.Contains(got.Text, "НЕФИСКАЛЬНЫЙ ДОКУМЕНТ") {
				t.Errorf("%s page %d: name %q FD %d\n%s", name, i, got.Name, got.FD, got.Text)
			}
		}
		golden(t, fmt.Sprintf("xreport-%d.txt", p.Columns), r.emu.Pages()[0].Text)
		golden(t, fmt.Sprintf("selftest-%d.txt", p.Columns), r.emu.Pages()[1].Text)
	}
}
