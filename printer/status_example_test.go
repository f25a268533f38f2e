package printer_test

import (
	"fmt"

	"github.com/openkassa/kassa/printer"
)

// The four DLE EOT replies of a printer whose paper ran out with its cover closed.
func ExampleParseStatus() {
	st, err := printer.ParseStatus([4]byte{0x1A, 0x32, 0x12, 0x72})
	if err != nil {
		panic(err)
	}
	fmt.Println(st, "ready:", st.Ready())
	// Output: offline, paper out ready: false
}

// A page of two lines encoded for a 58 mm printer: init, CP866, centred bold
// double-size text, a feed and a cut.
func ExamplePage_ESCPOS() {
	p, _ := printer.ProfileByName("emu-58")
	pg := &printer.Page{Columns: 32, Lines: []printer.Line{{Text: "ИТОГ", Align: printer.Center, Bold: true, Large: true}}}
	job, err := pg.ESCPOS(p)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", job)
	// Output: 1B 40 1B 74 11 1B 61 01 1B 45 01 1D 21 11 88 92 8E 83 0A 1B 45 00 1D 21 00 1B 61 00 1B 64 04 1D 56 01
}
