package emu

import (
	"fmt"
	"io"

	"github.com/skip2/go-qrcode"
	"golang.org/x/text/encoding/charmap"

	"github.com/openkassa/kassa/printer"
)

// Font A geometry: 12 × 24 dots, a line feed of 30 dots (Epson's default 1/6 inch
// at 180 dpi motion units, as 203 dpi heads feed it).
const (
	cellW       = 12
	cellH       = 24
	lineSpacing = 30
)

// Limits that keep a hostile or broken stream from exhausting memory: a page
// longer than maxPageDots is ended as if cut, images taller than maxImageRows
// are clipped.
const (
	maxPageDots  = 1 << 15
	maxImageRows = 4096
)

// cell is one printed character with its style.
type cell struct {
	r      rune
	bold   bool
	wScale int
	hScale int
}

// row is one printed row: text cells, or an image (bits, black true), or blank feed.
type row struct {
	cells  []cell
	img    [][]bool
	align  printer.Align
	height int    // in dots
	label  string // what the text form shows for an image
}

// session is the interpreter's state for one line.
type session struct {
	p        *Printer
	w        io.Writer
	cols     int
	dots     int
	codePage byte
	bold     bool
	wScale   int
	hScale   int
	align    printer.Align
	spacing  int
	cur      []cell
	curW     int // width of cur in columns
	rows     []row
	pageDots int
	maxDots  int  // maxPageDots; the fuzz target lowers it to keep each run short
	spoiled  bool // paper ran out or the cover opened during the page: it is not delivered
	qrData   []byte
	qrSize   int
	qrLevel  byte
}

func newSession(p *Printer, w io.Writer) *session {
	s := &session{p: p, w: w, cols: p.profile.Columns, dots: p.profile.Dots, maxDots: maxPageDots}
	if s.cols <= 0 {
		s.cols = 32
	}
	if s.dots <= 0 {
		s.dots = s.cols * cellW
	}
	s.reset()
	return s
}

// reset is ESC @: the styles and the code page return to the factory default
// (PC437, page 0); the page being printed stays.
func (s *session) reset() {
	s.codePage = 0
	s.bold = false
	s.wScale, s.hScale = 1, 1
	s.align = printer.Left
	s.spacing = lineSpacing
	s.qrSize, s.qrLevel = 3, 48
}

// byteReader is what the interpreter reads: a bufio.Reader over the line, or
// a bytes.Reader in the fuzz target.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// run interprets until the reader fails.
func (s *session) run(r byteReader) error {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if err := s.step(b, r); err != nil {
			return err
		}
	}
}

func (s *session) step(b byte, r byteReader) error {
	switch b {
	case printer.LF:
		s.newline()
	case '\r', 0x18:
	case '\t':
		for range 8 - s.curW%8 {
			s.char(' ')
		}
	case 0x0C:
		if len(s.cur) > 0 {
			s.newline()
		}
	case printer.ESC:
		return s.esc(r)
	case printer.GS:
		return s.gs(r)
	case printer.DLE:
		return s.dle(r)
	case 0x1C: // FS: kanji and NV image commands, none of which a receipt needs
		c, err := r.ReadByte()
		if err != nil {
			return err
		}
		switch c {
		case 'p', 'S':
			return skip(r, 2)
		case 'C', '!', '-', 'W':
			return skip(r, 1)
		}
	default:
		if b >= 0x20 && b != 0x7F {
			s.char(s.decode(b))
		}
	}
	return nil
}

func (s *session) decode(b byte) rune {
	if b < 0x80 {
		return rune(b)
	}
	switch s.codePage {
	case s.p.profile.CodePage:
		return charmap.CodePage866.DecodeByte(b)
	case 0:
		return charmap.CodePage437.DecodeByte(b)
	}
	return '?'
}

func (s *session) esc(r byteReader) error {
	c, err := r.ReadByte()
	if err != nil {
		return err
	}
	arg := func() (byte, error) { return r.ReadByte() }
	switch c {
	case '@':
		s.reset()
	case 't':
		n, err := arg()
		s.codePage = n
		return err
	case 'E', 'G':
		n, err := arg()
		s.bold = n&1 != 0
		return err
	case 'a':
		n, err := arg()
		switch n {
		case 0, '0':
			s.align = printer.Left
		case 1, '1':
			s.align = printer.Center
		case 2, '2':
			s.align = printer.Right
		}
		return err
	case '!':
		n, err := arg()
		s.bold = n&0x08 != 0
		s.hScale, s.wScale = 1+int(n>>4&1), 1+int(n>>5&1)
		return err
	case 'd':
		n, err := arg()
		if err != nil {
			return err
		}
		s.feedLines(int(n))
		if !s.p.profile.Cutter && int(n) >= printer.TearFeed {
			s.endPage() // no cutter: the page is torn off after its feed
		}
	case 'J':
		n, err := arg()
		if err != nil {
			return err
		}
		s.flushLine()
		s.addRow(row{height: int(n)})
	case '2':
		s.spacing = lineSpacing
	case '3':
		n, err := arg()
		s.spacing = int(n)
		return err
	case 'p':
		if err := skip(r, 3); err != nil {
			return err
		}
		s.kick()
	case 'i', 'm':
		s.cut()
	case '$', '\\':
		return skip(r, 2)
	case 'c':
		return skip(r, 2)
	case '-', 'M', 'R', 'V', '{', ' ', '=', 'U', 'r', 'T':
		return skip(r, 1)
	case 'D': // tab stops, NUL-terminated, at most 32
		for range 33 {
			b, err := r.ReadByte()
			if err != nil || b == 0 {
				return err
			}
		}
	case '*':
		var h [3]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		n := int(h[1]) | int(h[2])<<8
		if h[0] == 32 || h[0] == 33 {
			n *= 3
		}
		return skip(r, n)
	}
	return nil
}

func (s *session) gs(r byteReader) error {
	c, err := r.ReadByte()
	if err != nil {
		return err
	}
	switch c {
	case '!':
		n, err := r.ReadByte()
		s.wScale, s.hScale = 1+int(n>>4&7), 1+int(n&7)
		return err
	case 'V':
		m, err := r.ReadByte()
		if err != nil {
			return err
		}
		switch m {
		case 65, 66, 97, 98, 103, 104:
			if err := skip(r, 1); err != nil {
				return err
			}
		}
		s.cut()
	case '(':
		var h [3]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		n := int(h[1]) | int(h[2])<<8
		if h[0] == 'k' {
			return s.qr(r, n)
		}
		return skip(r, n)
	case '8':
		var h [5]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		return skip(r, int(h[1])|int(h[2])<<8|int(h[3])<<16|int(h[4])<<24)
	case 'v':
		return s.raster(r)
	case 'k':
		m, err := r.ReadByte()
		if err != nil {
			return err
		}
		if m <= 6 {
			for range 256 {
				b, err := r.ReadByte()
				if err != nil || b == 0 {
					return err
				}
			}
			return nil
		}
		n, err := r.ReadByte()
		if err != nil {
			return err
		}
		return skip(r, int(n))
	case '*':
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		return skip(r, int(h[0])*int(h[1])*8)
	case 'L', 'W', 'P', '$', '\\':
		return skip(r, 2)
	default:
		return skip(r, 1)
	}
	return nil
}

func (s *session) dle(r byteReader) error {
	c, err := r.ReadByte()
	if err != nil {
		return err
	}
	switch c {
	case printer.EOT:
		n, err := r.ReadByte()
		if err != nil {
			return err
		}
		if n < 1 || n > 4 {
			return nil
		}
		reply := s.p.status().Replies()[n-1]
		if _, err := s.w.Write([]byte{reply}); err != nil {
			return fmt.Errorf("emu: DLE EOT %d reply: %w", n, err)
		}
	case 0x05: // DLE ENQ n
		return skip(r, 1)
	case 0x14: // DLE DC4 fn m t: fn 1 is the drawer pulse
		var a [3]byte
		if _, err := io.ReadFull(r, a[:]); err != nil {
			return err
		}
		if a[0] == 1 {
			s.kick()
		}
	}
	return nil
}

// qr handles GS ( k: fn 65 model, 67 size, 69 level, 80 store, 81 print; other
// symbols (cn other than 49) are skipped.
func (s *session) qr(r byteReader, n int) error {
	if n < 2 {
		return skip(r, n)
	}
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	n -= 2
	if h[0] != 49 {
		return skip(r, n)
	}
	switch h[1] {
	case printer.QRSize, printer.QRLevel:
		if n < 1 {
			return nil
		}
		v, err := r.ReadByte()
		if err != nil {
			return err
		}
		if h[1] == printer.QRSize && v >= 1 && v <= 16 {
			s.qrSize = int(v)
		}
		if h[1] == printer.QRLevel && v >= 48 && v <= 51 {
			s.qrLevel = v
		}
		return skip(r, n-1)
	case printer.QRStore:
		if n < 1 {
			return nil
		}
		if err := skip(r, 1); err != nil {
			return err
		}
		s.qrData = make([]byte, n-1)
		_, err := io.ReadFull(r, s.qrData)
		return err
	case printer.QRPrint:
		if err := skip(r, n); err != nil {
			return err
		}
		s.printQR()
		return nil
	}
	return skip(r, n)
}

var qrLevels = map[byte]qrcode.RecoveryLevel{48: qrcode.Low, 49: qrcode.Medium, 50: qrcode.High, 51: qrcode.Highest}

// printQR draws the stored symbol, re-encoded from its data as the printer would.
func (s *session) printQR() {
	if len(s.qrData) == 0 {
		return
	}
	q, err := qrcode.New(string(s.qrData), qrLevels[s.qrLevel])
	if err != nil {
		s.p.log.Warn("emu: QR not printable", "bytes", len(s.qrData), "err", err)
		return
	}
	bm := q.Bitmap()
	img := make([][]bool, 0, len(bm)*s.qrSize)
	for _, src := range bm {
		line := make([]bool, len(src)*s.qrSize)
		for x, v := range src {
			for d := range s.qrSize {
				line[x*s.qrSize+d] = v
			}
		}
		for range s.qrSize {
			img = append(img, line)
		}
	}
	s.flushLine()
	s.addRow(row{img: img, align: s.align, height: len(img), label: "[QR " + string(s.qrData) + "]"})
}

// raster handles GS v 0 m xL xH yL yH d…: x bytes per row, y rows.
func (s *session) raster(r byteReader) error {
	var h [6]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	if h[0] != '0' && h[0] != 0 {
		return nil
	}
	xb, y := int(h[2])|int(h[3])<<8, int(h[4])|int(h[5])<<8
	keepX, keepY := min(xb, s.dots/8), min(y, maxImageRows, s.maxDots)
	line := make([]byte, xb)
	img := make([][]bool, 0, keepY)
	for i := range y {
		if _, err := io.ReadFull(r, line); err != nil {
			return err
		}
		if i >= keepY {
			continue
		}
		bits := make([]bool, keepX*8)
		for x := range bits {
			bits[x] = line[x/8]&(0x80>>(x%8)) != 0
		}
		img = append(img, bits)
	}
	if len(img) == 0 {
		return nil
	}
	s.flushLine()
	s.addRow(row{img: img, align: s.align, height: len(img), label: fmt.Sprintf("[IMAGE %dx%d]", xb*8, y)})
	return nil
}

func skip(r byteReader, n int) error {
	if n <= 0 {
		return nil
	}
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}

// ready says whether anything can be printed now; printing while not ready
// spoils the page being printed.
func (s *session) ready() bool {
	if s.p.status().Ready() {
		return true
	}
	if !s.spoiled {
		s.p.log.Warn("emu: not ready, the page is lost", "status", s.p.status().String())
	}
	s.spoiled = true
	s.rows, s.cur, s.curW, s.pageDots = nil, nil, 0, 0
	return false
}

func (s *session) char(r rune) {
	if !s.ready() {
		return
	}
	if s.curW+s.wScale > s.cols {
		s.newline() // the printer wraps a line too long for the paper
	}
	s.cur = append(s.cur, cell{r: r, bold: s.bold, wScale: s.wScale, hScale: s.hScale})
	s.curW += s.wScale
}

// newline is LF: print the line (an empty one feeds a blank line).
func (s *session) newline() {
	if !s.ready() {
		return
	}
	h := 1
	for _, c := range s.cur {
		h = max(h, c.hScale)
	}
	s.addRow(row{cells: s.cur, align: s.align, height: max(s.spacing, cellH*h+s.spacing-cellH)})
	s.cur, s.curW = nil, 0
}

// flushLine prints a pending partial line before an image or a feed.
func (s *session) flushLine() {
	if len(s.cur) > 0 {
		s.newline()
	}
}

func (s *session) feedLines(n int) {
	s.flushLine()
	for range n {
		s.newline()
	}
}

func (s *session) addRow(r row) {
	if !s.ready() {
		return
	}
	s.rows = append(s.rows, r)
	s.pageDots += r.height
	if s.pageDots > s.maxDots {
		s.p.log.Warn("emu: page too long, ended without a cut", "dots", s.pageDots)
		s.endPage()
	}
}

func (s *session) kick() {
	s.p.mu.Lock()
	s.p.kicks++
	s.p.mu.Unlock()
}

// cut ends the page: what is above the cutter is a printed document.
func (s *session) cut() {
	s.flushLine()
	s.endPage()
}

func (s *session) endPage() {
	rows, spoiled := s.rows, s.spoiled
	s.rows, s.cur, s.curW, s.pageDots, s.spoiled = nil, nil, 0, 0, false
	if spoiled || len(rows) == 0 {
		return
	}
	s.p.record(render(rows, s.cols, s.dots, s.p.log))
}
