package printer

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/openkassa/kassa/fiscal"
)

// ErrNotPrintable reports a document type that has no printed form (the
// operator's acknowledgement) or a profile too narrow to lay out on.
var ErrNotPrintable = errors.New("printer: not printable")

// Extra is what a printed receipt shows that is not in the fiscal document.
type Extra struct {
	QR              string // the receipt's QR string; built from the document when empty
	OFDName         string // the OFD's name, for the buyer to check the receipt
	OFDSite         string // the OFD's receipt-check site
	TextToPrint     string // the shop's free text (textToPrint), printed only
	CashierPosition string // the cashier's position, printed only
	Copy            bool   // a reprint: "КОПИЯ" heads the page
}

// MinColumns is the narrowest paper Layout lays out on.
const MinColumns = 24

const (
	dateTimeLayout = "02.01.2006 15:04"
	dateLayout     = "02.01.2006"
)

// required are the tags without which a document's printed form is not valid.
var required = map[fiscal.Tag][]fiscal.Tag{
	fiscal.DocReceipt:            {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber, fiscal.TagCalcSign, fiscal.TagTotal},
	fiscal.DocCorrection:         {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber, fiscal.TagCalcSign, fiscal.TagTotal},
	fiscal.DocShiftOpen:          {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber, fiscal.TagShiftNumber},
	fiscal.DocShiftClose:         {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber, fiscal.TagShiftNumber},
	fiscal.DocStateReport:        {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber},
	fiscal.DocDriveClose:         {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber},
	fiscal.DocRegistration:       {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber},
	fiscal.DocRegistrationChange: {fiscal.TagDateTime, fiscal.TagDocNumber, fiscal.TagDriveNumber},
}

// Layout turns a signed fiscal document into printable lines for p's paper:
// receipts in all four calculation signs, correction receipts, shift open and
// close reports, the state report, registration reports and the drive close
// report. fpd is the document's fiscal sign; when the document carries 1077 the
// two must agree (fpd 0 takes the document's).
func Layout(doc *fiscal.Document, fpd uint32, extra Extra, p Profile) (*Page, error) {
	if doc == nil {
		return nil, errors.New("printer: layout: no document")
	}
	if p.Columns < MinColumns {
		return nil, fmt.Errorf("%w: profile %q has %d columns, at least %d needed", ErrNotPrintable, p.Name, p.Columns, MinColumns)
	}
	req, ok := required[doc.Type]
	if !ok {
		return nil, fmt.Errorf("%w: document type %d", ErrNotPrintable, doc.Type)
	}
	for _, t := range req {
		if _, ok := doc.Get(t); !ok {
			return nil, fmt.Errorf("printer: layout of document %d: %w", doc.Type, &fiscal.TagError{Tag: t, Err: fiscal.ErrMissingTag})
		}
	}
	fp, err := fiscalSign(doc, fpd)
	if err != nil {
		return nil, err
	}
	b := &builder{cols: p.Columns}
	if extra.Copy {
		b.heading("КОПИЯ")
	}
	switch doc.Type {
	case fiscal.DocReceipt, fiscal.DocCorrection:
		if err := receipt(b, doc, fp, extra); err != nil {
			return nil, err
		}
	default:
		report(b, doc, fp)
	}
	return b.page(), nil
}

// fiscalSign reconciles the caller's ФПД with the document's 1077.
func fiscalSign(doc *fiscal.Document, fpd uint32) (uint32, error) {
	v, ok := doc.Bytes(fiscal.TagFiscalSign)
	if !ok || len(v) != 6 {
		if fpd == 0 {
			return 0, fmt.Errorf("printer: layout of document %d: no fiscal sign (1077) and none given", doc.Type)
		}
		return fpd, nil
	}
	in := binary.BigEndian.Uint32(v[2:])
	if fpd != 0 && fpd != in {
		return 0, fmt.Errorf("printer: layout of document %d: fiscal sign %d given, the document's 1077 is %d", doc.Type, fpd, in)
	}
	return in, nil
}

// QRString is the receipt's QR text (FFD105.md, "Receipt"): date and time
// without seconds, the total with two decimals, the drive, the FD number, the
// ФПД and the calculation sign.
func QRString(doc *fiscal.Document, fpd uint32) (string, error) {
	tm, ok1 := doc.Time(fiscal.TagDateTime)
	sum, ok2 := doc.Money(fiscal.TagTotal)
	fn, ok3 := doc.String(fiscal.TagDriveNumber)
	fd, ok4 := doc.Uint(fiscal.TagDocNumber)
	sign, ok5 := doc.Uint(fiscal.TagCalcSign)
	for i, ok := range []bool{ok1, ok2, ok3, ok4, ok5} {
		if !ok {
			t := []fiscal.Tag{fiscal.TagDateTime, fiscal.TagTotal, fiscal.TagDriveNumber, fiscal.TagDocNumber, fiscal.TagCalcSign}[i]
			return "", fmt.Errorf("printer: QR of document %d: %w", doc.Type, &fiscal.TagError{Tag: t, Err: fiscal.ErrMissingTag})
		}
	}
	return fiscal.ReceiptQR(tm, sum, fn, uint32(fd), fpd, fiscal.CalcSign(sign)), nil
}

func receipt(b *builder, doc *fiscal.Document, fp uint32, extra Extra) error {
	sign, _ := doc.Uint(fiscal.TagCalcSign)
	name, ok := doc.String(fiscal.TagDocName)
	if !ok {
		name = fiscal.NameReceipt
	}
	b.text(name, Center, true)
	if doc.Type == fiscal.DocCorrection {
		b.heading(correctionWords[sign])
	} else {
		b.heading(calcSignWords[sign])
	}
	seller(b, doc.Elements)
	b.rule()
	dateTime(b, doc.Elements)
	if n, ok := doc.Uint(fiscal.TagReceiptNumber); ok {
		b.pair("ЧЕК №", strconv.FormatUint(n, 10), false)
	}
	if n, ok := doc.Uint(fiscal.TagShiftNumber); ok {
		b.pair("СМЕНА №", strconv.FormatUint(n, 10), false)
	}
	cashier(b, doc.Elements, extra.CashierPosition)
	optString(b, doc.Elements, fiscal.TagBuyerName, "ПОКУПАТЕЛЬ")
	optINN(b, doc.Elements, fiscal.TagBuyerINN, "ИНН ПОКУПАТЕЛЯ")
	if doc.Type == fiscal.DocCorrection {
		correction(b, doc.Elements)
	}
	for i, it := range doc.All(fiscal.TagItem) {
		b.rule()
		item(b, i+1, it.Children)
	}
	b.rule()
	total, _ := doc.Money(fiscal.TagTotal)
	b.largePair("ИТОГ", "="+money(total))
	for _, p := range payments {
		if v, ok := doc.Money(p.tag); ok && v != 0 {
			b.pair(p.word, "="+money(v), false)
		}
	}
	byRate, hasByRate := doc.Get(fiscal.TagVATSums)
	for _, p := range vatSums {
		if v, ok := doc.Money(p.tag); ok {
			if p.tag == fiscal.TagVAT0 && v == 0 && hasByRate {
				continue // the 0 a receipt with only 1115 carries beside it
			}
			b.pair(p.word, "="+money(v), false)
		}
	}
	for _, e := range byRate.Children.All(fiscal.TagVATSumByRate) {
		rate, _ := e.Children.Uint(fiscal.TagVATRate)
		v, _ := e.Children.Money(fiscal.TagVATAmount)
		b.pair(vatSumWord(rate), "="+money(v), false)
	}
	if v, ok := doc.Uint(fiscal.TagTaxSystem); ok {
		b.pair("СНО", bitWords(v, taxSystemWords[:]), false)
	}
	if v, ok := doc.Uint(fiscal.TagAgentFlags); ok && v != 0 {
		b.pair("ПРИЗНАК АГЕНТА", bitWords(v, agentWords[:]), false)
	}
	agent(b, doc.Elements)
	for _, ph := range doc.All(fiscal.TagSupplierPhone) {
		b.pair("ТЕЛ. ПОСТАВЩИКА", ph.Text(), false)
	}
	optString(b, doc.Elements, fiscal.TagReceiptRequisite, "ДОП. РЕКВИЗИТ")
	if v, ok := doc.Uint(fiscal.TagAutomatic); ok && v != 0 {
		b.text("АВТОМАТИЧЕСКИЙ РЕЖИМ", Left, false)
	}
	if v, ok := doc.Uint(fiscal.TagInternet); ok && v != 0 {
		b.text("РАСЧЕТ В СЕТИ ИНТЕРНЕТ", Left, false)
	}
	b.rule()
	fiscalData(b, doc.Elements, fp)
	if v, ok := doc.String(fiscal.TagBuyerContact); ok {
		label := "ЭЛ. АДР. ПОКУПАТЕЛЯ"
		if strings.HasPrefix(v, "+") {
			label = "ТЕЛ. ПОКУПАТЕЛЯ"
		}
		b.pair(label, v, false)
	}
	optString(b, doc.Elements, fiscal.TagSenderEmail, "ЭЛ. АДР. ОТПРАВИТЕЛЯ")
	site := fiscal.TaxSite
	if v, ok := doc.String(fiscal.TagTaxSite); ok {
		site = v
	}
	b.text("САЙТ ФНС: "+site, Left, false)
	if extra.OFDName != "" {
		b.text("ОФД: "+extra.OFDName, Left, false)
	}
	if extra.OFDSite != "" {
		b.text("САЙТ ОФД: "+extra.OFDSite, Left, false)
	}
	qr := extra.QR
	if qr == "" {
		var err error
		if qr, err = QRString(doc, fp); err != nil {
			return err
		}
	}
	b.add(Line{QR: qr, Align: Center})
	if strings.TrimSpace(extra.TextToPrint) != "" {
		b.rule()
		b.text(extra.TextToPrint, Left, false)
	}
	return nil
}

func item(b *builder, n int, it fiscal.Elements) {
	name, _ := it.String(fiscal.TagItemName)
	b.text(strconv.Itoa(n)+". "+name, Left, false)
	price, _ := it.Money(fiscal.TagPrice)
	q, _ := it.Quantity(fiscal.TagQuantity)
	sum, _ := it.Money(fiscal.TagItemSum)
	qty := q.String()
	if u, ok := it.String(fiscal.TagUnit); ok {
		qty += " " + u
	}
	b.pair(qty+" x "+money(price), "="+money(sum), false)
	if rate, ok := it.Uint(fiscal.TagVATRate); ok {
		switch fiscal.VATRate(rate) {
		case fiscal.VAT0, fiscal.VATNone:
			b.text(vatRateWord(rate), Left, false)
		default:
			vat, ok := it.Money(fiscal.TagItemVAT)
			if !ok {
				vat = fiscal.VAT(sum, fiscal.VATRate(rate))
			}
			b.pair(vatRateWord(rate), "="+money(vat), false)
		}
	}
	if m, ok := it.Uint(fiscal.TagMethod); ok && m != 4 {
		b.text(methodWords[m], Left, false)
	}
	if s, ok := it.Uint(fiscal.TagSubject); ok {
		b.text(subjectWords[s], Left, false)
	}
	if v, ok := it.Uint(fiscal.TagItemAgentFlags); ok && v != 0 {
		b.pair("ПРИЗНАК АГЕНТА", bitWords(v, agentWords[:]), false)
		if a, ok := it.Get(fiscal.TagItemAgent); ok {
			agent(b, a.Children)
		}
		if s, ok := it.Get(fiscal.TagItemSupplier); ok {
			optString(b, s.Children, fiscal.TagSupplierName, "ПОСТАВЩИК")
			for _, ph := range s.Children.All(fiscal.TagSupplierPhone) {
				b.pair("ТЕЛ. ПОСТАВЩИКА", ph.Text(), false)
			}
		}
		optINN(b, it, fiscal.TagSupplierINN, "ИНН ПОСТАВЩИКА")
	}
	if code, ok := it.Bytes(fiscal.TagMarkCode); ok {
		b.chunks("КТН " + strings.ToUpper(hex.EncodeToString(code)))
	}
	optString(b, it, fiscal.TagCountry, "СТРАНА ПРОИСХОЖДЕНИЯ")
	optString(b, it, fiscal.TagCustoms, "ТАМОЖЕННАЯ ДЕКЛАРАЦИЯ")
}

// agent prints the agent's data: 1223's children on an item, the top level on a receipt.
func agent(b *builder, els fiscal.Elements) {
	optString(b, els, fiscal.TagAgentOperation, "ОПЕРАЦИЯ АГЕНТА")
	for _, ph := range els.All(fiscal.TagAgentPhone) {
		b.pair("ТЕЛ. ПЛ. АГЕНТА", ph.Text(), false)
	}
	for _, ph := range els.All(fiscal.TagReceiverPhone) {
		b.pair("ТЕЛ. ОП. ПО ПРИЕМУ ПЛАТЕЖЕЙ", ph.Text(), false)
	}
	for _, ph := range els.All(fiscal.TagTransferPhone) {
		b.pair("ТЕЛ. ОП. ПЕРЕВОДА", ph.Text(), false)
	}
	optString(b, els, fiscal.TagTransferOperName, "ОП. ПЕРЕВОДА")
	optString(b, els, fiscal.TagTransferOperAddr, "АДР. ОП. ПЕРЕВОДА")
	optINN(b, els, fiscal.TagTransferOperINN, "ИНН ОП. ПЕРЕВОДА")
}

func correction(b *builder, els fiscal.Elements) {
	if v, ok := els.Uint(fiscal.TagCorrectionType); ok {
		w := "САМОСТОЯТЕЛЬНО"
		if v == 1 {
			w = "ПО ПРЕДПИСАНИЮ"
		}
		b.pair("ТИП КОРРЕКЦИИ", w, false)
	}
	basis, ok := els.Get(fiscal.TagCorrectionBasis)
	if !ok {
		return
	}
	optString(b, basis.Children, fiscal.TagBasisName, "ОСНОВАНИЕ")
	if t, ok := basis.Children.Time(fiscal.TagBasisDate); ok {
		b.pair("ДАТА ДОК. ОСНОВАНИЯ", t.Format(dateLayout), false)
	}
	optString(b, basis.Children, fiscal.TagBasisNumber, "НОМЕР ДОК. ОСНОВАНИЯ")
}

func report(b *builder, doc *fiscal.Document, fp uint32) {
	name, ok := doc.String(fiscal.TagDocName)
	if !ok {
		name = fmt.Sprintf("ОТЧЕТ %d", doc.Type)
	}
	b.text(name, Center, true)
	seller(b, doc.Elements)
	b.rule()
	dateTime(b, doc.Elements)
	els := doc.Elements
	if n, ok := els.Uint(fiscal.TagShiftNumber); ok {
		b.pair("СМЕНА №", strconv.FormatUint(n, 10), false)
	}
	cashier(b, els, "")
	if doc.Type == fiscal.DocRegistration || doc.Type == fiscal.DocRegistrationChange {
		optString(b, els, fiscal.TagRegisterSerial, "ЗН ККТ")
		if v, ok := els.Uint(fiscal.TagTaxSystems); ok {
			b.pair("СНО", bitWords(v, taxSystemWords[:]), false)
		}
		optString(b, els, fiscal.TagOFDName, "ОФД")
		optINN(b, els, fiscal.TagOFDINN, "ИНН ОФД")
		for _, f := range [...]struct {
			t    fiscal.Tag
			word string
		}{{fiscal.TagAutomatic, "АВТОМАТИЧЕСКИЙ РЕЖИМ"}, {fiscal.TagAutonomous, "АВТОНОМНЫЙ РЕЖИМ"},
			{fiscal.TagEncryption, "ШИФРОВАНИЕ"}, {fiscal.TagInternet, "РАСЧЕТЫ В СЕТИ ИНТЕРНЕТ"},
			{fiscal.TagService, "УСЛУГИ"}, {fiscal.TagBSO, "АС БСО"}, {fiscal.TagPrinterInMachine, "ПРИНТЕР В АВТОМАТЕ"},
			{fiscal.TagExcise, "ПОДАКЦИЗНЫЕ ТОВАРЫ"}, {fiscal.TagGambling, "АЗАРТНЫЕ ИГРЫ"}, {fiscal.TagLottery, "ЛОТЕРЕИ"}} {
			if v, ok := els.Uint(f.t); ok {
				yes := "НЕТ"
				if v != 0 {
					yes = "ДА"
				}
				b.pair(f.word, yes, false)
			}
		}
		optString(b, els, fiscal.TagVendingMachine, "НОМЕР АВТОМАТА")
		if v, ok := els.Uint(fiscal.TagAgentFlags); ok && v != 0 {
			b.pair("ПРИЗНАК АГЕНТА", bitWords(v, agentWords[:]), false)
		}
		for _, r := range els.All(fiscal.TagReRegReason) {
			b.pair("ПРИЧИНА ПЕРЕРЕГИСТРАЦИИ", reasonWords[r.Uint()], false)
		}
		optString(b, els, fiscal.TagSenderEmail, "ЭЛ. АДР. ОТПРАВИТЕЛЯ")
	}
	optString(b, els, fiscal.TagRegisterVersion, "ВЕРСИЯ ККТ")
	for _, f := range [...]struct {
		t    fiscal.Tag
		word string
	}{{fiscal.TagRegisterFFD, "ФФД ККТ"}, {fiscal.TagDriveFFD, "ФФД ФН"}} {
		if v, ok := els.Uint(f.t); ok {
			b.pair(f.word, ffdWord(v), false)
		}
	}
	if n, ok := els.Uint(fiscal.TagShiftReceipts); ok {
		b.pair("ЧЕКОВ ЗА СМЕНУ", strconv.FormatUint(n, 10), false)
	}
	if n, ok := els.Uint(fiscal.TagShiftDocs); ok {
		b.pair("ФД ЗА СМЕНУ", strconv.FormatUint(n, 10), false)
	}
	if n, ok := els.Uint(fiscal.TagUnsentCount); ok {
		b.pair("НЕПЕРЕДАННЫХ ФД", strconv.FormatUint(n, 10), false)
	}
	// With nothing unsent the drive writes 1116 and 1098 as zero: nothing to print.
	if n, ok := els.Uint(fiscal.TagUnsentFirst); ok && n != 0 {
		b.pair("ПЕРВЫЙ НЕПЕРЕДАННЫЙ ФД №", strconv.FormatUint(n, 10), false)
	}
	if t, ok := els.Time(fiscal.TagUnsentDate); ok && t.Unix() != 0 {
		b.pair("НЕПЕРЕДАННЫЕ ФД С", t.Format(dateTimeLayout), false)
	}
	for _, w := range warnings {
		if v, ok := els.Uint(w.tag); ok && v != 0 {
			b.text(w.word, Left, true)
		}
	}
	b.rule()
	fiscalData(b, els, fp)
	if v, ok := els.String(fiscal.TagTaxSite); ok {
		b.text("САЙТ ФНС: "+v, Left, false)
	}
}

func ffdWord(v uint64) string {
	switch v {
	case 1:
		return "1.0"
	case 2:
		return "1.05"
	case 3:
		return "1.1"
	case 4:
		return "1.2"
	}
	return strconv.FormatUint(v, 10)
}

// seller prints 1048, 1018, 1009 and 1187.
func seller(b *builder, els fiscal.Elements) {
	if v, ok := els.String(fiscal.TagUserName); ok {
		b.text(v, Center, false)
	}
	optINN(b, els, fiscal.TagUserINN, "ИНН")
	if v, ok := els.String(fiscal.TagAddress); ok {
		b.text("АДРЕС РАСЧЕТОВ: "+v, Left, false)
	}
	if v, ok := els.String(fiscal.TagPlace); ok {
		b.text("МЕСТО РАСЧЕТОВ: "+v, Left, false)
	}
}

func dateTime(b *builder, els fiscal.Elements) {
	if t, ok := els.Time(fiscal.TagDateTime); ok {
		b.pair("ДАТА, ВРЕМЯ", t.Format(dateTimeLayout), false)
	}
}

func cashier(b *builder, els fiscal.Elements, position string) {
	if v, ok := els.String(fiscal.TagCashier); ok {
		if position != "" {
			v = position + " " + v
		}
		b.pair("КАССИР", v, false)
	}
	optINN(b, els, fiscal.TagCashierINN, "ИНН КАССИРА")
}

// fiscalData prints РН ККТ, ФН, ФД and ФП, the lines that identify the document.
func fiscalData(b *builder, els fiscal.Elements, fp uint32) {
	optINN(b, els, fiscal.TagRegNumber, "РН ККТ")
	optString(b, els, fiscal.TagDriveNumber, "ФН №")
	if n, ok := els.Uint(fiscal.TagDocNumber); ok {
		b.pair("ФД №", strconv.FormatUint(n, 10), false)
	}
	b.pair("ФП", fmt.Sprintf("%010d", fp), false)
}

func optString(b *builder, els fiscal.Elements, t fiscal.Tag, label string) {
	if v, ok := els.String(t); ok && v != "" {
		b.pair(label, v, false)
	}
}

// optINN prints a space-padded value (INNs, the registration number) trimmed.
func optINN(b *builder, els fiscal.Elements, t fiscal.Tag, label string) {
	if v, ok := els.String(t); ok {
		if v = strings.TrimSpace(v); v != "" {
			b.pair(label, v, false)
		}
	}
}

// heading is a centred title: double size when it fits half the columns.
func (b *builder) heading(s string) {
	if len([]rune(s)) <= b.cols/2 {
		b.large(s, Center, true)
		return
	}
	b.text(s, Center, true)
}

// money formats kopecks as roubles with two decimals.
func money(k int64) string {
	sign := ""
	if k < 0 {
		sign, k = "-", -k
	}
	return fmt.Sprintf("%s%d.%02d", sign, k/100, k%100)
}
