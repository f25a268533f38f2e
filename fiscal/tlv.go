// Package fiscal owns the fiscal documents of FFD 1.05: the tag registry, the TLV
// encoding and decoding, the document model with its builders and validation, and
// the checksums and signs that travel with a document. It never talks to a drive,
// a printer or a network; those packages build on it. Its builders write only
// the register's elements: numbering, dating and signing a document (1040,
// 1041, 1012, 1038, 1042, 1077) is the drive's and must never happen here.
package fiscal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Tag is an FFD tag number; a document's own tag is its document type.
type Tag uint16

// Document types: the tag of a document's outer STLV.
const (
	DocRegistration       Tag = 1
	DocShiftOpen          Tag = 2
	DocReceipt            Tag = 3
	DocBSO                Tag = 4
	DocShiftClose         Tag = 5
	DocDriveClose         Tag = 6
	DocOperatorAck        Tag = 7
	DocRegistrationChange Tag = 11
	DocStateReport        Tag = 21
	DocCorrection         Tag = 31
	DocCorrectionBSO      Tag = 41
)

// ErrTruncated reports TLV input that ends inside an element's header or value.
var ErrTruncated = errors.New("fiscal: truncated TLV")

// MaxValueLen is the largest length a TLV header can state.
const MaxValueLen = 0xFFFF

// AppendTLV appends one element with the raw value v.
func AppendTLV(dst []byte, t Tag, v []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(t))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// AppendByte appends a one-byte element.
func AppendByte(dst []byte, t Tag, v byte) []byte {
	dst = appendHeader(dst, t, 1)
	return append(dst, v)
}

// AppendUint16 appends a uint16 element, little-endian.
func AppendUint16(dst []byte, t Tag, v uint16) []byte {
	dst = appendHeader(dst, t, 2)
	return binary.LittleEndian.AppendUint16(dst, v)
}

// AppendUint32 appends a uint32 element, little-endian.
func AppendUint32(dst []byte, t Tag, v uint32) []byte {
	dst = appendHeader(dst, t, 4)
	return binary.LittleEndian.AppendUint32(dst, v)
}

// AppendVLN appends a variable-length unsigned integer: little-endian in as few
// bytes as it needs (one byte for zero).
func AppendVLN(dst []byte, t Tag, v uint64) []byte {
	n := vlnLen(v)
	dst = appendHeader(dst, t, n)
	for i := 0; i < n; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// AppendFVLN appends a fixed-point number: the count of decimal digits after the
// point, then the integer value as a VLN. 1.5 is AppendFVLN(dst, t, 15, 1).
func AppendFVLN(dst []byte, t Tag, v uint64, decimals uint8) []byte {
	n := vlnLen(v)
	dst = appendHeader(dst, t, 1+n)
	dst = append(dst, decimals)
	for i := 0; i < n; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// AppendTime appends a unixtime element. FFD writes the register's local wall
// clock as if it were UTC, so the zone offset of tm is added before encoding.
func AppendTime(dst []byte, t Tag, tm time.Time) []byte {
	return AppendUint32(dst, t, uint32(LocalUnix(tm)))
}

// LocalUnix is tm's wall clock read as UTC, in seconds: the FFD unixtime.
func LocalUnix(tm time.Time) int64 {
	_, off := tm.Zone()
	return tm.Unix() + int64(off)
}

// AppendString appends a string element encoded in CP866: typographic quotes
// and dashes become their plain forms and accented letters their base letters
// (see CP866Byte); any other character CP866 cannot hold is written as
// CP866StandIn, one byte for one character, so a shop's name is never refused
// for a letter the code page lacks.
func AppendString(dst []byte, t Tag, s string) ([]byte, error) {
	start := len(dst)
	dst = appendHeader(dst, t, 0)
	for _, r := range s {
		b, ok := CP866Byte(r)
		if !ok {
			b = CP866StandIn
		}
		dst = append(dst, b)
	}
	n := len(dst) - start - 4
	if n > MaxValueLen {
		return dst[:start], fmt.Errorf("fiscal: tag %d: value of %d bytes does not fit a TLV", t, n)
	}
	binary.LittleEndian.PutUint16(dst[start+2:], uint16(n))
	return dst, nil
}

// CP866StandIn is what a character with no CP866 form at all (€, ☕, 中) is
// written as: visible on the receipt and in the OFD's copy, where dropping it
// would silently change a name.
const CP866StandIn = '?'

// CP866Byte encodes one character in CP866, or the nearest one the code page
// has. The typographic quotes, dashes and spaces that shops' product names
// carry become the plain ones a register prints (« » “ ” → ", – — → -); a
// letter with diacritics CP866 lacks becomes its base letter by Unicode
// decomposition (à → a, ç → c, Ő → O), as receipt printers' drivers write
// "Lavazza Qualità" and "Crème brûlée"; a few letters without a decomposition
// take the letter they are read as (ø → o, ł → l, і → i). It reports false
// for a character with none of these (AppendString then writes CP866StandIn).
// ASCII and the Russian alphabet, nearly all a receipt holds, skip the code
// page's table search.
func CP866Byte(r rune) (byte, bool) {
	switch {
	case r < 0x80:
		return byte(r), true
	case r >= 'А' && r <= 'п':
		return byte(0x80 + r - 'А'), true
	case r >= 'р' && r <= 'я':
		return byte(0xE0 + r - 'р'), true
	}
	if b, ok := charmap.CodePage866.EncodeRune(r); ok {
		return b, true
	}
	if b, ok := typographic[r]; ok {
		return b, true
	}
	return nearest(r)
}

// typographic are the plain forms of characters outside CP866, and the letters
// that have no decomposition but one obvious reading.
var typographic = map[rune]byte{'«': '"', '»': '"', '„': '"', '“': '"', '”': '"', '‘': '\'', '’': '\'',
	'–': '-', '—': '-', '−': '-', '×': 'x', '\u00A0': ' ', '\u2009': ' ', '\u202F': ' ',
	'ø': 'o', 'Ø': 'O', 'ł': 'l', 'Ł': 'L', 'đ': 'd', 'Đ': 'D', 'ı': 'i', 'і': 'i', 'І': 'I'}

// nearest is the CP866 byte of r's base letter when r decomposes (NFD) into a
// letter CP866 has followed by combining marks only.
func nearest(r rune) (byte, bool) {
	d := norm.NFD.String(string(r))
	base, n := utf8.DecodeRuneInString(d)
	if n == len(d) || base == r {
		return 0, false
	}
	for _, m := range d[n:] {
		if !unicode.Is(unicode.Mn, m) {
			return 0, false
		}
	}
	if base < 0x80 {
		return byte(base), true
	}
	return charmap.CodePage866.EncodeRune(base)
}

// CP866Text is s as it reads once written in CP866 by AppendString: nearest
// letters, plain quotes and dashes, CP866StandIn for the rest.
func CP866Text(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		c, ok := CP866Byte(r)
		if !ok {
			c = CP866StandIn
		}
		b = append(b, c)
	}
	return DecodeString(b)
}

// BeginSTLV appends the header of a nested element and returns where it starts;
// EndSTLV closes it once its children are appended.
func BeginSTLV(dst []byte, t Tag) ([]byte, int) {
	return appendHeader(dst, t, 0), len(dst)
}

// EndSTLV writes the length of the STLV begun at mark.
func EndSTLV(dst []byte, mark int) []byte {
	binary.LittleEndian.PutUint16(dst[mark+2:], uint16(len(dst)-mark-4))
	return dst
}

// DecodeString decodes CP866 bytes.
func DecodeString(v []byte) string {
	out := make([]rune, 0, len(v))
	for _, b := range v {
		out = append(out, charmap.CodePage866.DecodeByte(b))
	}
	return string(out)
}

// RawElement is one undecoded element: its tag, its value and the offset of its
// header within the buffer it was split from.
type RawElement struct {
	Tag    Tag
	Value  []byte
	Offset int
}

// NextElement reads the element starting at b[off:] and returns it with the offset
// just past it.
func NextElement(b []byte, off int) (RawElement, int, error) {
	if len(b)-off < 4 {
		return RawElement{}, off, fmt.Errorf("%w: header at offset %d needs 4 bytes, %d left", ErrTruncated, off, len(b)-off)
	}
	t := Tag(binary.LittleEndian.Uint16(b[off:]))
	n := int(binary.LittleEndian.Uint16(b[off+2:]))
	if len(b)-off-4 < n {
		return RawElement{}, off, fmt.Errorf("%w: tag %d at offset %d states %d bytes, %d left", ErrTruncated, t, off, n, len(b)-off-4)
	}
	return RawElement{Tag: t, Value: b[off+4 : off+4+n : off+4+n], Offset: off}, off + 4 + n, nil
}

// SplitElements splits a run of elements (a document's value) without decoding them.
func SplitElements(b []byte) ([]RawElement, error) {
	var out []RawElement
	for off := 0; off < len(b); {
		e, next, err := NextElement(b, off)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		off = next
	}
	return out, nil
}

// VLN reads a little-endian unsigned integer of up to 8 bytes.
func VLN(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, fmt.Errorf("fiscal: VLN of %d bytes", len(v))
	}
	var x uint64
	for i, b := range v {
		x |= uint64(b) << (8 * i)
	}
	return x, nil
}

func appendHeader(dst []byte, t Tag, n int) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(t))
	return binary.LittleEndian.AppendUint16(dst, uint16(n))
}

func vlnLen(v uint64) int {
	if v == 0 {
		return 1
	}
	return (bits.Len64(v) + 7) / 8
}
