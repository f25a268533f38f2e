package printer_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
)

// goldenDocs are the documents printed in the golden tests, one of each kind.
func goldenDocs(t *testing.T) map[string]signed {
	return map[string]signed{
		"receipt-income":         receiptDoc(t, fullReceipt(t), 121),
		"receipt-income-return":  receiptDoc(t, simpleReceipt(t, fiscal.IncomeReturn), 122),
		"receipt-expense":        receiptDoc(t, simpleReceipt(t, fiscal.Expense), 123),
		"receipt-expense-return": receiptDoc(t, simpleReceipt(t, fiscal.ExpenseReturn), 124),
		"correction":             receiptDoc(t, correctionReceipt(t), 125),
		"shift-open":             reportDoc(t, fiscal.DocShiftOpen, 120, nil),
		"shift-close":            reportDoc(t, fiscal.DocShiftClose, 126, closeCounters),
		"state-report":           reportDoc(t, fiscal.DocStateReport, 127, stateCounters),
		"registration":           registrationDoc(t),
	}
}

// TestGolden prints every kind of document on 32-, 42- and 48-column paper
// through a pty to the emulator and compares what it printed with testdata/.
func TestGolden(t *testing.T) {
	docs := goldenDocs(t)
	for _, pname := range []string{"emu-58", "epson-tm-t20-42", "emu-80"} {
		p := profile(t, pname)
		r := newRig(t, p, t.TempDir())
		for name, d := range docs {
			t.Run(pname+"/"+name, func(t *testing.T) {
				pg, err := printer.Layout(d.doc, d.fpd, extra, p)
				if err != nil {
					t.Fatal(err)
				}
				checkWidths(t, pg, p)
				job, err := pg.ESCPOS(p)
				if err != nil {
					t.Fatal(err)
				}
				before := len(r.emu.Pages())
				if err := r.pr.Print(context.Background(), job); err != nil {
					t.Fatal(err)
				}
				pages := r.emu.Pages()
				if len(pages) != before+1 {
					t.Fatalf("the emulator printed %d pages, want 1", len(pages)-before)
				}
				got := pages[len(pages)-1]
				fd, _ := d.doc.Uint(fiscal.TagDocNumber)
				if uint64(got.FD) != fd {
					t.Errorf("the emulator read FD %d off the page, the document is %d", got.FD, fd)
				}
				golden(t, fmt.Sprintf("%s-%d.txt", name, p.Columns), got.Text)
				img := decodePNG(t, got.PNG)
				if img.Bounds().Dx() != p.Dots || img.Bounds().Dy() != got.Height {
					t.Errorf("PNG is %v, want %d dots wide and %d high", img.Bounds().Size(), p.Dots, got.Height)
				}
				if minH := len(strings.Split(got.Text, "\n")) * 24; got.Height < minH {
					t.Errorf("PNG is %d dots high, less than its %d text lines", got.Height, minH)
				}
			})
		}
	}
}

// checkWidths checks every line fits the paper: a large line counts double.
func checkWidths(t *testing.T, pg *printer.Page, p printer.Profile) {
	t.Helper()
	for i, l := range pg.Lines {
		w := utf8.RuneCountInString(l.Text)
		if l.Large {
			w *= 2
		}
		if w > p.Columns {
			t.Errorf("line %d %q is %d columns on %d-column paper", i, l.Text, w, p.Columns)
		}
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the page's PNG: %v", err)
	}
	return img
}

// readQR decodes the QR code on a rendered page.
func readQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR code read off the page: %v", err)
	}
	return res.GetText()
}

// TestQRRoundTrip prints a receipt with the QR code sent natively (GS ( k) and
// as a raster image (GS v 0), and reads the code back off the PNG.
func TestQRRoundTrip(t *testing.T) {
	d := receiptDoc(t, fullReceipt(t), 121)
	want, err := printer.QRString(d.doc, d.fpd)
	if err != nil {
		t.Fatal(err)
	}
	wantPrefix := "t=20261122T1224&s="
	if !strings.HasPrefix(want, wantPrefix) || !strings.Contains(want, "&fn="+driveNumber+"&i=121&") {
		t.Fatalf("QR string %q", want)
	}
	raster := profile(t, "emu-58")
	raster.Name, raster.NativeQR = "emu-58-raster", false
	for _, p := range []printer.Profile{profile(t, "emu-58"), raster, profile(t, "emu-80")} {
		t.Run(p.Name, func(t *testing.T) {
			r := newRig(t, p, "")
			pg, err := printer.Layout(d.doc, d.fpd, extra, p)
			if err != nil {
				t.Fatal(err)
			}
			job, err := pg.ESCPOS(p)
			if err != nil {
				t.Fatal(err)
			}
			native := bytes.Contains(job, []byte{0x1D, '(', 'k'})
			if native != p.NativeQR || bytes.Contains(job, []byte{0x1D, 'v', '0'}) == p.NativeQR {
				t.Errorf("profile NativeQR %v: the job has GS ( k %v", p.NativeQR, native)
			}
			if err := r.pr.Print(context.Background(), job); err != nil {
				t.Fatal(err)
			}
			pages := r.emu.Pages()
			if len(pages) != 1 {
				t.Fatalf("%d pages printed", len(pages))
			}
			if got := readQR(t, decodePNG(t, pages[0].PNG)); got != want {
				t.Errorf("QR read %q, want %q", got, want)
			}
		})
	}
}
