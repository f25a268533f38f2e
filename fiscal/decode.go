package fiscal

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Conditions the decoder reports, always wrapped in a *TagError that names the
// tag and the byte offset. Truncated input is ErrTruncated.
var (
	ErrUnknownTag    = errors.New("unknown tag")
	ErrForbiddenTag  = errors.New("tag not allowed here")
	ErrDuplicateTag  = errors.New("tag repeated")
	ErrBadLength     = errors.New("bad length")
	ErrTrailingBytes = errors.New("trailing bytes")
	ErrMissingTag    = errors.New("required tag missing")
	ErrEmptyTag      = errors.New("required tag empty")
	ErrBadValue      = errors.New("value out of range")
	ErrNotDocument   = errors.New("not a document type")
)

// TagError is a decoding or completeness failure at one element. Offset is the
// position of the element's header in the decoded input; for a missing tag it is
// the offset of the document or STLV that lacks it.
type TagError struct {
	Tag    Tag
	Offset int
	Err    error
}

func (e *TagError) Error() string {
	return fmt.Sprintf("fiscal: tag %d at offset %d: %v", e.Tag, e.Offset, e.Err)
}

func (e *TagError) Unwrap() error { return e.Err }

// docTypes are the documents the registry describes (BSOs are not kassa's).
var docTypes = map[Tag]bool{DocRegistration: true, DocRegistrationChange: true, DocShiftOpen: true,
	DocStateReport: true, DocReceipt: true, DocCorrection: true, DocShiftClose: true, DocDriveClose: true,
	DocOperatorAck: true}

// Element is one decoded element. Value is the raw value (for an STLV, its
// children's bytes); Children holds an STLV's elements. Value aliases the
// decoded input.
type Element struct {
	Tag      Tag
	Offset   int
	Value    []byte
	Children Elements
}

// Elements is a run of elements: a document's top level or an STLV's children.
type Elements []Element

// Document is a decoded fiscal document: its type (the outer tag) and its
// top-level elements, with typed access through the embedded Elements:
// doc.Uint(1040), doc.String(1048), doc.All(1059).
type Document struct {
	Type Tag
	Elements
}

// Decode parses a whole document STLV, header included. It refuses truncated
// input, trailing bytes, unknown tags, repeats of tags that do not repeat, and
// lengths wrong for the tag's type or over its maximum. Whether each tag may
// stand where it does and whether the required ones are there is the tag
// tables' business, which Check (and CheckDocument) apply: a document signed
// under earlier tables, read back from a drive's archive, still decodes.
func Decode(b []byte) (*Document, error) {
	outer, next, err := NextElement(b, 0)
	if err != nil {
		return nil, err
	}
	if !docTypes[outer.Tag] {
		return nil, &TagError{Tag: outer.Tag, Offset: 0, Err: ErrNotDocument}
	}
	if next != len(b) {
		return nil, &TagError{Tag: outer.Tag, Offset: next, Err: fmt.Errorf("%w: %d bytes after the document", ErrTrailingBytes, len(b)-next)}
	}
	els, err := decodeElements(b, 4, next, outer.Tag)
	if err != nil {
		return nil, err
	}
	return &Document{Type: outer.Tag, Elements: els}, nil
}

// decodeElements parses b[start:end] as the children of ctx; offsets stay absolute.
// ctx decides nothing here but is kept for the errors' sake.
func decodeElements(b []byte, start, end int, ctx Tag) (Elements, error) {
	var out Elements
	for off := start; off < end; {
		raw, next, err := NextElement(b[:end], off) // names the tag and the absolute offset
		if err != nil {
			return nil, err
		}
		ti, ok := tagInfos[raw.Tag]
		if !ok {
			return nil, &TagError{Tag: raw.Tag, Offset: off, Err: ErrUnknownTag}
		}
		if !ti.Repeat {
			for _, e := range out {
				if e.Tag == raw.Tag {
					return nil, &TagError{Tag: raw.Tag, Offset: off, Err: fmt.Errorf("%w: first at offset %d", ErrDuplicateTag, e.Offset)}
				}
			}
		}
		if err := checkLength(ti, len(raw.Value)); err != nil {
			return nil, &TagError{Tag: raw.Tag, Offset: off, Err: err}
		}
		el := Element{Tag: raw.Tag, Offset: off, Value: raw.Value}
		if ti.Type == TypeSTLV {
			if el.Children, err = decodeElements(b, off+4, next, raw.Tag); err != nil {
				return nil, err
			}
		}
		out = append(out, el)
		off = next
	}
	return out, nil
}

func checkLength(ti TagInfo, n int) error {
	want := -1
	switch ti.Type {
	case TypeByte:
		want = 1
	case TypeUint16:
		want = 2
	case TypeUint32, TypeTime:
		want = 4
	case TypeVLN:
		if n == 0 {
			return fmt.Errorf("%w: empty VLN", ErrBadLength)
		}
	case TypeFVLN:
		if n < 2 {
			return fmt.Errorf("%w: FVLN of %d bytes, want at least 2", ErrBadLength, n)
		}
	}
	if ti.Fixed {
		want = ti.Max
	}
	if want >= 0 && n != want {
		return fmt.Errorf("%w: %s of %d bytes, want %d", ErrBadLength, ti.Type, n, want)
	}
	if n > ti.Max {
		return fmt.Errorf("%w: %s of %d bytes, max %d", ErrBadLength, ti.Type, n, ti.Max)
	}
	return nil
}

// Check applies the tag tables to a decoded document: the first tag its
// context forbids (ErrForbiddenTag), then what CheckRequired reports.
func (d *Document) Check() error {
	if err := checkForbidden(d.Type, d.Elements); err != nil {
		return err
	}
	return d.CheckRequired()
}

func checkForbidden(ctx Tag, els Elements) error {
	for _, e := range els {
		if PresenceIn(ctx, e.Tag) == Forbidden {
			return &TagError{Tag: e.Tag, Offset: e.Offset, Err: fmt.Errorf("%w: inside %d", ErrForbiddenTag, ctx)}
		}
		if tagInfos[e.Tag].Type == TypeSTLV {
			if err := checkForbidden(e.Tag, e.Children); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckRequired reports the first required tag missing from the document or
// from one of its STLVs, walking in document order, a required string that is
// empty (1179 of a correction, say), and the rules that depend on a value: 1036
// with 1001 = 1 on the registration reports; 1098 (and, on the state report,
// 1116) when 1097 counts unsent documents; 1199 and 1054 within their values.
// Errors are *TagError wrapping ErrMissingTag, ErrEmptyTag or ErrBadValue.
func (d *Document) CheckRequired() error {
	if err := checkRequired(d.Type, 0, d.Elements); err != nil {
		return err
	}
	return d.checkConditions()
}

func checkRequired(ctx Tag, off int, els Elements) error {
	for _, t := range RequiredIn(ctx) {
		e, ok := els.Get(t)
		if !ok {
			return &TagError{Tag: t, Offset: off, Err: fmt.Errorf("%w: in %d", ErrMissingTag, ctx)}
		}
		if tagInfos[t].Type == TypeString && len(e.Value) == 0 {
			return &TagError{Tag: t, Offset: e.Offset, Err: fmt.Errorf("%w: in %d", ErrEmptyTag, ctx)}
		}
	}
	for _, e := range els {
		if e.Tag == TagVATRate && !VATRate(e.Uint()).Valid() {
			return &TagError{Tag: e.Tag, Offset: e.Offset, Err: fmt.Errorf("%w: VAT rate %d, want 1..%d", ErrBadValue, e.Uint(), MaxVATRate)}
		}
		if tagInfos[e.Tag].Type == TypeSTLV {
			if err := checkRequired(e.Tag, e.Offset, e.Children); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkConditions applies the rules of the tables that depend on a value.
func (d *Document) checkConditions() error {
	need := func(t Tag, why string) error {
		e, ok := d.Get(t)
		switch {
		case !ok:
			return &TagError{Tag: t, Offset: 0, Err: fmt.Errorf("%w: in %d, %s", ErrMissingTag, d.Type, why)}
		case len(e.Value) == 0:
			return &TagError{Tag: t, Offset: e.Offset, Err: fmt.Errorf("%w: in %d, %s", ErrEmptyTag, d.Type, why)}
		}
		return nil
	}
	switch d.Type {
	case DocRegistration, DocRegistrationChange:
		if v, _ := d.Uint(TagAutomatic); v == 1 {
			return need(TagVendingMachine, "required with 1001 = 1 (automatic mode)")
		}
	case DocShiftClose, DocStateReport:
		if n, _ := d.Uint(TagUnsentCount); n > 0 {
			if err := need(TagUnsentDate, "required while 1097 counts unsent documents"); err != nil {
				return err
			}
			if d.Type == DocStateReport {
				return need(TagUnsentFirst, "required while 1097 counts unsent documents")
			}
		}
	case DocReceipt, DocCorrection:
		sign, _ := d.Uint(TagCalcSign)
		ok := sign >= 1 && sign <= 4
		if d.Type == DocCorrection {
			ok = sign == 1 || sign == 3
		}
		if !ok {
			e, _ := d.Get(TagCalcSign)
			return &TagError{Tag: TagCalcSign, Offset: e.Offset, Err: fmt.Errorf("%w: calculation sign %d in %d", ErrBadValue, sign, d.Type)}
		}
	}
	return nil
}

// CheckDocument decodes a whole document (its STLV, header included, as the
// drive signs it and the OFD receives it) and checks it against the tag tables
// of this package: every tag known, lengths and repeats (Decode), every tag
// allowed where it stands, every required tag there and not empty, and the
// rules that depend on a value (Check). A drive calls it on the finished
// document before it signs, and refuses it as a real ФН answers a format
// error; an OFD calls it on what it receives. Errors are *TagError naming the tag.
func CheckDocument(b []byte) (*Document, error) {
	d, err := Decode(b)
	if err != nil {
		return nil, err
	}
	if err := d.Check(); err != nil {
		return d, err
	}
	return d, nil
}

// Encode is the document's STLV, header included: the bytes it was decoded from.
func (d *Document) Encode() []byte {
	return d.AppendTo(nil)
}

// AppendTo appends the document's STLV to dst.
func (d *Document) AppendTo(dst []byte) []byte {
	dst, mark := BeginSTLV(dst, d.Type)
	return EndSTLV(d.Elements.AppendTo(dst), mark)
}

// AppendTo appends the elements, rebuilding each STLV from its children.
func (es Elements) AppendTo(dst []byte) []byte {
	for _, e := range es {
		if tagInfos[e.Tag].Type == TypeSTLV {
			var mark int
			dst, mark = BeginSTLV(dst, e.Tag)
			dst = EndSTLV(e.Children.AppendTo(dst), mark)
			continue
		}
		dst = AppendTLV(dst, e.Tag, e.Value)
	}
	return dst
}

// Get returns the first element with tag t.
func (es Elements) Get(t Tag) (Element, bool) {
	for _, e := range es {
		if e.Tag == t {
			return e, true
		}
	}
	return Element{}, false
}

// All returns every element with tag t, in order (the items 1059, the phones).
func (es Elements) All(t Tag) []Element {
	var out []Element
	for _, e := range es {
		if e.Tag == t {
			out = append(out, e)
		}
	}
	return out
}

func (es Elements) typed(t Tag, types ...DataType) (Element, bool) {
	e, ok := es.Get(t)
	if !ok {
		return e, false
	}
	for _, typ := range types {
		if tagInfos[t].Type == typ {
			return e, true
		}
	}
	return e, false
}

// Uint is the value of t when t is an integer (byte, uint16, uint32, VLN).
func (es Elements) Uint(t Tag) (uint64, bool) {
	e, ok := es.typed(t, TypeByte, TypeUint16, TypeUint32, TypeVLN)
	return e.Uint(), ok
}

// Money is the value of a VLN sum in kopecks.
func (es Elements) Money(t Tag) (int64, bool) {
	e, ok := es.typed(t, TypeVLN)
	return int64(e.Uint()), ok
}

// String is the text of a string tag, padding included (INNs carry trailing spaces).
func (es Elements) String(t Tag) (string, bool) {
	e, ok := es.typed(t, TypeString)
	return e.Text(), ok
}

// Time is a unixtime tag as the register's wall clock, in UTC (see AppendTime).
func (es Elements) Time(t Tag) (time.Time, bool) {
	e, ok := es.typed(t, TypeTime)
	if !ok {
		return time.Time{}, false
	}
	return e.Time(), true
}

// Quantity is an FVLN tag.
func (es Elements) Quantity(t Tag) (Quantity, bool) {
	e, ok := es.typed(t, TypeFVLN)
	return e.Quantity(), ok
}

// Bytes is the raw value of a bytes tag (1077, 1078, 1162).
func (es Elements) Bytes(t Tag) ([]byte, bool) {
	e, ok := es.typed(t, TypeBytes)
	return e.Value, ok
}

// Info is the registry's entry for the element's tag.
func (e Element) Info() TagInfo { return tagInfos[e.Tag] }

// Uint reads an integer value (byte, uint16, uint32, VLN, or a unixtime's
// seconds), little-endian; 0 for values of other types.
func (e Element) Uint() uint64 {
	switch e.Info().Type {
	case TypeByte, TypeUint16, TypeUint32, TypeVLN, TypeTime:
		v, _ := VLN(e.Value)
		return v
	}
	return 0
}

// Text decodes a string value from CP866; "" for values that are not strings.
func (e Element) Text() string {
	if e.Info().Type != TypeString {
		return ""
	}
	return DecodeString(e.Value)
}

// Time reads a unixtime as the register's wall clock in UTC.
func (e Element) Time() time.Time {
	if e.Info().Type != TypeTime || len(e.Value) != 4 {
		return time.Time{}
	}
	return time.Unix(int64(binary.LittleEndian.Uint32(e.Value)), 0).UTC()
}

// Quantity reads an FVLN value.
func (e Element) Quantity() Quantity {
	if e.Info().Type != TypeFVLN || len(e.Value) < 2 {
		return Quantity{}
	}
	v, _ := VLN(e.Value[1:])
	return Quantity{Value: v, Decimals: e.Value[0]}
}

// String is the quantity as decimal text with its own number of decimals ("1.500").
func (q Quantity) String() string {
	s := strconv.FormatUint(q.Value, 10)
	d := int(q.Decimals)
	if d == 0 {
		return s
	}
	for len(s) <= d {
		s = "0" + s
	}
	return s[:len(s)-d] + "." + s[len(s)-d:]
}

// TimeLayout is how the JSON form writes unixtime values: the wall clock, no zone.
const TimeLayout = "2006-01-02T15:04:05"

type jsonElement struct {
	Tag   Tag    `json:"tag"`
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// MarshalJSON writes the document as {"type", "name", "elements"}, each element
// with its tag number, name and decoded value.
func (d *Document) MarshalJSON() ([]byte, error) {
	els := d.Elements
	if els == nil {
		els = Elements{}
	}
	return json.Marshal(struct {
		Type     Tag      `json:"type"`
		Name     string   `json:"name"`
		Elements Elements `json:"elements"`
	}{d.Type, tagInfos[d.Type].Name, els})
}

// MarshalJSON writes {"tag", "name", "value"}: integers as numbers, quantities
// as decimal text, times as wall clock (TimeLayout), bytes as hex, STLVs as
// nested arrays of elements.
func (e Element) MarshalJSON() ([]byte, error) {
	ti := e.Info()
	je := jsonElement{Tag: e.Tag, Name: ti.Name}
	switch ti.Type {
	case TypeByte, TypeUint16, TypeUint32, TypeVLN:
		je.Value = e.Uint()
	case TypeFVLN:
		je.Value = e.Quantity().String()
	case TypeString:
		je.Value = e.Text()
	case TypeTime:
		je.Value = e.Time().Format(TimeLayout)
	case TypeSTLV:
		if e.Children == nil {
			je.Value = Elements{}
		} else {
			je.Value = e.Children
		}
	default:
		je.Value = hex.EncodeToString(e.Value)
	}
	return json.Marshal(je)
}
