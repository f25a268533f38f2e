package fiscal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("drive key of the test")

// must returns the bytes of an encoder call, failing the test on its error.
func must(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// signed plays the drive: it appends the numbers and the time, what extra adds
// (shift counters, receipt numbers), then the fiscal sign, and wraps the document.
func signed(t testing.TB, typ Tag, body []byte, extra func([]byte) []byte) []byte {
	t.Helper()
	body = AppendUint32(body, TagDocNumber, 42)
	body = must(t)(AppendString(body, TagDriveNumber, "9999078900012345"))
	body = AppendTime(body, TagDateTime, time.Date(2026, 11, 22, 12, 24, 0, 0, time.UTC))
	if extra != nil {
		body = extra(body)
	}
	body = AppendTLV(body, TagFiscalSign, FiscalSignValue(FiscalSign(testKey, body)))
	doc, mark := BeginSTLV(nil, typ)
	return EndSTLV(append(doc, body...), mark)
}

func shiftAndReceipt(b []byte) []byte {
	b = AppendUint32(b, TagShiftNumber, 7)
	return AppendUint32(b, TagReceiptNumber, 3)
}

func testRegistration() *Registration {
	return &Registration{
		Seller:      testReceipt().Seller,
		Serial:      "0123456789",
		Version:     "1.0.0",
		RegisterFFD: FFD105,
		DriveFFD:    FFD105,
		OFDName:     "ООО ОФД",
		OFDINN:      "7704211201",
		Cashier:     "Иванова А.",
		CashierINN:  "500100732259",
	}
}

func testReport() *Report {
	return &Report{Seller: testReceipt().Seller, Version: "1.0.0", Cashier: "Иванова А.", CashierINN: "500100732259"}
}

func TestRoundTripEveryDocument(t *testing.T) {
	correction := testReceipt()
	correction.Correction = &Correction{Name: "Предписание", Date: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Number: "12"}
	closeCounters := func(b []byte) []byte {
		b = AppendUint32(b, TagShiftNumber, 7)
		b = AppendUint32(b, TagShiftDocs, 5)
		b = AppendUint32(b, TagShiftReceipts, 3)
		b = AppendUint32(b, TagUnsentCount, 2)
		b = AppendTime(b, TagUnsentDate, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
		b = AppendUint32(b, TagUnsentFirst, 40)
		b = AppendByte(b, TagWarnResource, 0)
		b = AppendByte(b, TagWarnReplace, 0)
		b = AppendByte(b, TagWarnMemory, 0)
		return AppendByte(b, TagWarnOFDTimeout, 1)
	}
	shift := func(b []byte) []byte { return AppendUint32(b, TagShiftNumber, 7) }
	ack := func() []byte {
		body := must(t)(AppendString(nil, TagOFDINN, "7704211201  "))
		body = must(t)(AppendString(body, TagDriveNumber, "9999078900012345"))
		body = AppendUint32(body, TagDocNumber, 42)
		body = AppendTime(body, TagDateTime, time.Date(2026, 11, 22, 12, 25, 0, 0, time.UTC))
		b, m := BeginSTLV(body, TagOFDMessage)
		body = EndSTLV(AppendByte(b, TagOFDResponse, 0), m)
		body = AppendTLV(body, TagOperatorSign, OperatorSign([]byte("ofd"), body))
		doc, mark := BeginSTLV(nil, DocOperatorAck)
		return EndSTLV(append(doc, body...), mark)
	}
	cases := []struct {
		typ  Tag
		name string
		doc  func() []byte
	}{
		{DocRegistration, NameRegistration, func() []byte {
			return signed(t, 1, must(t)(testRegistration().AppendTLV(nil, 1)), nil)
		}},
		{DocRegistrationChange, NameRegistrationChange, func() []byte {
			g := testRegistration()
			g.Reasons = []byte{ReasonOFD}
			return signed(t, 11, must(t)(g.AppendTLV(nil, 11)), nil)
		}},
		{DocShiftOpen, NameShiftOpen, func() []byte {
			return signed(t, 2, must(t)(testReport().AppendTLV(nil, 2)), shift)
		}},
		{DocStateReport, NameStateReport, func() []byte {
			return signed(t, 21, must(t)(testReport().AppendTLV(nil, 21)), func(b []byte) []byte {
				b = AppendUint32(AppendUint32(shift(b), TagUnsentCount, 0), TagUnsentDate, 0)
				return AppendUint32(b, TagUnsentFirst, 0)
			})
		}},
		{DocReceipt, NameReceipt, func() []byte {
			return signed(t, 3, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt)
		}},
		{DocCorrection, NameCorrection, func() []byte {
			return signed(t, 31, must(t)(correction.AppendTLV(nil)), shiftAndReceipt)
		}},
		{DocShiftClose, NameShiftClose, func() []byte {
			return signed(t, 5, must(t)(testReport().AppendTLV(nil, 5)), closeCounters)
		}},
		{DocDriveClose, NameDriveClose, func() []byte {
			return signed(t, 6, must(t)(testReport().AppendTLV(nil, 6)), shift)
		}},
		{DocOperatorAck, "", ack},
	}
	for _, c := range cases {
		t.Run(tagInfos[c.typ].Name, func(t *testing.T) {
			in := c.doc()
			doc, err := Decode(in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if doc.Type != c.typ {
				t.Errorf("Type = %d, want %d", doc.Type, c.typ)
			}
			if err := doc.CheckRequired(); err != nil {
				t.Errorf("CheckRequired: %v", err)
			}
			if out := doc.Encode(); !bytes.Equal(out, in) {
				t.Errorf("re-encoded\n %X\nwant\n %X", out, in)
			}
			if c.typ == DocOperatorAck {
				return
			}
			if _, err := VerifyFiscalSign(testKey, in); err != nil {
				t.Errorf("VerifyFiscalSign: %v", err)
			}
			if name, _ := doc.String(TagDocName); name != c.name {
				t.Errorf("1000 = %q, want %q", name, c.name)
			}
		})
	}
}

func TestReportContents(t *testing.T) {
	cases := []struct {
		typ     Tag
		present []Tag
		absent  []Tag
	}{
		{DocShiftOpen, []Tag{TagRegisterVersion, TagRegisterFFD, TagCashier, TagCashierINN, TagRegNumber}, nil},
		{DocShiftClose, []Tag{TagCashier}, []Tag{TagRegisterVersion, TagRegisterFFD}},
		{DocStateReport, []Tag{TagUserName, TagAddress, TagAutonomous}, []Tag{TagRegisterVersion, TagCashier}},
		{DocDriveClose, []Tag{TagCashier}, []Tag{TagRegisterVersion}},
	}
	for _, c := range cases {
		els, err := SplitElements(must(t)(testReport().AppendTLV(nil, c.typ)))
		if err != nil {
			t.Fatal(err)
		}
		has := map[Tag]bool{}
		for _, e := range els {
			has[e.Tag] = true
		}
		for _, tag := range c.present {
			if !has[tag] {
				t.Errorf("document %d lacks %d", c.typ, tag)
			}
		}
		for _, tag := range c.absent {
			if has[tag] {
				t.Errorf("document %d carries %d", c.typ, tag)
			}
		}
	}
	if _, err := testReport().AppendTLV(nil, DocReceipt); !errors.Is(err, ErrDocType) {
		t.Errorf("Report as a receipt: %v, want ErrDocType", err)
	}
	if _, err := testRegistration().AppendTLV(nil, DocShiftOpen); !errors.Is(err, ErrDocType) {
		t.Errorf("Registration as a shift report: %v, want ErrDocType", err)
	}
}

func TestRegistrationValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(g *Registration)
		field string
	}{
		{"valid", func(*Registration) {}, ""},
		{"autonomous without OFD", func(g *Registration) { g.Autonomous, g.OFDName, g.OFDINN = true, "", "" }, ""},
		{"registration number of another serial", func(g *Registration) { g.Serial = "0123456788" }, "seller.regNumber"},
		{"registration number of another INN", func(g *Registration) { g.Seller.INN = "500100732259" }, "seller.regNumber"},
		{"no serial", func(g *Registration) { g.Serial = "" }, "serial"},
		{"no OFD", func(g *Registration) { g.OFDINN = "" }, "ofdInn"},
		{"OFD INN check digits", func(g *Registration) { g.OFDINN = "7704211202" }, "ofdInn"},
		{"version too long", func(g *Registration) { g.Version = "1.0.0-rc.1" }, "version"},
		{"FFD out of range", func(g *Registration) { g.DriveFFD = 5 }, "driveFfd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := testRegistration()
			c.edit(g)
			err := g.Validate()
			checkField(t, err, c.field)
		})
	}
}

func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError (want field %s)", err, field)
	}
	if fe.Field != field {
		t.Fatalf("error on field %q (%v), want %q", fe.Field, err, field)
	}
	if !strings.HasPrefix(err.Error(), field+": ") {
		t.Fatalf("message %q does not start with the field", err.Error())
	}
}
