package fiscal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wrap puts hand-written elements into a document (or STLV) of type t.
func wrap(t Tag, elements []byte) []byte {
	out := binary.LittleEndian.AppendUint16(nil, uint16(t))
	out = binary.LittleEndian.AppendUint16(out, uint16(len(elements)))
	return append(out, elements...)
}

func TestDecodeTypes(t *testing.T) {
	cases := []struct {
		name   string
		ctx    Tag    // where the element may stand: a document type, or 1059 inside a receipt
		hex    string // the element, written by hand
		encode func() []byte
		json   string // its JSON value
	}{
		{"byte", DocReceipt, "1E 04 01 00 04", // 1054 = 4
			func() []byte { return AppendByte(nil, 1054, 4) }, `4`},
		{"uint32", DocReceipt, "10 04 04 00 2A 01 00 00", // 1040 = 298
			func() []byte { return AppendUint32(nil, 1040, 298) }, `298`},
		{"VLN zero", DocReceipt, "FC 03 01 00 00", // 1020 = 0
			func() []byte { return AppendVLN(nil, 1020, 0) }, `0`},
		{"VLN 3 bytes", DocReceipt, "FC 03 03 00 0D 1F 01", // 1020 = 73485
			func() []byte { return AppendVLN(nil, 1020, 73485) }, `73485`},
		{"VLN 6-byte maximum", DocReceipt, "FC 03 06 00 FF FF FF FF FF FF", // 1020 = 2^48-1
			func() []byte { return AppendVLN(nil, 1020, MaxMoney) }, `281474976710655`},
		{"FVLN", DocReceipt, "23 04 06 00 FF 03 02 00 01 0F", // 1059 { 1023 = 1.5 }
			func() []byte {
				b, m := BeginSTLV(nil, 1059)
				return EndSTLV(AppendFVLN(b, 1023, 15, 1), m)
			}, `[{"tag":1023,"name":"количество предмета расчёта","value":"1.5"}]`},
		{"FVLN 8-byte maximum", DocReceipt, "23 04 0C 00 FF 03 08 00 03 FF FF FF FF FF FF FF", // 1023 = (2^56-1)/1000
			func() []byte {
				b, m := BeginSTLV(nil, 1059)
				return EndSTLV(AppendFVLN(b, 1023, 1<<56-1, 3), m)
			}, `[{"tag":1023,"name":"количество предмета расчёта","value":"72057594037927.935"}]`},
		{"CP866 string", DocReceipt, "18 04 0B 00 8E 8E 8E 20 90 AE AC A0 E8 AA A0", // 1048 "ООО Ромашка"
			func() []byte { b, _ := AppendString(nil, 1048, "ООО Ромашка"); return b }, `"ООО Ромашка"`},
		{"string ё and №", DocReceipt, "F1 03 03 00 F1 FC 31", // 1009 "ё№1"
			func() []byte { b, _ := AppendString(nil, 1009, "ё№1"); return b }, `"ё№1"`},
		{"unixtime", DocReceipt, "F4 03 04 00 E0 DE 02 6B", // 1012 = 2026-11-22 12:24:00 wall clock
			func() []byte {
				return AppendTime(nil, 1012, time.Date(2026, 11, 22, 12, 24, 0, 0, time.FixedZone("MSK", 3*3600)))
			}, `"2026-11-22T12:24:00"`},
		{"bytes", DocReceipt, "35 04 06 00 00 00 DE AD BE EF", // 1077
			func() []byte { return AppendTLV(nil, 1077, FiscalSignValue(0xDEADBEEF)) }, `"0000deadbeef"`},
		{"nested STLV", DocReceipt, "3C 04 0D 00 3D 04 02 00 69 64 3E 04 03 00 41 2D 31", // 1084 {1085 "id", 1086 "A-1"}
			func() []byte {
				b, m := BeginSTLV(nil, 1084)
				b, _ = AppendString(b, 1085, "id")
				b, _ = AppendString(b, 1086, "A-1")
				return EndSTLV(b, m)
			}, `[{"tag":1085,"name":"наименование доп. реквизита","value":"id"},{"tag":1086,"name":"значение доп. реквизита","value":"A-1"}]`},
		{"empty STLV", DocReceipt, "23 04 00 00", // 1059 {}
			func() []byte { b, m := BeginSTLV(nil, 1059); return EndSTLV(b, m) }, `[]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			el := unhex(t, c.hex)
			doc, err := Decode(wrap(c.ctx, el))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if enc := c.encode(); !bytes.Equal(enc, el) {
				t.Errorf("encoder wrote %X, want %X", enc, el)
			}
			if len(doc.Elements) != 1 || doc.Elements[0].Offset != 4 {
				t.Fatalf("elements %+v, want one at offset 4", doc.Elements)
			}
			if got := doc.Encode(); !bytes.Equal(got, wrap(c.ctx, el)) {
				t.Errorf("re-encoded %X, want %X", got, wrap(c.ctx, el))
			}
			j, err := json.Marshal(doc.Elements[0])
			if err != nil {
				t.Fatal(err)
			}
			var got struct{ Value json.RawMessage }
			if err := json.Unmarshal(j, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.Value) != c.json {
				t.Errorf("JSON value %s, want %s", got.Value, c.json)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name   string
		in     []byte
		want   error
		tag    Tag
		offset int
	}{
		{"truncated header", unhex(t, "03 00 05"), ErrTruncated, 0, -1},
		{"truncated value", unhex(t, "03 00 09 00 1E 04 01 00 01 1F 04 01"), ErrTruncated, 0, -1},
		{"truncated inside", wrap(DocReceipt, unhex(t, "1E 04 02 00 01")), ErrTruncated, 0, -1},
		{"not a document", wrap(1059, nil), ErrNotDocument, 1059, 0},
		{"trailing bytes", append(wrap(DocReceipt, unhex(t, "1E 04 01 00 01")), 0), ErrTrailingBytes, 3, 9},
		{"unknown tag", wrap(DocReceipt, unhex(t, "1E 04 01 00 01 0F 27 00 00")), ErrUnknownTag, 9999, 9},
		{"repeated tag", wrap(DocReceipt, unhex(t, "1E 04 01 00 01 1E 04 01 00 02")), ErrDuplicateTag, 1054, 9},
		{"byte of 2", wrap(DocReceipt, unhex(t, "1E 04 02 00 01 00")), ErrBadLength, 1054, 4},
		{"byte of 0", wrap(DocReceipt, unhex(t, "1E 04 00 00")), ErrBadLength, 1054, 4},
		{"uint32 of 3", wrap(DocReceipt, unhex(t, "10 04 03 00 01 00 00")), ErrBadLength, 1040, 4},
		{"unixtime of 5", wrap(DocReceipt, unhex(t, "F4 03 05 00 00 00 00 00 00")), ErrBadLength, 1012, 4},
		{"VLN of 7", wrap(DocReceipt, unhex(t, "FC 03 07 00 01 02 03 04 05 06 07")), ErrBadLength, 1020, 4},
		{"empty VLN", wrap(DocReceipt, unhex(t, "FC 03 00 00")), ErrBadLength, 1020, 4},
		{"FVLN of 1", wrap(DocReceipt, unhex(t, "23 04 05 00 FF 03 01 00 00")), ErrBadLength, 1023, 8},
		{"FVLN of 9", wrap(DocReceipt, unhex(t, "23 04 0D 00 FF 03 09 00 00 01 02 03 04 05 06 07 08")), ErrBadLength, 1023, 8},
		{"string over max", wrap(DocReceipt, append(unhex(t, "FD 03 41 00"), bytes.Repeat([]byte{0xA0}, 65)...)), ErrBadLength, 1021, 4},
		{"fiscal sign of 5", wrap(DocReceipt, unhex(t, "35 04 05 00 00 00 01 02 03")), ErrBadLength, 1077, 4},
		{"drive number of 15", wrap(DocReceipt, append(unhex(t, "11 04 0F 00"), bytes.Repeat([]byte{'9'}, 15)...)), ErrBadLength, 1041, 4},
		{"STLV over max", wrap(DocReceipt, append(unhex(t, "3C 04 49 01 3E 04 45 01"), bytes.Repeat([]byte{'x'}, 325)...)), ErrBadLength, 1084, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc, err := Decode(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode = %v, %v; want %v", doc, err, c.want)
			}
			if c.offset < 0 {
				return
			}
			var te *TagError
			if !errors.As(err, &te) {
				t.Fatalf("%v is not a *TagError", err)
			}
			if te.Tag != c.tag || te.Offset != c.offset {
				t.Errorf("error at tag %d offset %d, want tag %d offset %d", te.Tag, te.Offset, c.tag, c.offset)
			}
			if msg := err.Error(); !strings.Contains(msg, "offset") {
				t.Errorf("message %q does not name the offset", msg)
			}
		})
	}
}

func TestCheckRequired(t *testing.T) {
	good := signed(t, DocReceipt, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt)
	doc, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.CheckRequired(); err != nil {
		t.Fatalf("CheckRequired on a whole receipt: %v", err)
	}

	// The drive's numbers are required in a receipt: drop 1042.
	noNumber := make(Elements, 0, len(doc.Elements))
	for _, e := range doc.Elements {
		if e.Tag != TagReceiptNumber {
			noNumber = append(noNumber, e)
		}
	}
	d2 := &Document{Type: DocReceipt, Elements: noNumber}
	var te *TagError
	if err := d2.CheckRequired(); !errors.Is(err, ErrMissingTag) || !errors.As(err, &te) || te.Tag != TagReceiptNumber || te.Offset != 0 {
		t.Fatalf("CheckRequired without 1042 = %v, want missing 1042 at offset 0", err)
	}

	// An item without its price: the error points at the item.
	item := doc.All(TagItem)[1]
	bad := bytes.Replace(good, unhex(t, "37 04 02 00 1E 23"), unhex(t, "AD 04 02 00 41 41"), 1) // 1079 → 1197 "AA"
	bad = bytes.Replace(bad, unhex(t, "AD 04 02 00 AA A3"), nil, 1)                             // drop the unit, no repeat
	bad = fixLengths(t, bad, item.Offset, -6)
	d3, err := Decode(bad)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := d3.CheckRequired(); !errors.Is(err, ErrMissingTag) || !errors.As(err, &te) || te.Tag != TagPrice || te.Offset != item.Offset {
		t.Fatalf("CheckRequired = %v, want 1079 missing in the item at offset %d", err, item.Offset)
	}
}

// fixLengths shrinks the outer document and the STLV at off by delta bytes.
func fixLengths(t *testing.T, b []byte, off, delta int) []byte {
	t.Helper()
	for _, at := range []int{0, off} {
		n := int(binary.LittleEndian.Uint16(b[at+2:])) + delta
		binary.LittleEndian.PutUint16(b[at+2:], uint16(n))
	}
	return b
}

func TestDocumentAccess(t *testing.T) {
	doc, err := Decode(signed(t, DocReceipt, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Type != DocReceipt {
		t.Errorf("Type = %d", doc.Type)
	}
	if v, ok := doc.Uint(TagDocNumber); !ok || v != 42 {
		t.Errorf("Uint(1040) = %d, %v", v, ok)
	}
	if v, ok := doc.String(TagUserINN); !ok || v != "7707083893  " {
		t.Errorf("String(1018) = %q, %v", v, ok)
	}
	if v, ok := doc.Money(TagTotal); !ok || v != 73485 {
		t.Errorf("Money(1020) = %d, %v", v, ok)
	}
	if v, ok := doc.Time(TagDateTime); !ok || v.Format(TimeLayout) != "2026-11-22T12:24:00" {
		t.Errorf("Time(1012) = %v, %v", v, ok)
	}
	if _, ok := doc.String(TagTotal); ok {
		t.Error("String(1020) of a VLN reported ok")
	}
	if _, ok := doc.Uint(TagBuyerName); ok {
		t.Error("Uint(1227) of an absent tag reported ok")
	}
	items := doc.All(TagItem)
	if len(items) != 3 {
		t.Fatalf("All(1059) gave %d items", len(items))
	}
	if q, ok := items[1].Children.Quantity(TagQuantity); !ok || q.String() != "1.5" {
		t.Errorf("item 2 quantity %v, %v", q, ok)
	}
	if s, _ := items[2].Children.String(TagItemName); s != "Доставка" {
		t.Errorf("item 3 name %q", s)
	}
	if fp, ok := doc.Bytes(TagFiscalSign); !ok || len(fp) != 6 {
		t.Errorf("Bytes(1077) = %X, %v", fp, ok)
	}
}

func TestQuantityString(t *testing.T) {
	for _, c := range []struct {
		q    Quantity
		want string
	}{
		{Quantity{Value: 2}, "2"},
		{Quantity{Value: 15, Decimals: 1}, "1.5"},
		{Quantity{Value: 1500, Decimals: 3}, "1.500"},
		{Quantity{Value: 5, Decimals: 3}, "0.005"},
		{Quantity{Value: 0, Decimals: 2}, "0.00"},
	} {
		if got := c.q.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.q, got, c.want)
		}
	}
}

func TestDocumentJSON(t *testing.T) {
	in := signed(t, DocReceipt, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt)
	doc, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type     int
		Name     string
		Elements []struct {
			Tag   int
			Name  string
			Value json.RawMessage
		}
	}
	if err := json.Unmarshal(j, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != 3 || got.Name != "Кассовый чек" || len(got.Elements) != len(doc.Elements) {
		t.Fatalf("JSON head %d %q %d elements", got.Type, got.Name, len(got.Elements))
	}
	want := map[int]string{
		1000: `"КАССОВЫЙ ЧЕК"`,
		1020: `73485`,
		1012: `"2026-11-22T12:24:00"`,
		1084: `[{"tag":1085,"name":"наименование доп. реквизита","value":"id"},{"tag":1086,"name":"значение доп. реквизита","value":"ord-1"}]`,
	}
	for _, e := range got.Elements {
		if w, ok := want[e.Tag]; ok {
			if string(e.Value) != w {
				t.Errorf("tag %d: JSON %s, want %s", e.Tag, e.Value, w)
			}
			delete(want, e.Tag)
		}
	}
	if len(want) != 0 {
		t.Errorf("tags missing from JSON: %v", want)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden keeps a signed receipt and its JSON form under testdata/: the bytes
// `kassa tlv decode` reads, and what it must print for them.
func TestGolden(t *testing.T) {
	in := signed(t, DocReceipt, must(t)(testReceipt().AppendTLV(nil)), shiftAndReceipt)
	doc, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	j = append(j, '\n')
	if *update {
		for name, b := range map[string][]byte{"receipt.tlv": in, "receipt.json": j} {
			if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range map[string][]byte{"receipt.tlv": in, "receipt.json": j} {
		want, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("testdata/%s differs from what the code produces; run with -update and review the diff", name)
		}
	}
}

// No tag kassa uses is a uint16; the type still has its encoder and its length rule.
func TestUint16(t *testing.T) {
	if got, want := AppendUint16(nil, 1000, 0x0102), unhex(t, "E8 03 02 00 02 01"); !bytes.Equal(got, want) {
		t.Errorf("AppendUint16 = % X, want % X", got, want)
	}
	ti := TagInfo{Tag: 1, Type: TypeUint16, Max: 2}
	for n, ok := range map[int]bool{1: false, 2: true, 3: false} {
		if err := checkLength(ti, n); (err == nil) != ok || err != nil && !errors.Is(err, ErrBadLength) {
			t.Errorf("uint16 of %d bytes: %v", n, err)
		}
	}
}
