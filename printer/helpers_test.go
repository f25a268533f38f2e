package printer_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 is the register's wall clock when the test documents are signed.
var t0 = time.Date(2026, 11, 22, 12, 24, 37, 0, time.UTC)

var testKey = []byte("drive key of the printer tests")

const (
	driveNumber = "9999078900012345"
	serial      = "00000000381234"
)

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func testSeller(t testing.TB) fiscal.Seller {
	reg := must[string](t)(fiscal.RegNumber("0000000001", "7707083893", serial))
	return fiscal.Seller{
		Name:       `ООО "Ромашка"`,
		INN:        "7707083893",
		Address:    "125009, г. Москва, ул. Тверская, д. 7, стр. 1",
		Place:      "shop.example",
		TaxSystems: fiscal.TaxGeneral | fiscal.TaxSimpleIncome,
		RegNumber:  reg,
		Email:      "noreply@shop.example",
	}
}

// drive is what the drive adds to a document when it signs it.
type drive struct {
	fd, shift, number uint32
	counters          func([]byte) []byte // shift-close and state counters
}

// sign plays the drive: the register's elements, then 1040, 1041, 1012, 1038,
// 1042 and the counters, then 1077 over all of them, wrapped in the document's STLV.
func sign(t testing.TB, typ fiscal.Tag, body []byte, d drive) ([]byte, uint32) {
	t.Helper()
	body = fiscal.AppendUint32(body, fiscal.TagDocNumber, d.fd)
	body = fiscal.AppendTLV(body, fiscal.TagDriveNumber, []byte(driveNumber))
	body = fiscal.AppendTime(body, fiscal.TagDateTime, t0)
	if typ != fiscal.DocRegistration && typ != fiscal.DocRegistrationChange && typ != fiscal.DocDriveClose {
		body = fiscal.AppendUint32(body, fiscal.TagShiftNumber, d.shift)
	}
	if d.number != 0 {
		body = fiscal.AppendUint32(body, fiscal.TagReceiptNumber, d.number)
	}
	if d.counters != nil {
		body = d.counters(body)
	}
	fpd := fiscal.FiscalSign(testKey, body)
	body = fiscal.AppendTLV(body, fiscal.TagFiscalSign, fiscal.FiscalSignValue(fpd))
	doc, mark := fiscal.BeginSTLV(nil, typ)
	return fiscal.EndSTLV(append(doc, body...), mark), fpd
}

// signed is a document as the register gets it back from the drive, decoded.
type signed struct {
	doc *fiscal.Document
	fpd uint32
}

func decode(t testing.TB, b []byte, fpd uint32) signed {
	t.Helper()
	doc, err := fiscal.Decode(b)
	if err != nil {
		t.Fatalf("decoding the signed document: %v", err)
	}
	if err := doc.CheckRequired(); err != nil {
		t.Fatalf("the signed document is incomplete: %v", err)
	}
	return signed{doc, fpd}
}

func item(name string, price int64, q fiscal.Quantity, vat fiscal.VATRate) fiscal.Item {
	return fiscal.Item{Name: name, Price: price, Quantity: q, Sum: fiscal.ItemSum(price, q), VAT: vat,
		VATSum: -1, Subject: 1, Method: 4}
}

func one() fiscal.Quantity { return fiscal.Quantity{Value: 1} }

// receiptDoc builds, validates and signs a receipt.
func receiptDoc(t testing.TB, r *fiscal.Receipt, fd uint32) signed {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("test receipt: %v", err)
	}
	body := must[[]byte](t)(r.AppendTLV(nil))
	b, fpd := sign(t, r.DocType(), body, drive{fd: fd, shift: 7, number: fd - 10})
	return decode(t, b, fpd)
}

// fullReceipt is an income receipt with every kind of item a receipt prints:
// a plain one, a long weighed one, a prepaid service, an agent's marked goods.
func fullReceipt(t testing.TB) *fiscal.Receipt {
	mark := []byte{0x44, 0x4D, 0x04, 0x2F, 0x1F, 0x96, 0x81, 0x78, 0x4A, 0x67, 0x58, 0x4A, 0x35, 0x2E, 0x54,
		0x31, 0x31, 0x32, 0x30, 0x30, 0x30}
	kettle := item("Чайник электрический", 199000, one(), fiscal.VAT20)
	cheese := item("Сыр российский весовой, нарезка ломтиками в вакуумной упаковке", 89900,
		fiscal.Quantity{Value: 1500, Decimals: 3}, fiscal.VAT10)
	cheese.Unit = "кг"
	delivery := item("Доставка", 35000, one(), fiscal.VATNone)
	delivery.Subject, delivery.Method = 4, 1
	shoes := item("Ботинки мужские", 450000, one(), fiscal.VAT20)
	shoes.MarkCode = mark
	shoes.AgentFlags = 1 << 5
	shoes.Supplier = &fiscal.Supplier{Name: "ООО Поставщик", INN: "7707083893", Phones: []string{"+74951234567"}}
	r := &fiscal.Receipt{
		Seller:       testSeller(t),
		Sign:         fiscal.Income,
		TaxSystem:    fiscal.TaxGeneral,
		Items:        []fiscal.Item{kettle, cheese, delivery, shoes},
		Cashier:      "Иванова А.",
		CashierINN:   "500100732259",
		BuyerContact: "buyer@example.com",
		ShopID:       "3769574b-d082-4fe2-8cf0-dee21f9a7e0f",
	}
	total := r.Total()
	r.Payments = fiscal.Payments{Cash: 100000, Electronic: total - 100000}
	return r
}

// simpleReceipt is a one-item receipt of the given calculation sign.
func simpleReceipt(t testing.TB, s fiscal.CalcSign) *fiscal.Receipt {
	it := item("Кофе в зёрнах 1 кг", 149000, one(), fiscal.VAT20)
	return &fiscal.Receipt{Seller: testSeller(t), Sign: s, TaxSystem: fiscal.TaxGeneral, Items: []fiscal.Item{it},
		Payments: fiscal.Payments{Electronic: it.Sum}, Cashier: "Петров П.", BuyerContact: "+79161234567"}
}

func correctionReceipt(t testing.TB) *fiscal.Receipt {
	r := simpleReceipt(t, fiscal.Income)
	r.Payments = fiscal.Payments{Cash: r.Total()}
	r.Correction = &fiscal.Correction{ByOrder: true, Name: "Предписание ФНС", Date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Number: "12-34/567"}
	return r
}

func reportDoc(t testing.TB, typ fiscal.Tag, fd uint32, counters func([]byte) []byte) signed {
	t.Helper()
	rep := &fiscal.Report{Seller: testSeller(t), Version: "1.4.2", Cashier: "Иванова А.", CashierINN: "500100732259"}
	body := must[[]byte](t)(rep.AppendTLV(nil, typ))
	b, fpd := sign(t, typ, body, drive{fd: fd, shift: 7, counters: counters})
	return decode(t, b, fpd)
}

func registrationDoc(t testing.TB) signed {
	t.Helper()
	g := &fiscal.Registration{Seller: testSeller(t), Serial: serial, Version: "1.4.2", RegisterFFD: fiscal.FFD105,
		DriveFFD: fiscal.FFD105, OFDName: "ООО \"Такском\"", OFDINN: "7704211201", Cashier: "Иванова А.", CashierINN: "500100732259"}
	if err := g.Validate(); err != nil {
		t.Fatalf("test registration: %v", err)
	}
	body := must[[]byte](t)(g.AppendTLV(nil, fiscal.DocRegistration))
	b, fpd := sign(t, fiscal.DocRegistration, body, drive{fd: 1})
	return decode(t, b, fpd)
}

// closeCounters are the drive's tags of a shift close report, as the drive
// writes them: the counters, the unsent documents, and each warning (here
// only the OFD timeout set).
func closeCounters(b []byte) []byte { return closeCountersWarned(b, 0, 0, 0, 1) }

// closeCountersWarned is closeCounters with the warnings 1050–1053 given.
func closeCountersWarned(b []byte, w1050, w1051, w1052, w1053 byte) []byte {
	b = fiscal.AppendUint32(b, fiscal.TagShiftDocs, 14)
	b = fiscal.AppendUint32(b, fiscal.TagShiftReceipts, 12)
	b = fiscal.AppendUint32(b, fiscal.TagUnsentCount, 2)
	b = fiscal.AppendTime(b, fiscal.TagUnsentDate, t0.Add(-2*time.Hour))
	b = fiscal.AppendUint32(b, fiscal.TagUnsentFirst, 118)
	b = fiscal.AppendByte(b, fiscal.TagWarnResource, w1050)
	b = fiscal.AppendByte(b, fiscal.TagWarnReplace, w1051)
	b = fiscal.AppendByte(b, fiscal.TagWarnMemory, w1052)
	return fiscal.AppendByte(b, fiscal.TagWarnOFDTimeout, w1053)
}

// stateCounters are a state report's drive tags with nothing unsent: 1098
// and 1116 are zero.
func stateCounters(b []byte) []byte {
	b = fiscal.AppendUint32(b, fiscal.TagUnsentCount, 0)
	b = fiscal.AppendUint32(b, fiscal.TagUnsentDate, 0)
	return fiscal.AppendUint32(b, fiscal.TagUnsentFirst, 0)
}

var extra = printer.Extra{OFDName: "ООО \"Такском\"", OFDSite: "receipt.taxcom.ru", CashierPosition: "старший кассир"}

// rig is an emulated printer served on a real pty, and a Printer on the
// pty's serial port.
type rig struct {
	pr   *printer.Printer
	emu  *emu.Printer
	port board.Port
}

func newRig(t testing.TB, p printer.Profile, dir string) rig {
	t.Helper()
	e := emu.New(emu.Config{Profile: p, Dir: dir})
	pt, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, pt.Master()) }()
	port, err := board.OpenSerial(board.SerialConfig{Path: pt.Path, Baud: 115200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("emulator: %v", err)
		}
		port.Close()
		pt.Close()
	})
	return rig{pr: printer.New(port, p, printer.Options{Timeout: 2 * time.Second}), emu: e, port: port}
}

func profile(t testing.TB, name string) printer.Profile {
	p, ok := printer.ProfileByName(name)
	if !ok {
		t.Fatalf("no profile %q", name)
	}
	return p
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
