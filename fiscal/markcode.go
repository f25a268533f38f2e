package fiscal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrMarkCode reports a scanned product code that cannot become tag 1162.
var ErrMarkCode = errors.New("fiscal: bad product code")

// Type codes of 1162 (FFD105.md, "Marked goods").
const (
	markUnknown    = 0x0000
	markEAN8       = 0x4508
	markEAN13      = 0x450D
	markITF14      = 0x490E
	markDataMatrix = 0x444D
	markFur        = 0x5246
	markEGAIS3     = 0xC51E
)

const gs = "\x1d"

// MarkCode builds the value of tag 1162 from a code as scanned or as a shop sent
// it: a GS1 DataMatrix with or without group separators (0x1D, "<GS>" or the
// text \u001d), an EAN-13, EAN-8 or ITF-14, a fur tag, an ЕГАИС 3.0 stamp, or
// anything else as an unknown code. Errors wrap ErrMarkCode and name the
// position in scanned.
func MarkCode(scanned string) ([]byte, error) {
	s := normalizeMark(scanned)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrMarkCode)
	}
	var out []byte
	switch {
	case len(s) > 18 && strings.HasPrefix(s, "01") && allDigits(s[2:16]) && (s[16:18] == "21" || strings.Contains(s, gs)):
		b, err := markGS1(s)
		if err != nil {
			return nil, err
		}
		out = b
	case allDigits(s) && (len(s) == 8 || len(s) == 13 || len(s) == 14):
		if !gtinCheck(s) {
			return nil, fmt.Errorf("%w: %d-digit code %s: check digit", ErrMarkCode, len(s), s)
		}
		typ := uint16(markITF14)
		switch len(s) {
		case 8:
			typ = markEAN8
		case 13:
			typ = markEAN13
		}
		n, _ := strconv.ParseUint(s, 10, 64)
		out = appendNumber6(binary.BigEndian.AppendUint16(nil, typ), n)
	case isFur(s):
		out = append(binary.BigEndian.AppendUint16(nil, markFur), s...)
	case len(s) == 150 && isAlnum(s):
		// (check) an ЕГАИС 3.0 stamp is 150 alphanumeric characters; 1162 keeps the first 14.
		out = append(binary.BigEndian.AppendUint16(nil, markEGAIS3), s[:14]...)
	default:
		out = append(binary.BigEndian.AppendUint16(nil, markUnknown), s...)
	}
	if len(out) > maxLen(TagMarkCode) {
		return nil, fmt.Errorf("%w: %d bytes, tag 1162 holds %d", ErrMarkCode, len(out), maxLen(TagMarkCode))
	}
	return out, nil
}

// normalizeMark turns the textual separators shops send into 0x1D and strips a
// leading symbology identifier or FNC1.
func normalizeMark(s string) string {
	s = strings.TrimSpace(s)
	for _, sep := range []string{"<GS>", "<gs>", `\u001d`, `\u001D`, "\u241d"} {
		s = strings.ReplaceAll(s, sep, gs)
	}
	for _, prefix := range []string{"]d2", "]C1", "]Q3", gs} {
		s = strings.TrimPrefix(s, prefix)
	}
	return s
}

// gs1AI is what we know of an application identifier: its length, the length of
// its value (fixed, or the maximum of a variable one), and whether 1162 keeps it.
type gs1AI struct {
	ai    string
	fixed bool
	n     int
	keep  bool
}

var gs1AIs = []gs1AI{
	{"01", true, 14, true},   // GTIN
	{"21", false, 20, true},  // serial
	{"8005", true, 6, true},  // price per unit
	{"91", false, 90, false}, // verification key
	{"92", false, 90, false}, // verification code
	{"93", false, 80, false}, // crypto tail
	{"17", true, 6, false},   // expiry date
	{"10", false, 20, false}, // batch
	{"11", true, 6, false},   // production date
	{"24", false, 30, false}, // 240, 241, … : read as a 3-digit AI below
	{"31", true, 6, false},   // 31nn, 32nn …: 4-digit AIs of measures, read below
	{"32", true, 6, false},
	{"33", true, 6, false},
	{"35", true, 6, false},
	{"36", true, 6, false},
}

func lookupAI(s string) (gs1AI, string, bool) {
	if len(s) < 2 {
		return gs1AI{}, "", false
	}
	for _, a := range gs1AIs {
		if !strings.HasPrefix(s, a.ai) {
			continue
		}
		ai := a.ai
		switch {
		case a.ai == "24":
			ai = s[:min(3, len(s))]
		case a.ai[0] == '3':
			ai = s[:min(4, len(s))]
		}
		if len(ai) != len(a.ai) && !allDigits(ai) {
			return gs1AI{}, "", false
		}
		return a, ai, true
	}
	return gs1AI{}, "", false
}

// markGS1 reads a GS1 DataMatrix: 01 GTIN and 21 serial, then 8005 if present.
func markGS1(s string) ([]byte, error) {
	separated := strings.Contains(s, gs)
	var gtin, serial, price string
	for pos := 0; pos < len(s); {
		if s[pos] == gs[0] {
			pos++
			continue
		}
		a, ai, ok := lookupAI(s[pos:])
		if !ok {
			return nil, fmt.Errorf("%w: unknown GS1 application identifier at position %d", ErrMarkCode, pos)
		}
		start := pos + len(ai)
		var end int
		switch {
		case a.fixed:
			end = start + a.n
			if end > len(s) {
				return nil, fmt.Errorf("%w: AI %s at position %d: value of %d characters, want %d", ErrMarkCode, ai, pos, len(s)-start, a.n)
			}
		case separated:
			end = len(s)
			if i := strings.IndexByte(s[start:], gs[0]); i >= 0 {
				end = start + i
			}
		case ai == "21":
			end = start + unseparatedSerial(s[start:])
		default:
			end = len(s) // a dropped variable AI without separators runs to the end
		}
		v := s[start:end]
		if !a.fixed && (len(v) == 0 || len(v) > a.n) {
			return nil, fmt.Errorf("%w: AI %s at position %d: value of %d characters, want 1..%d", ErrMarkCode, ai, pos, len(v), a.n)
		}
		switch ai {
		case "01":
			gtin = v
		case "21":
			serial = v
		case "8005":
			price = v
		}
		pos = end
	}
	if gtin == "" || serial == "" {
		return nil, fmt.Errorf("%w: a DataMatrix needs AI 01 and AI 21", ErrMarkCode)
	}
	if !allDigits(gtin) || !gtinCheck(gtin) {
		return nil, fmt.Errorf("%w: GTIN %q at position 2: want 14 digits with a valid check digit", ErrMarkCode, gtin)
	}
	for i := 0; i < len(serial); i++ {
		if serial[i] < 0x21 || serial[i] > 0x7E {
			return nil, fmt.Errorf("%w: serial %q: character %d is not printable ASCII", ErrMarkCode, serial, i)
		}
	}
	if price != "" && !allDigits(price) {
		return nil, fmt.Errorf("%w: AI 8005 %q: want 6 digits", ErrMarkCode, price)
	}
	n, _ := strconv.ParseUint(gtin, 10, 64)
	out := appendNumber6(binary.BigEndian.AppendUint16(nil, markDataMatrix), n)
	out = append(out, serial...)
	return append(out, price...), nil
}

// unseparatedSerial guesses where a serial ends in a code scanned without
// separators. (check) The serials of the marking system are 13 characters (7 on
// tobacco packs, 6 on some goods); we take the first of 13, 7, 6, then 1..20,
// that is followed by the end or by an AI that follows a serial.
func unseparatedSerial(rest string) int {
	next := []string{"91", "92", "93", "8005", "17", "10", "24", "31", "32", "33", "35", "36"}
	fits := func(n int) bool {
		if n > len(rest) {
			return false
		}
		if n == len(rest) {
			return true
		}
		for _, p := range next {
			if strings.HasPrefix(rest[n:], p) {
				return true
			}
		}
		return false
	}
	for _, n := range []int{13, 7, 6} {
		if fits(n) {
			return n
		}
	}
	for n := 1; n <= 20; n++ {
		if fits(n) {
			return n
		}
	}
	return min(len(rest), 20)
}

// gtinCheck verifies the mod-10 check digit of an EAN-8, EAN-13, ITF-14 or GTIN.
func gtinCheck(s string) bool {
	sum := 0
	for i := len(s) - 2; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-2-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10-sum%10)%10 == int(s[len(s)-1]-'0')
}

func appendNumber6(dst []byte, n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return append(dst, b[2:]...)
}

// isFur matches a fur tag: two letters, '-', 6 digits, '-', 3 letters, 7 digits.
func isFur(s string) bool {
	if len(s) != 20 || s[2] != '-' || s[9] != '-' || !allDigits(s[3:9]) || !allDigits(s[13:]) {
		return false
	}
	for _, i := range []int{0, 1, 10, 11, 12} {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
