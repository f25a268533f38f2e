package printer

import (
	"fmt"
	"strings"
)

// Status is the printer's state as its DLE EOT replies report it.
type Status struct {
	Online       bool // DLE EOT 1: not offline
	PaperNearEnd bool // DLE EOT 4: the roll's near-end sensor
	PaperOut     bool // DLE EOT 2 or 4: printing stopped at the paper's end
	CoverOpen    bool // DLE EOT 2: the cover is open
	Error        bool // DLE EOT 2 or 3: a cutter, mechanical or unrecoverable error
}

// Ready says the printer can print now; a near end of the paper still prints.
func (s Status) Ready() bool {
	return s.Online && !s.PaperOut && !s.CoverOpen && !s.Error
}

func (s Status) String() string {
	var parts []string
	for _, f := range [...]struct {
		on   bool
		word string
	}{{!s.Online, "offline"}, {s.PaperOut, "paper out"}, {s.PaperNearEnd, "paper near end"},
		{s.CoverOpen, "cover open"}, {s.Error, "error"}} {
		if f.on {
			parts = append(parts, f.word)
		}
	}
	if len(parts) == 0 {
		return "ready"
	}
	return strings.Join(parts, ", ")
}

// Bits of the DLE EOT replies (Epson's real-time status). Every reply has bits
// 1 and 4 set and bits 0 and 7 clear; that is how a status byte is told from noise.
const (
	StatusFixed      = 0x12
	statusFixedMask  = 0x93
	StatusOffline    = 0x08 // n=1
	StatusCoverOpen  = 0x04 // n=2
	StatusPaperStop  = 0x20 // n=2: printing stopped for the paper's end
	StatusErrorOccur = 0x40 // n=2
	StatusCutter     = 0x04 // n=3: autocutter error
	StatusFatal      = 0x20 // n=3: unrecoverable error
	StatusAutoRecov  = 0x40 // n=3: auto-recoverable error
	StatusNearEnd    = 0x0C // n=4: the roll's near-end sensor
	StatusPaperEnd   = 0x60 // n=4: the roll's end sensor
)

// ParseStatus reads the four replies to DLE EOT 1, 2, 3 and 4, in that order.
func ParseStatus(r [4]byte) (Status, error) {
	for i, b := range r {
		if b&statusFixedMask != StatusFixed {
			return Status{}, fmt.Errorf("printer: DLE EOT %d: reply %#02x is not a status byte", i+1, b)
		}
	}
	return Status{
		Online:       r[0]&StatusOffline == 0,
		CoverOpen:    r[1]&StatusCoverOpen != 0,
		PaperOut:     r[1]&StatusPaperStop != 0 || r[3]&StatusPaperEnd != 0,
		Error:        r[1]&StatusErrorOccur != 0 || r[2]&(StatusCutter|StatusFatal|StatusAutoRecov) != 0,
		PaperNearEnd: r[3]&StatusNearEnd != 0,
	}, nil
}

// Replies are the four DLE EOT reply bytes that report s: what a printer (the
// emulator) sends back.
func (s Status) Replies() [4]byte {
	r := [4]byte{StatusFixed, StatusFixed, StatusFixed, StatusFixed}
	if !s.Online {
		r[0] |= StatusOffline
	}
	if s.CoverOpen {
		r[1] |= StatusCoverOpen
	}
	if s.PaperOut {
		r[1] |= StatusPaperStop
		r[3] |= StatusPaperEnd
	}
	if s.Error {
		r[1] |= StatusErrorOccur
		r[2] |= StatusFatal
	}
	if s.PaperNearEnd {
		r[3] |= StatusNearEnd
	}
	return r
}
