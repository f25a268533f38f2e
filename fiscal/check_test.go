package fiscal

import (
	"errors"
	"testing"
	"time"
)

// yandexRequired restates, as tag numbers, the "required" lists of yandex/ofd's
// FFD 1.05 JSON schemas (schemas/1.05/*.schema.json), read property by property:
// fiscalDocumentFormatVer 1209, printInMachineSign 1221, kktVersion 1188,
// documentKktVersion 1189, kktNumber 1013, user 1048, userInn 1018,
// taxationType 1062 (1055 on receipts), dateTime 1012, kktRegId 1037,
// offlineMode 1002, bsoSign 1110, serviceSign 1109, encryptionSign 1056,
// autoMode 1001, internetSign 1108, fiscalDocumentNumber 1040,
// fiscalDriveNumber 1041, operator 1021, retailPlace 1187, ofdInn 1017,
// fiscalSign 1077, correctionReasonCode 1101, shiftNumber 1038,
// receiptsQuantity 1118, documentsQuantity 1111, notTransmittedDocumentsQuantity
// 1097, notTransmittedDocumentsDateTime 1098, notTransmittedDocumentNumber 1116,
// the four drive warnings 1050–1053, requestNumber 1042, operationType 1054,
// totalSum 1020, correctionType 1173, correctionBase 1174 {1177, 1178, 1179}.
// ("code" is the document type itself; "rawData" the OFD's own.)
var yandexRequired = map[Tag][]Tag{
	DocRegistration: {1209, 1221, 1188, 1189, 1013, 1048, 1018, 1062, 1012, 1037, 1002, 1110, 1109, 1056, 1001,
		1108, 1040, 1041, 1021, 1187, 1017, 1077},
	DocRegistrationChange: {1209, 1221, 1188, 1189, 1013, 1048, 1018, 1062, 1012, 1037, 1002, 1110, 1109, 1056,
		1001, 1108, 1040, 1041, 1021, 1187, 1017, 1101, 1077},
	DocShiftOpen:       {1209, 1018, 1012, 1038, 1037, 1041, 1040, 1077},
	DocShiftClose:      {1209, 1018, 1012, 1038, 1118, 1111, 1097, 1098, 1053, 1051, 1052, 1050, 1037, 1041, 1040, 1077},
	DocStateReport:     {1209, 1018, 1012, 1002, 1116, 1097, 1098, 1037, 1041, 1040, 1077},
	DocDriveClose:      {1209, 1048, 1187, 1018, 1021, 1012, 1037, 1041, 1040, 1077},
	DocReceipt:         {1209, 1042, 1012, 1038, 1054, 1055, 1037, 1041, 1040, 1020, 1077},
	DocCorrection:      {1209, 1173, 1174, 1018, 1042, 1012, 1038, 1054, 1055, 1021, 1037, 1041, 1020, 1040, 1077},
	TagCorrectionBasis: {1177, 1178, 1179},
}

func TestTablesMeetYandexSchemas(t *testing.T) {
	for doc, want := range yandexRequired {
		for _, tag := range want {
			if PresenceIn(doc, tag) != Required {
				t.Errorf("%d: %d is %s, yandex/ofd requires it", doc, tag, PresenceIn(doc, tag))
			}
		}
	}
}

// closeWarnings adds the drive's four warnings as a shift close report carries
// them: each one, 0 or 1.
func closeWarnings(b []byte) []byte {
	for _, w := range []Tag{TagWarnResource, TagWarnReplace, TagWarnMemory, TagWarnOFDTimeout} {
		b = AppendByte(b, w, 0)
	}
	return b
}

// everyDocument is each document type as kassa's builders make it, with the
// drive's tags added as the drive adds them.
func everyDocument(t *testing.T) map[Tag][]byte {
	correction := testReceipt()
	correction.Correction = &Correction{Name: "Акт", Date: time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC), Number: "б/н"}
	change := testRegistration()
	change.Reasons = []byte{ReasonOFD, ReasonSettings}
	shift := func(b []byte) []byte { return AppendUint32(b, TagShiftNumber, 7) }
	unsent := func(b []byte) []byte {
		b = AppendUint32(b, TagUnsentCount, 1)
		b = AppendTime(b, TagUnsentDate, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
		return AppendUint32(b, TagUnsentFirst, 41)
	}
	return map[Tag][]byte{
		DocRegistration:       signed(t, 1, must(t)(testRegistration().AppendTLV(nil, 1)), nil),
		DocRegistrationChange: signed(t, 11, must(t)(change.AppendTLV(nil, 11)), nil),
		DocShiftOpen:          signed(t, 2, must(t)(testReport().AppendTLV(nil, 2)), shift),
		DocReceipt:            signed(t, 3, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt),
		DocCorrection:         signed(t, 31, must(t)(correction.AppendTLV(nil)), shiftAndReceipt),
		DocShiftClose: signed(t, 5, must(t)(testReport().AppendTLV(nil, 5)), func(b []byte) []byte {
			b = AppendUint32(shift(b), TagShiftDocs, 3)
			return closeWarnings(unsent(AppendUint32(b, TagShiftReceipts, 1)))
		}),
		DocStateReport: signed(t, 21, must(t)(testReport().AppendTLV(nil, 21)), func(b []byte) []byte { return unsent(shift(b)) }),
		DocDriveClose:  signed(t, 6, must(t)(testReport().AppendTLV(nil, 6)), shift),
	}
}

// TestEveryDocumentMeetsTheTables checks each document type kassa makes: it
// decodes, meets the tables, and carries what yandex/ofd's schemas require.
func TestEveryDocumentMeetsTheTables(t *testing.T) {
	for typ, b := range everyDocument(t) {
		d, err := CheckDocument(b)
		if err != nil {
			t.Errorf("document %d: %v", typ, err)
			continue
		}
		for _, tag := range yandexRequired[typ] {
			if _, ok := d.Get(tag); !ok {
				t.Errorf("document %d lacks %d", typ, tag)
			}
		}
	}
}

// TestCheckDocumentRefuses changes a valid document and expects the check to
// name the tag at fault.
func TestCheckDocumentRefuses(t *testing.T) {
	reg := func(edit func(g *Registration)) func() []byte {
		return func() []byte {
			g := testRegistration()
			edit(g)
			return signed(t, 1, must(t)(g.AppendTLV(nil, 1)), nil)
		}
	}
	withTags := func(typ Tag, body func() []byte, extra func([]byte) []byte) func() []byte {
		return func() []byte { return signed(t, typ, body(), extra) }
	}
	report := func(typ Tag) func() []byte { return func() []byte { return must(t)(testReport().AppendTLV(nil, typ)) } }
	shift := func(b []byte) []byte { return AppendUint32(b, TagShiftNumber, 7) }
	cases := []struct {
		name string
		doc  func() []byte
		tag  Tag
		err  error
	}{
		{"1001 = 1 with an empty 1036", reg(func(g *Registration) { g.Seller.Automatic = true; g.Seller.Machine = "" }),
			TagVendingMachine, ErrEmptyTag},
		{"registration without 1021", reg(func(g *Registration) { g.Cashier = "" }), TagCashier, ErrMissingTag},
		{"change report without 1101", withTags(11, func() []byte { return must(t)(testRegistration().AppendTLV(nil, 11)) }, nil),
			TagReRegReason, ErrMissingTag},
		{"1038 on the change report", withTags(11, func() []byte {
			g := testRegistration()
			g.Reasons = []byte{ReasonOFD}
			return must(t)(g.AppendTLV(nil, 11))
		}, shift), TagShiftNumber, ErrForbiddenTag},
		{"drive close without 1038", withTags(6, report(6), nil), TagShiftNumber, ErrMissingTag},
		{"1188 on shift close", withTags(5, func() []byte {
			return must(t)(AppendString(must(t)(testReport().AppendTLV(nil, 5)), TagRegisterVersion, "1.0"))
		}, func(b []byte) []byte {
			b = AppendUint32(shift(b), TagShiftDocs, 1)
			b = AppendUint32(AppendUint32(b, TagShiftReceipts, 0), TagUnsentCount, 0)
			return closeWarnings(AppendUint32(b, TagUnsentDate, 0))
		}), TagRegisterVersion, ErrForbiddenTag},
		{"shift close without 1098", withTags(5, report(5), func(b []byte) []byte {
			b = AppendUint32(shift(b), TagShiftDocs, 1)
			return closeWarnings(AppendUint32(AppendUint32(b, TagShiftReceipts, 0), TagUnsentCount, 2))
		}), TagUnsentDate, ErrMissingTag},
		{"shift close without its warnings", withTags(5, report(5), func(b []byte) []byte {
			b = AppendUint32(shift(b), TagShiftDocs, 1)
			b = AppendUint32(AppendUint32(b, TagShiftReceipts, 0), TagUnsentCount, 0)
			return AppendUint32(b, TagUnsentDate, 0)
		}), TagWarnResource, ErrMissingTag},
		{"state report without 1002", withTags(21, func() []byte {
			return must(t)(appendHead(nil, NameStateReport, &testReport().Seller))
		}, func(b []byte) []byte {
			return AppendUint32(AppendUint32(AppendUint32(b, TagUnsentCount, 0), TagUnsentDate, 0), TagUnsentFirst, 0)
		}), TagAutonomous, ErrMissingTag},
		{"state report without 1116", withTags(21, report(21), func(b []byte) []byte {
			return AppendUint32(AppendUint32(b, TagUnsentCount, 0), TagUnsentDate, 0)
		}), TagUnsentFirst, ErrMissingTag},
		{"correction with an empty 1179", withTags(31, func() []byte {
			r := testReceipt()
			r.Correction = &Correction{Name: "Акт", Date: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
			return must(t)(r.AppendTLV(nil))
		}, shiftAndReceipt), TagBasisNumber, ErrEmptyTag},
		{"correction without 1021", withTags(31, func() []byte {
			r := testReceipt()
			r.Cashier, r.CashierINN = "", ""
			r.Correction = &Correction{Name: "Акт", Date: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Number: "1"}
			return must(t)(r.AppendTLV(nil))
		}, shiftAndReceipt), TagCashier, ErrMissingTag},
		{"1199 = 13", withTags(3, func() []byte {
			r := testReceipt()
			r.Items[0].VAT = 13
			return must(t)(r.AppendTLV(nil))
		}, shiftAndReceipt), TagVATRate, ErrBadValue},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := CheckDocument(c.doc())
			var te *TagError
			if !errors.As(err, &te) || te.Tag != c.tag || !errors.Is(err, c.err) {
				t.Fatalf("error %v, want tag %d: %v", err, c.tag, c.err)
			}
		})
	}
}

// TestCheckForbidden: a tag where its context does not list it decodes (an
// archive keeps what an earlier version wrote) but fails the check.
func TestCheckForbidden(t *testing.T) {
	cases := []struct {
		name   string
		in     []byte
		tag    Tag
		offset int
	}{
		{"item field at top level", wrap(DocReceipt, unhex(t, "06 04 01 00 41")), 1030, 4},
		{"item in a shift report", wrap(DocShiftOpen, unhex(t, "23 04 00 00")), 1059, 4},
		{"item in a correction", wrap(DocCorrection, unhex(t, "23 04 00 00")), 1059, 4},
		{"receipt tag inside an item", wrap(DocReceipt, unhex(t, "23 04 05 00 1E 04 01 00 01")), 1054, 8},
		{"1188 on a shift close", wrap(DocShiftClose, unhex(t, "A4 04 03 00 31 2E 30")), 1188, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Decode(c.in); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			_, err := CheckDocument(c.in)
			var te *TagError
			if !errors.Is(err, ErrForbiddenTag) || !errors.As(err, &te) || te.Tag != c.tag || te.Offset != c.offset {
				t.Fatalf("CheckDocument = %v, want tag %d at offset %d forbidden", err, c.tag, c.offset)
			}
		})
	}
}
