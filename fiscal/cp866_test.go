package fiscal

import (
	"bytes"
	"testing"
)

// Shops name goods in every language; CP866 holds Russian and ASCII. A letter
// it lacks is written as its base letter, anything else as the stand-in, and
// the name is never refused. The bytes are written by hand from the CP866 table.
func TestCP866Nearest(t *testing.T) {
	cases := []struct {
		in   string
		want []byte
	}{
		{"Lavazza Qualità", []byte("Lavazza Qualita")},
		{"Crème brûlée", []byte("Creme brulee")},
		{"Łódź, Øresund", []byte("Lodz, Oresund")},
		{"Ёлка", []byte{0xF0, 0xAB, 0xAA, 0xA0}},               // Ё is in CP866 itself
		{"Чай 🍵", []byte{0x97, 0xA0, 0xA9, ' ', CP866StandIn}}, // no form at all
		{"Straße 5 €", []byte("Stra?e 5 ?")},                   // ß has no decomposition
		{"Київ", []byte{0x8A, 0xA8, 0xF5, 0xA2}},               // ї is in CP866
		{"Біла", []byte{0x81, 'i', 0xAB, 0xA0}},                // і is not: it is read as i
	}
	for _, c := range cases {
		got, err := AppendString(nil, TagItemName, c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !bytes.Equal(got[4:], c.want) {
			t.Errorf("%q written as % x, want % x", c.in, got[4:], c.want)
		}
		if n := int(got[2]) | int(got[3])<<8; n != len(c.want) {
			t.Errorf("%q: length %d, want %d", c.in, n, len(c.want))
		}
	}
	// What a receipt writes can be checked before it is built: one byte a character.
	if err := checkString("items[0].name", TagItemName, "Crème brûlée", true); err != nil {
		t.Errorf("Crème brûlée refused: %v", err)
	}
}
