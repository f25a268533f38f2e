package printer

import (
	"strconv"
	"strings"
	"time"
)

// nonFiscal heads every page that is not a fiscal document, as the law requires
// a non-fiscal print to say.
const nonFiscal = "НЕФИСКАЛЬНЫЙ ДОКУМЕНТ"

// Totals are one calculation sign's count of receipts and their sum, in kopecks.
type Totals struct {
	Count uint32
	Sum   int64
}

// XReportData is what an X-report shows: the shift so far, from the register's
// own counters (no fiscal document is made).
type XReportData struct {
	Seller      string
	INN         string
	RegNumber   string
	DriveNumber string
	Time        time.Time // the register's wall clock
	Shift       uint32
	ShiftOpen   bool
	Opened      time.Time // when the shift opened
	Receipts    uint32
	Income      Totals // приход
	IncomeRet   Totals // возврат прихода
	Expense     Totals // расход
	ExpenseRet  Totals // возврат расхода
	Cash        int64  // cash taken in the shift, kopecks
	Electronic  int64  // paid electronically in the shift, kopecks
	Unsent      uint32 // documents the OFD has not acknowledged
	UnsentSince time.Time
}

// XReport lays out an X-report.
func XReport(d XReportData, p Profile) *Page {
	b := &builder{cols: max(p.Columns, MinColumns)}
	b.text(nonFiscal, Center, true)
	b.heading("X-ОТЧЕТ")
	b.text(d.Seller, Center, false)
	if d.INN != "" {
		b.pair("ИНН", strings.TrimSpace(d.INN), false)
	}
	b.rule()
	b.pair("ДАТА, ВРЕМЯ", d.Time.Format(dateTimeLayout), false)
	if d.ShiftOpen {
		b.pair("СМЕНА №", strconv.FormatUint(uint64(d.Shift), 10), false)
		b.pair("СМЕНА ОТКРЫТА", d.Opened.Format(dateTimeLayout), false)
	} else {
		b.text("СМЕНА ЗАКРЫТА", Left, false)
	}
	b.pair("ЧЕКОВ ЗА СМЕНУ", strconv.FormatUint(uint64(d.Receipts), 10), false)
	b.rule()
	for _, t := range [...]struct {
		word string
		t    Totals
	}{{"ПРИХОД", d.Income}, {"ВОЗВРАТ ПРИХОДА", d.IncomeRet}, {"РАСХОД", d.Expense}, {"ВОЗВРАТ РАСХОДА", d.ExpenseRet}} {
		b.pair(t.word+" ("+strconv.FormatUint(uint64(t.t.Count), 10)+")", "="+money(t.t.Sum), false)
	}
	b.pair("НАЛИЧНЫМИ", "="+money(d.Cash), false)
	b.pair("БЕЗНАЛИЧНЫМИ", "="+money(d.Electronic), false)
	b.rule()
	b.pair("НЕПЕРЕДАННЫХ ФД", strconv.FormatUint(uint64(d.Unsent), 10), false)
	if d.Unsent > 0 && !d.UnsentSince.IsZero() {
		b.pair("НЕПЕРЕДАННЫЕ ФД С", d.UnsentSince.Format(dateTimeLayout), false)
	}
	if d.RegNumber != "" {
		b.pair("РН ККТ", strings.TrimSpace(d.RegNumber), false)
	}
	if d.DriveNumber != "" {
		b.pair("ФН №", d.DriveNumber, false)
	}
	b.text(nonFiscal, Center, true)
	return b.page()
}

// SelfTestData is what a self-test page shows besides the printer's own abilities.
type SelfTestData struct {
	Version string    // the firmware's version
	Time    time.Time // the register's wall clock
	Info    []string  // free "name: value" lines (drive, store, network…)
}

// SelfTest lays out a test page: the profile, every CP866 letter, the styles, a
// column ruler and a sample QR code, so a technician sees at a glance that the
// code page, the width and the QR path are right.
func SelfTest(d SelfTestData, p Profile) *Page {
	b := &builder{cols: max(p.Columns, MinColumns)}
	b.text(nonFiscal, Center, true)
	b.heading("ТЕСТ ПЕЧАТИ")
	b.pair("ДАТА, ВРЕМЯ", d.Time.Format(dateTimeLayout), false)
	if d.Version != "" {
		b.pair("ВЕРСИЯ", d.Version, false)
	}
	b.pair("ПРИНТЕР", p.Name, false)
	b.pair("КОЛОНОК / ТОЧЕК", strconv.Itoa(p.Columns)+" / "+strconv.Itoa(p.Dots), false)
	b.pair("КОДОВАЯ СТРАНИЦА", "CP866 (ESC t "+strconv.Itoa(int(p.CodePage))+")", false)
	for _, l := range d.Info {
		b.text(l, Left, false)
	}
	b.rule()
	var ruler strings.Builder
	for i := 1; i <= b.cols; i++ {
		ruler.WriteByte(byte('0' + i%10))
	}
	b.add(Line{Text: ruler.String()})
	b.text("АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ", Left, false)
	b.text("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", Left, false)
	b.text("0123456789 №%=+-*/.,:;()", Left, false)
	b.text("ЖИРНЫЙ ШРИФТ", Left, true)
	b.large("КРУПНЫЙ", Center, true)
	b.text("СПРАВА", Right, false)
	b.add(Line{QR: "kassa self-test " + d.Time.Format("20060102T1504"), Align: Center})
	b.text(nonFiscal, Center, true)
	return b.page()
}
