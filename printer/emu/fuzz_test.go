package emu

import (
	"bytes"
	"io"
	"testing"

	"github.com/openkassa/kassa/printer"
)

// line is a stream whose bytes come from the fuzzer and whose replies are dropped.
type line struct {
	*bytes.Reader
	io.Writer
}

// FuzzInterpret feeds arbitrary bytes to the ESC/POS interpreter: it must never
// panic, and whatever it printed must render to a PNG of the paper's width.
// Each run renders a page, so give a short fuzz -fuzzminimizetime=50x: the
// default minimisation (a minute per new input) would take all of it.
func FuzzInterpret(f *testing.F) {
	p, _ := printer.ProfileByName("emu-58")
	// Seeds stay small: the fuzzer minimises what it finds, and each run renders a page.
	pg := &printer.Page{Columns: p.Columns, Lines: []printer.Line{
		{Text: "ЧЕК", Align: printer.Center, Bold: true, Large: true}, {Text: "ФД №  7", Align: printer.Right}, {QR: "t=1"}}}
	for _, native := range []bool{true, false} {
		p := p
		p.NativeQR = native
		job, err := pg.ESCPOS(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(job)
	}
	f.Add([]byte{0x10, 0x04, 0x01, 0x10, 0x04, 0x04, 0x1B, 0x70, 0x00, 0x19, 0xFA})
	f.Add([]byte{0x1D, 'v', '0', 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3})
	f.Add([]byte{0x1D, '(', 'k', 0xFF, 0xFF, 49, 80, 48, 'x'})
	f.Add([]byte{0x1D, '!', 0x77, 'A', 'B', '\n', 0x1B, 'a', 2, 0x1B, 't', 17, 0x80, 0xFF, '\n', 0x1D, 'V', 66, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := New(Config{Profile: p})
		s := newSession(e, io.Discard)
		s.maxDots = 2048
		if err := s.run(line{bytes.NewReader(data), io.Discard}); err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("run ended with %v, want the end of input", err)
		}
		s.cut()
		for _, pg := range e.Pages() {
			if pg.Width != p.Dots || pg.PNG == nil {
				t.Fatalf("page %q: %d dots wide, PNG %d bytes", pg.Name, pg.Width, len(pg.PNG))
			}
		}
	})
}
