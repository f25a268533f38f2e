package fiscal

import (
	"errors"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

func TestValidINN(t *testing.T) {
	cases := []struct {
		inn  string
		want bool
	}{
		{"7707083893", true},   // organisation
		{"7736207543", true},   // organisation
		{"7702070139", true},   // organisation
		{"500100732259", true}, // individual
		{"773173084809", true}, // individual
		{"000000000000", true}, // "no Russian INN" for a supplier (1226): its check digits are 0
		{"7707083894", false},  // last digit off
		{"1027700132", false},  // an OGRN prefix, not an INN
		{"500100732250", false},
		{"500100732269", false}, // 11th digit off
		{"7707083893  ", false}, // padding belongs to the TLV, not the INN
		{"77070838", false},
		{"77070838931", false},
		{"77070a3893", false},
		{"", false},
	}
	for _, c := range cases {
		if got := ValidINN(c.inn); got != c.want {
			t.Errorf("ValidINN(%q) = %v, want %v", c.inn, got, c.want)
		}
	}
}

// The check digits below come from CRC-16/CCITT-FALSE over the 42 ASCII digits,
// computed independently of this package.
func TestRegNumber(t *testing.T) {
	cases := []struct {
		first10, inn, serial, want string
	}{
		{"0000000001", "7707083893", "0123456789", "0000000001029375"},
		{"0000000001", "500100732259", "00106703061567", "0000000001026543"},
	}
	for _, c := range cases {
		got, err := RegNumber(c.first10, c.inn, c.serial)
		if err != nil || got != c.want {
			t.Errorf("RegNumber(%s, %s, %s) = %s, %v; want %s", c.first10, c.inn, c.serial, got, err, c.want)
		}
		if err := ValidRegNumber(c.want+"    ", c.inn+"  "[:12-len(c.inn)], c.serial); err != nil {
			t.Errorf("ValidRegNumber(%s, padded): %v", c.want, err)
		}
	}
	bad := []struct {
		name, first10, inn, serial string
	}{
		{"short first part", "000000001", "7707083893", "1"},
		{"letters in first part", "00000000A1", "7707083893", "1"},
		{"bad INN", "0000000001", "7707083894", "1"},
		{"no serial", "0000000001", "7707083893", ""},
		{"serial over 20", "0000000001", "7707083893", "123456789012345678901"},
	}
	for _, c := range bad {
		if _, err := RegNumber(c.first10, c.inn, c.serial); err == nil {
			t.Errorf("%s: RegNumber accepted it", c.name)
		}
	}
	for _, c := range []struct{ name, reg, inn, serial string }{
		{"another serial", "0000000001029375", "7707083893", "0123456788"},
		{"another INN", "0000000001029375", "500100732259", "0123456789"},
		{"check digits off", "0000000001029376", "7707083893", "0123456789"},
		{"15 digits", "000000000102937", "7707083893", "0123456789"},
	} {
		if err := ValidRegNumber(c.reg, c.inn, c.serial); !errors.Is(err, ErrRegNumber) {
			t.Errorf("%s: ValidRegNumber = %v, want ErrRegNumber", c.name, err)
		}
	}
}

func TestCRC16CheckValue(t *testing.T) {
	if got := CRC16(0xFFFF, []byte("123456789")); got != 0x29B1 {
		t.Fatalf("CRC16(123456789) = %#04x, want 0x29B1", got)
	}
	// Chaining equals one pass.
	if a, b := CRC16(CRC16(0xFFFF, []byte("1234")), []byte("56789")), CRC16(0xFFFF, []byte("123456789")); a != b {
		t.Fatalf("chained %#04x ≠ one pass %#04x", a, b)
	}
}

// TestCP866Table checks the fast path of the encoder against the code page for every byte.
func TestCP866Table(t *testing.T) {
	for b := 0; b < 256; b++ {
		r := charmap.CodePage866.DecodeByte(byte(b))
		got, ok := CP866Byte(r)
		if !ok || got != byte(b) {
			t.Errorf("CP866Byte(%q) = %#02x, %v; want %#02x", r, got, ok, b)
		}
	}
	if _, ok := CP866Byte('€'); ok {
		t.Error("cp866 encoded €")
	}
}

// Shops' product names carry typographic quotes and dashes CP866 lacks: they are
// written plain, not refused.
func TestTypographicCharactersWrittenPlain(t *testing.T) {
	got, err := AppendString(nil, TagItemName, "Книга «Кассы» — 2-е изд.")
	if err != nil {
		t.Fatal(err)
	}
	if s := DecodeString(got[4:]); s != `Книга "Кассы" - 2-е изд.` {
		t.Fatalf("written as %q", s)
	}
	if err := checkString("items[0].name", TagItemName, "«Чайник»", true); err != nil {
		t.Fatalf("typographic quotes refused: %v", err)
	}
	if err := checkString("items[0].name", TagItemName, "Чайник €", true); err != nil {
		t.Fatalf("a character with no CP866 form refused: %v (it is written as the stand-in)", err)
	}
}

// The table-driven CRC equals the polynomial division bit by bit.
func FuzzCRC16(f *testing.F) {
	f.Add(uint16(0xFFFF), []byte("123456789"))
	f.Add(uint16(0x1234), []byte{0, 0xFF, 0x80})
	f.Fuzz(func(t *testing.T, crc uint16, data []byte) {
		want := crc
		for _, b := range data {
			want ^= uint16(b) << 8
			for range 8 {
				if want&0x8000 != 0 {
					want = want<<1 ^ 0x1021
				} else {
					want <<= 1
				}
			}
		}
		if got := CRC16(crc, data); got != want {
			t.Fatalf("CRC16(%#04x, % x) = %#04x, bit by bit %#04x", crc, data, got, want)
		}
	})
}

func BenchmarkCRC16(b *testing.B) {
	data := make([]byte, 1024) // a container of a receipt with a few positions
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		CRC16(0xFFFF, data)
	}
}
