package emu_test

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
)

// TestCodePage: CP866 text prints as Cyrillic only after ESC t selects the
// profile's page; without it the factory page (PC437) garbles it, as on a real printer.
func TestCodePage(t *testing.T) {
	p, _ := printer.ProfileByName("emu-58")
	e := emu.New(emu.Config{Profile: p})
	rw := e.Pipe()
	defer rw.Close()
	text := []byte{0x8F, 0xE0, 0xA8, 0xA2, 0xA5, 0xE2} // "Привет" in CP866
	var job []byte
	job = append(job, 0x1B, '@')
	job = append(job, text...)
	job = append(job, '\n', 0x1B, 't', p.CodePage)
	job = append(job, text...)
	job = append(job, '\n', 0x1B, 'a', 1, 0x1D, '!', 0x11, 'O', 'K', '\n', 0x1D, 'V', 1, 0x10, 0x04, 0x01)
	if _, err := rw.Write(job); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 1)
	if _, err := rw.Read(reply); err != nil || reply[0] != 0x12 {
		t.Fatalf("DLE EOT 1: % X, %v", reply, err)
	}
	pages := e.Pages()
	if len(pages) != 1 {
		t.Fatalf("%d pages", len(pages))
	}
	lines := strings.Split(strings.TrimRight(pages[0].Text, "\n"), "\n")
	if len(lines) != 3 || lines[0] == "Привет" || lines[1] != "Привет" || lines[2] != strings.Repeat(" ", 14)+"OK" {
		t.Errorf("printed %q", lines)
	}
	img, err := png.Decode(bytes.NewReader(pages[0].PNG))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 384 || b.Dy() != 30+30+54 {
		t.Errorf("PNG %v, want 384 × 114 (two lines of 30 dots, one double of 54)", b.Size())
	}
	if pages[0].Name != "nonfiscal-1" {
		t.Errorf("name %q", pages[0].Name)
	}
}

// TestServeStops: Serve returns when its context ends.
func TestServeStops(t *testing.T) {
	pt, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	e := emu.New(emu.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, pt.Master()) }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Serve: %v, want context.Canceled", err)
	}
}
