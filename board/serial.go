package board

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.bug.st/serial"
)

// SerialConfig says which serial port to open and how.
type SerialConfig struct {
	Path        string // e.g. /dev/ttyS1, or a pty an emulator printed
	Baud        int    // default 115200
	Parity      string // "none" (default), "even", "odd", "mark", "space"
	FlowControl string // "none" (default); hardware flow control is not supported by the serial driver
}

// Port is an open serial port. Read returns 0, nil when the read timeout passes
// with nothing received.
type Port interface {
	io.ReadWriteCloser
	SetReadTimeout(time.Duration) error
}

// ErrSerialConfig reports a configuration the port cannot take.
var ErrSerialConfig = errors.New("board: bad serial configuration")

// OpenSerial opens a serial port 8 data bits, 1 stop bit, raw.
func OpenSerial(cfg SerialConfig) (Port, error) {
	mode := &serial.Mode{BaudRate: cfg.Baud, DataBits: 8, StopBits: serial.OneStopBit}
	if mode.BaudRate == 0 {
		mode.BaudRate = 115200
	}
	if mode.BaudRate < 0 {
		return nil, fmt.Errorf("%w: %s: baud %d", ErrSerialConfig, cfg.Path, cfg.Baud)
	}
	switch strings.ToLower(cfg.Parity) {
	case "", "none", "n":
		mode.Parity = serial.NoParity
	case "even", "e":
		mode.Parity = serial.EvenParity
	case "odd", "o":
		mode.Parity = serial.OddParity
	case "mark", "m":
		mode.Parity = serial.MarkParity
	case "space", "s":
		mode.Parity = serial.SpaceParity
	default:
		return nil, fmt.Errorf("%w: %s: parity %q", ErrSerialConfig, cfg.Path, cfg.Parity)
	}
	switch strings.ToLower(cfg.FlowControl) {
	case "", "none":
	default:
		return nil, fmt.Errorf("%w: %s: flow control %q (only none)", ErrSerialConfig, cfg.Path, cfg.FlowControl)
	}
	p, err := serial.Open(cfg.Path, mode)
	if err != nil {
		return nil, fmt.Errorf("board: serial %s: %w", cfg.Path, err)
	}
	return p, nil
}
