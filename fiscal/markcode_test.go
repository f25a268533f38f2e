package fiscal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The vectors of FFD105.md, "Marked goods"; ⟨GS⟩ there is 0x1D here.
func TestMarkCode(t *testing.T) {
	const (
		dm1     = "010460043993125621JgXJ5.T\x1d8005112000\x1d930001\x1d923zbrLA==\x1d24014276281"
		dm1Want = "44 4D 04 2F 1F 96 81 78 4A 67 58 4A 35 2E 54 31 31 32 30 30 30"
		dm2     = "010460406000600021N4N57RSCBUZTQ\x1d2403004002910161218\x1d1724010191ffd0\x1d92tIAF…"
		dm2Want = "44 4D 04 2F F7 5C 76 70 4E 34 4E 35 37 52 53 43 42 55 5A 54 51"
	)
	egais := strings.Repeat("22N0000XPV2", 13) + "A1B2C3D"
	cases := []struct {
		name, in, want string
	}{
		{"DataMatrix with 8005", dm1, dm1Want},
		{"DataMatrix, 17 and 91 dropped", dm2, dm2Want},
		{"separators as <GS>", strings.ReplaceAll(dm1, "\x1d", "<GS>"), dm1Want},
		{`separators as \u001d text`, strings.ReplaceAll(dm1, "\x1d", `\u001d`), dm1Want},
		{"symbology identifier and FNC1", "]d2\x1d" + dm2, dm2Want},
		{"tobacco serial without separators", strings.ReplaceAll(dm1, "\x1d", ""), dm1Want},
		{"13-character serial without separators", "010460406000600021N4N57RSCBUZTQ2403004002910161218", dm2Want},
		{"serial at the end", "010460406000600021N4N57RSCBUZTQ", dm2Want},
		{"EAN-13", "4606203090785", "45 0D 04 30 77 19 57 61"},
		{"EAN-8", "46198488", "45 08 00 00 02 C0 EE D8"},
		{"ITF-14", "14601234567890", "49 0E 0D 47 9D 66 52 D2"},
		{"fur", "RU-430302-AAA7582720", "52 46 52 55 2D 34 33 30 33 30 32 2D 41 41 41 37 35 38 32 37 32 30"},
		{"ЕГАИС 3.0", egais, "C5 1E 32 32 4E 30 30 30 30 58 50 56 32 32 32 4E"},
		{"unknown", "ABC-123", "00 00 41 42 43 2D 31 32 33"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MarkCode(c.in)
			if err != nil {
				t.Fatalf("MarkCode(%q): %v", c.in, err)
			}
			if want := unhex(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("MarkCode(%q)\n got % X\nwant % X", c.in, got, want)
			}
		})
	}
}

func TestMarkCodeErrors(t *testing.T) {
	cases := []struct{ name, in string }{
		{"empty", "  "},
		{"EAN-13 check digit", "4606203090786"},
		{"EAN-8 check digit", "46198487"},
		{"GTIN check digit", "010460043993125721JgXJ5.T\x1d8005112000"},
		{"DataMatrix without serial", "0104600439931256\x1d93abcd\x1d17240101"},
		{"serial over 20", "010460043993125621ABCDEFGHIJKLMNOPQRSTU\x1d93abcd"},
		{"over 32 bytes", "010460043993125621ABCDEFGHIJKLMNOPQRST\x1d8005112000"},
		{"short 8005", "010460043993125621JgXJ5.T\x1d800511"},
		{"unknown AI", "010460043993125621JgXJ5.T\x1d99xyz"},
		{"unknown code over 30 bytes", strings.Repeat("x", 31)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := MarkCode(c.in)
			if !errors.Is(err, ErrMarkCode) {
				t.Fatalf("MarkCode(%q) = % X, %v; want ErrMarkCode", c.in, got, err)
			}
		})
	}
}

func FuzzMarkCode(f *testing.F) {
	f.Add("010460043993125621JgXJ5.T\x1d8005112000\x1d930001\x1d923zbrLA==\x1d24014276281")
	f.Add("010460406000600021N4N57RSCBUZTQ2403004002910161218")
	f.Add("4606203090785")
	f.Add("RU-430302-AAA7582720")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := MarkCode(s)
		if err != nil {
			if !errors.Is(err, ErrMarkCode) {
				t.Fatalf("error %v does not wrap ErrMarkCode", err)
			}
			return
		}
		if len(b) < 2 || len(b) > 32 {
			t.Fatalf("MarkCode(%q) gave %d bytes", s, len(b))
		}
		// What MarkCode builds must pass as an item's 1162 and decode back.
		r := testReceipt()
		r.Items[0].MarkCode = b
		if err := r.Validate(); err != nil {
			t.Fatalf("Validate with 1162 % X: %v", b, err)
		}
		doc, err := Decode(signed(t, DocReceipt, must(t)(r.AppendTLV(nil)), shiftAndReceipt))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got, _ := doc.All(TagItem)[0].Children.Bytes(TagMarkCode); !bytes.Equal(got, b) {
			t.Fatalf("1162 read back % X, want % X", got, b)
		}
	})
}
