package printer

import (
	"strings"
	"unicode/utf8"
)

// Align is a line's horizontal alignment on the paper.
type Align byte

// Alignments, in ESC a order.
const (
	Left Align = iota
	Center
	Right
)

// Line is one printed line, already fitted to the page's columns: a Large line
// (double width and height) holds at most half of them. A line with QR set is a
// QR code of that text instead of text.
type Line struct {
	Text  string
	Align Align
	Bold  bool
	Large bool
	QR    string
}

// Page is a document laid out for one paper width, ready to be encoded for a printer.
type Page struct {
	Columns int
	Lines   []Line
}

// Text is the page as plain text, centred and right-aligned lines padded as the
// paper shows them, one line per row; a QR code shows as "[QR text]".
func (pg *Page) Text() string {
	var b strings.Builder
	for _, l := range pg.Lines {
		if l.QR != "" {
			b.WriteString("[QR " + l.QR + "]\n")
			continue
		}
		cell := 1
		if l.Large {
			cell = 2
		}
		b.WriteString(strings.Repeat(" ", pad(l.Align, pg.Columns, cell*utf8.RuneCountInString(l.Text))/cell))
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// pad is the free space left of a line of width w on a line of cols.
func pad(a Align, cols, w int) int {
	free := cols - w
	if free <= 0 {
		return 0
	}
	switch a {
	case Center:
		return free / 2
	case Right:
		return free
	}
	return 0
}

// builder lays out lines for a number of columns.
type builder struct {
	cols  int
	lines []Line
}

func (b *builder) add(l Line) { b.lines = append(b.lines, l) }

// text adds s wrapped at the columns, every piece with the same style.
func (b *builder) text(s string, a Align, bold bool) {
	for _, w := range wrap(s, b.cols) {
		b.add(Line{Text: w, Align: a, Bold: bold})
	}
}

// large adds s in double size, wrapped at half the columns.
func (b *builder) large(s string, a Align, bold bool) {
	for _, w := range wrap(s, b.cols/2) {
		b.add(Line{Text: w, Align: a, Bold: bold, Large: true})
	}
}

// pair adds a label on the left and a value on the right of one line; a label too
// long wraps, and the value goes on its last line or, failing room, on a line of its own.
func (b *builder) pair(label, value string, bold bool) {
	vw := utf8.RuneCountInString(value)
	if vw >= b.cols {
		b.text(label, Left, bold)
		b.text(value, Right, bold)
		return
	}
	ls := wrap(label, b.cols)
	if len(ls) == 0 {
		ls = []string{""}
	}
	last := ls[len(ls)-1]
	for _, l := range ls[:len(ls)-1] {
		b.add(Line{Text: l, Bold: bold})
	}
	lw := utf8.RuneCountInString(last)
	if lw+1+vw > b.cols {
		b.add(Line{Text: last, Bold: bold})
		b.add(Line{Text: value, Align: Right, Bold: bold})
		return
	}
	b.add(Line{Text: last + strings.Repeat(" ", b.cols-lw-vw) + value, Bold: bold})
}

// largePair is pair in double size when it fits half the columns, else in normal size.
func (b *builder) largePair(label, value string) {
	half := b.cols / 2
	lw, vw := utf8.RuneCountInString(label), utf8.RuneCountInString(value)
	if lw+1+vw > half {
		b.pair(label, value, true)
		return
	}
	b.add(Line{Text: label + strings.Repeat(" ", half-lw-vw) + value, Bold: true, Large: true})
}

// chunks adds s cut into lines of exactly the columns, for codes that have no
// words to wrap at.
func (b *builder) chunks(s string) {
	r := []rune(s)
	for len(r) > 0 {
		n := min(len(r), b.cols)
		b.add(Line{Text: string(r[:n])})
		r = r[n:]
	}
}

func (b *builder) rule() { b.add(Line{Text: strings.Repeat("-", b.cols)}) }

func (b *builder) page() *Page { return &Page{Columns: b.cols, Lines: b.lines} }

// wrap splits s into lines of at most width characters, breaking at spaces and
// cutting words longer than a line; it keeps explicit line breaks.
func wrap(s string, width int) []string {
	if width < 1 {
		width = 1
	}
	var out []string
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			continue
		}
		var cur []rune
		for _, w := range words {
			r := []rune(w)
			switch {
			case len(cur) == 0:
			case len(cur)+1+len(r) <= width, len(r) > width && len(cur)+1 < width:
				// a word longer than a line is cut anyway: it starts where it is
				cur = append(cur, ' ')
			default:
				out = append(out, string(cur))
				cur = cur[:0]
			}
			for len(cur)+len(r) > width {
				n := width - len(cur)
				out = append(out, string(append(cur, r[:n]...)))
				cur, r = cur[:0], r[n:]
			}
			cur = append(cur, r...)
		}
		if len(cur) > 0 {
			out = append(out, string(cur))
		}
	}
	return out
}
