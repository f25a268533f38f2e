package printer_test

import (
	"fmt"
	"testing"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/printer"
)

// BenchmarkLayoutESCPOS10 lays out and encodes a 10-item receipt, the work the
// register does per printed receipt before the bytes go out.
func BenchmarkLayoutESCPOS10(b *testing.B) {
	r := simpleReceipt(b, fiscal.Income)
	r.Items = r.Items[:0]
	for i := range 10 {
		r.Items = append(r.Items, item(fmt.Sprintf("Товар номер %d с длинным названием для переноса", i+1), 12345, one(), fiscal.VAT20))
	}
	r.Payments = fiscal.Payments{Electronic: r.Total()}
	d := receiptDoc(b, r, 200)
	for _, name := range []string{"emu-58", "xprinter-xp58"} {
		p := profile(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pg, err := printer.Layout(d.doc, d.fpd, extra, p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pg.ESCPOS(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
