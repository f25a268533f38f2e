package printer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/openkassa/kassa/printer"
)

// examplePath is the rendered receipt the documentation shows.
var examplePath = filepath.Join("..", "docs", "receipt-example.png")

// TestReceiptExample keeps docs/receipt-example.png a real print of the
// emulator: rewritten under -update, and otherwise read back, QR code included.
func TestReceiptExample(t *testing.T) {
	d := receiptDoc(t, fullReceipt(t), 121)
	p := profile(t, "emu-58")
	if *update {
		r := newRig(t, p, "")
		pg, err := printer.Layout(d.doc, d.fpd, extra, p)
		if err != nil {
			t.Fatal(err)
		}
		job, err := pg.ESCPOS(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.pr.Print(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(examplePath, r.emu.Pages()[0].PNG, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatalf("%v (run with -update to make it)", err)
	}
	img := decodePNG(t, b)
	if img.Bounds().Dx() != p.Dots {
		t.Errorf("example is %d dots wide, want %d", img.Bounds().Dx(), p.Dots)
	}
	want, err := printer.QRString(d.doc, d.fpd)
	if err != nil {
		t.Fatal(err)
	}
	if got := readQR(t, img); got != want {
		t.Errorf("example's QR reads %q, want %q", got, want)
	}
}
