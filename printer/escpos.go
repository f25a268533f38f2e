package printer

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/openkassa/kassa/fiscal"
	"github.com/skip2/go-qrcode"
)

// ESC/POS bytes, as in Epson's ESC/POS command reference.
const (
	ESC = 0x1B
	GS  = 0x1D
	DLE = 0x10
	EOT = 0x04
	LF  = 0x0A
)

// QR code commands of GS ( k, cn = 49 (fn 65 … 81).
const (
	QRModel = 65 // fn 165: select the model
	QRSize  = 67 // fn 167: module size in dots
	QRLevel = 69 // fn 169: error correction level, 48 L … 51 H
	QRStore = 80 // fn 180: store the data
	QRPrint = 81 // fn 181: print the stored symbol
)

// QRLevelM is the error correction level receipts use (M, about 15%).
const QRLevelM = 49

// MinQRDots is the smallest side of a printed QR code: 20 mm at 203 dpi (8 dots/mm).
const MinQRDots = 160

// TearFeed is the number of lines fed after a page so it clears the cutter or
// the tear bar.
const TearFeed = 4

// DrawerKick is ESC p on pin 2 with a 50 ms pulse and 500 ms off.
var DrawerKick = []byte{ESC, 'p', 0, 25, 250}

// ErrEncode reports a page that cannot be encoded for the profile.
var ErrEncode = errors.New("printer: cannot encode")

// ESCPOS encodes the page for the printer p: ESC @ and ESC t with the profile's
// CP866 page, then each line with its alignment (ESC a), weight (ESC E) and size
// (GS !), QR codes by GS ( k where the model has it and as a GS v 0 raster
// image where not, a feed and, with a cutter, GS V. Characters CP866 lacks
// print as their nearest ASCII or "?".
func (pg *Page) ESCPOS(p Profile) ([]byte, error) {
	if pg.Columns != p.Columns {
		return nil, fmt.Errorf("%w: page laid out for %d columns, profile %q has %d", ErrEncode, pg.Columns, p.Name, p.Columns)
	}
	out := make([]byte, 0, 64*len(pg.Lines)+1024)
	out = append(out, ESC, '@', ESC, 't', p.CodePage)
	var align Align
	var bold, large bool
	for i, l := range pg.Lines {
		if l.Align != align {
			align = l.Align
			out = append(out, ESC, 'a', byte(align))
		}
		if l.QR != "" {
			var err error
			if out, err = appendQR(out, l.QR, p); err != nil {
				return nil, fmt.Errorf("printer: line %d: %w", i, err)
			}
			continue
		}
		if l.Bold != bold {
			bold = l.Bold
			out = append(out, ESC, 'E', flag(bold))
		}
		if l.Large != large {
			large = l.Large
			size := byte(0)
			if large {
				size = 0x11
			}
			out = append(out, GS, '!', size)
		}
		cells := utf8.RuneCountInString(l.Text)
		if large {
			cells *= 2
		}
		if cells > p.Columns {
			return nil, fmt.Errorf("%w: line %d is %d columns wide, profile %q has %d", ErrEncode, i, cells, p.Name, p.Columns)
		}
		out = appendCP866(out, l.Text)
		out = append(out, LF)
	}
	if bold || large {
		out = append(out, ESC, 'E', 0, GS, '!', 0)
	}
	out = append(out, ESC, 'a', 0, ESC, 'd', TearFeed)
	if p.Cutter {
		out = append(out, GS, 'V', 1)
	}
	return out, nil
}

func flag(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func appendCP866(dst []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7F:
			dst = append(dst, byte(r))
		case r < 0x20 || r == 0x7F:
			dst = append(dst, ' ') // never let text smuggle in a control code
		default:
			if b, ok := fiscal.CP866Byte(r); ok {
				dst = append(dst, b)
			} else {
				dst = append(dst, '?')
			}
		}
	}
	return dst
}

// qrSymbol is the QR symbol for text at level M; its side is 17 + 4 × version
// modules without the quiet zone. The modules themselves are computed only
// when drawn (Bitmap), which the native path never needs.
func qrSymbol(text string) (*qrcode.QRCode, int, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: QR of %d bytes: %v", ErrEncode, len(text), err)
	}
	return q, 17 + 4*q.VersionNumber, nil
}

// moduleDots is the module size that makes a symbol of n modules (quiet zone
// excluded) at least MinQRDots wide without leaving the paper.
func moduleDots(n int, p Profile) (int, error) {
	full := n + 8
	size := (MinQRDots + n - 1) / n
	if size < 3 {
		size = 3
	}
	for size > 1 && size*full > p.Dots {
		size--
	}
	if size*n < MinQRDots || size > 16 {
		return 0, fmt.Errorf("%w: a QR of %d modules cannot be printed 20 mm wide on %d dots", ErrEncode, n, p.Dots)
	}
	return size, nil
}

func appendQR(out []byte, text string, p Profile) ([]byte, error) {
	q, n, err := qrSymbol(text)
	if err != nil {
		return nil, err
	}
	size, err := moduleDots(n, p)
	if err != nil {
		return nil, err
	}
	if p.NativeQR {
		if len(text)+3 > 0xFFFF {
			return nil, fmt.Errorf("%w: QR of %d bytes", ErrEncode, len(text))
		}
		out = append(out, GS, '(', 'k', 4, 0, 49, QRModel, 50, 0)
		out = append(out, GS, '(', 'k', 3, 0, 49, QRSize, byte(size))
		out = append(out, GS, '(', 'k', 3, 0, 49, QRLevel, QRLevelM)
		l := len(text) + 3
		out = append(out, GS, '(', 'k', byte(l), byte(l>>8), 49, QRStore, 48)
		out = append(out, text...)
		out = append(out, GS, '(', 'k', 3, 0, 49, QRPrint, 48)
		return append(out, LF), nil
	}
	return AppendRaster(out, q.Bitmap(), size, p.Dots), nil
}

// AppendRaster appends GS v 0 printing bitmap (true is black) with each pixel
// scaled to scale × scale dots, centred on a full-width image of dots: the
// alignment of raster images differs between models, so it is drawn in.
func AppendRaster(out []byte, bitmap [][]bool, scale, dots int) []byte {
	wBytes := dots / 8
	h := len(bitmap) * scale
	out = append(out, GS, 'v', '0', 0, byte(wBytes), byte(wBytes>>8), byte(h), byte(h>>8))
	w := 0
	if len(bitmap) > 0 {
		w = len(bitmap[0]) * scale
	}
	left := (wBytes*8 - w) / 2
	if left < 0 {
		left = 0
	}
	row := make([]byte, wBytes)
	for _, src := range bitmap {
		clear(row)
		for x, black := range src {
			if !black {
				continue
			}
			for d := 0; d < scale; d++ {
				if px := left + x*scale + d; px < wBytes*8 {
					row[px/8] |= 0x80 >> (px % 8)
				}
			}
		}
		for range scale {
			out = append(out, row...)
		}
	}
	return out
}
