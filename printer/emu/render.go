package emu

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/openkassa/kassa/printer"
)

// fontSize makes Go Mono's advance (0.6 em) exactly one 12-dot cell.
const fontSize = 20

// glyphs draws characters into 12 × 24 cells with the Go Mono fonts, which
// carry Cyrillic; cells are cached per character and weight.
type glyphs struct {
	mu    sync.Mutex
	faces [2]font.Face
	cache map[glyphKey]*image.Alpha
}

type glyphKey struct {
	r    rune
	bold bool
}

var loadGlyphs = sync.OnceValues(func() (*glyphs, error) {
	g := &glyphs{cache: map[glyphKey]*image.Alpha{}}
	for i, ttf := range [][]byte{gomono.TTF, gomonobold.TTF} {
		f, err := opentype.Parse(ttf)
		if err != nil {
			return nil, fmt.Errorf("emu: font: %w", err)
		}
		if g.faces[i], err = opentype.NewFace(f, &opentype.FaceOptions{Size: fontSize, DPI: 72, Hinting: font.HintingFull}); err != nil {
			return nil, fmt.Errorf("emu: font: %w", err)
		}
	}
	return g, nil
})

func (g *glyphs) cell(r rune, bold bool) *image.Alpha {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := glyphKey{r, bold}
	if a, ok := g.cache[k]; ok {
		return a
	}
	a := image.NewAlpha(image.Rect(0, 0, cellW, cellH))
	face := g.faces[0]
	if bold {
		face = g.faces[1]
	}
	d := font.Drawer{Dst: a, Src: image.Opaque, Face: face, Dot: fixed.P(0, 19)}
	d.DrawString(string(r))
	g.cache[k] = a
	return a
}

// render turns a page's rows into its text and its PNG.
func render(rows []row, cols, dots int, log *slog.Logger) Rendered {
	var text strings.Builder
	height := 0
	for _, r := range rows {
		height += r.height
		text.WriteString(rowText(r, cols))
		text.WriteByte('\n')
	}
	out := Rendered{Text: strings.TrimRight(text.String(), " \n") + "\n", Width: dots, Height: max(height, 1)}
	g, err := loadGlyphs()
	if err != nil {
		log.Error("emu: page not drawn", "err", err)
		return out
	}
	img := image.NewPaletted(image.Rect(0, 0, out.Width, out.Height), color.Palette{color.White, color.Black})
	y := 0
	for _, r := range rows {
		if r.img != nil {
			drawImage(img, r, y, dots)
		} else {
			drawText(img, g, r, y, cols, dots)
		}
		y += r.height
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		log.Error("emu: page not encoded", "err", err)
		return out
	}
	out.PNG = buf.Bytes()
	return out
}

func rowWidth(r row) int {
	w := 0
	for _, c := range r.cells {
		w += c.wScale
	}
	return w
}

// rowText is the row as the paper shows it: aligned with spaces, a double-width
// character once.
func rowText(r row, cols int) string {
	if r.img != nil {
		return r.label
	}
	var b strings.Builder
	free := cols - rowWidth(r)
	switch {
	case free <= 0:
	case r.align == printer.Center:
		b.WriteString(strings.Repeat(" ", free/2))
	case r.align == printer.Right:
		b.WriteString(strings.Repeat(" ", free))
	}
	for _, c := range r.cells {
		b.WriteRune(c.r)
	}
	return strings.TrimRight(b.String(), " ")
}

func offset(a printer.Align, free int) int {
	if free <= 0 {
		return 0
	}
	switch a {
	case printer.Center:
		return free / 2
	case printer.Right:
		return free
	}
	return 0
}

func drawText(img *image.Paletted, g *glyphs, r row, top, cols, dots int) {
	h := 1
	for _, c := range r.cells {
		h = max(h, c.hScale)
	}
	x := offset(r.align, cols-rowWidth(r)) * cellW
	// The paper's columns are centred in the print width (576 dots hold 48 cells exactly, 512 hold 42 and 8 dots).
	x += (dots - cols*cellW) / 2
	for _, c := range r.cells {
		a := g.cell(c.r, c.bold)
		y0 := top + (h-c.hScale)*cellH
		for gy := range cellH * c.hScale {
			for gx := range cellW * c.wScale {
				if a.AlphaAt(gx/c.wScale, gy/c.hScale).A >= 0x80 {
					img.SetColorIndex(x+gx, y0+gy, 1)
				}
			}
		}
		x += cellW * c.wScale
	}
}

func drawImage(img *image.Paletted, r row, top, dots int) {
	w := len(r.img[0])
	x0 := offset(r.align, dots-w)
	for y, line := range r.img {
		for x, black := range line {
			if black && x0+x < dots {
				img.SetColorIndex(x0+x, top+y, 1)
			}
		}
	}
}
