package device

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Settings is `kassa run`'s configuration file (JSON). Every field left out takes
// its sandbox default: the embedded cloud, the emulated drive and the OFD emulator,
// all on loopback. docs/config.md documents each field.
type Settings struct {
	Data     string           `json:"data"` // the data directory; default ./var or $KASSA_DATA
	Register RegisterSettings `json:"register"`
	Cloud    CloudSettings    `json:"cloud"`
	Drive    DriveSettings    `json:"drive"`
	OFD      OFDSettings      `json:"ofd"`
	Printer  PrinterSettings  `json:"printer"`
	Board    BoardSettings    `json:"board"`
	Log      LogSettings      `json:"log"`
	Metrics  MetricsSettings  `json:"metrics"`
}

// LogSettings say how the register logs, to standard error.
type LogSettings struct {
	Level  string `json:"level"`  // debug, info (default), warn, error
	Format string `json:"format"` // text (default), or json: one object a line, for a log collector
}

// UnmarshalJSON takes {"level": …, "format": …}, or the level alone as
// earlier settings files give it ("log": "debug").
func (l *LogSettings) UnmarshalJSON(b []byte) error {
	var level string
	if err := json.Unmarshal(b, &level); err == nil {
		*l = LogSettings{Level: level}
		return nil
	}
	type fields LogSettings // without this method
	var f fields
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	*l = LogSettings(f)
	return nil
}

// NewLogger is the logger the settings describe, writing to w.
func NewLogger(w io.Writer, s LogSettings) (*slog.Logger, error) {
	var level slog.Level
	if s.Level != "" {
		if err := level.UnmarshalText([]byte(s.Level)); err != nil {
			return nil, fmt.Errorf("log level: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch s.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", s.Format)
}

// MetricsSettings say where a fleet operator scrapes the register's health
// (/healthz) and metrics (/metrics).
type MetricsSettings struct {
	Addr string `json:"addr"` // e.g. 127.0.0.1:9780; "" = off
}

// RegisterSettings are the register's own policy.
type RegisterSettings struct {
	Serial      string   `json:"serial"`      // 1013; default the sandbox's
	Cashier     string   `json:"cashier"`     // who opens shifts the register opens itself
	Timezone    string   `json:"timezone"`    // IANA zone of the register's wall clock; default the system's
	ShiftMaxAge Duration `json:"shiftMaxAge"` // close the shift at this age; default 23h30m
	CloseAt     string   `json:"closeAt"`     // "HH:MM": close the shift at this time each day
	StopAfter   int      `json:"stopAfter"`   // registration errors in a row tolerated; default 3
	RemoteMode  bool     `json:"remoteMode"`  // remote-fiscalization mode: no stop, failed documents may be re-sent
}

// CloudSettings say which cloud the register serves.
type CloudSettings struct {
	URL          string   `json:"url"`          // "" = run the sandbox cloud in-process
	Token        string   `json:"token"`        // the register's bearer token (production)
	Addr         string   `json:"addr"`         // the sandbox cloud's address; default 127.0.0.1:8780
	PollInterval Duration `json:"pollInterval"` // default 5s
	LongPoll     *bool    `json:"longPoll"`     // default true
}

// DriveSettings say where the fiscal drive is.
type DriveSettings struct {
	Port    string   `json:"port"`    // serial device of a real drive; "" = the emulated drive under data/fn
	Baud    int      `json:"baud"`    // default 115200
	Timeout Duration `json:"timeout"` // per answer to a command that does not sign; default 3s
	// SignTimeout is per answer to a finish command (a real drive answers once
	// it has signed and written) or an acknowledgement; default 15s.
	SignTimeout Duration `json:"signTimeout"`
	// Latency, for the emulated drive only: "typical" models a real drive's
	// timing per command (fn.TypicalLatency); "" answers at once.
	Latency string `json:"latency"`
}

// OFDSettings say where fiscal documents go.
type OFDSettings struct {
	Server     string `json:"server"`     // HOST:PORT of an OFD; "" = the embedded OFD emulator
	Addr       string `json:"addr"`       // the emulator's address; default 127.0.0.1:7777
	LookupAddr string `json:"lookupAddr"` // the emulator's receipt look-up; default 127.0.0.1:7778
	Name       string `json:"name"`       // the OFD's name, printed on receipts (the sandbox: its emulator's)
	Site       string `json:"site"`       // where a buyer checks a receipt, printed on receipts
}

// PrinterSettings say where the receipt printer is.
type PrinterSettings struct {
	Port    string `json:"port"`    // serial device of a real printer; "" = the emulated printer writing data/receipts
	Profile string `json:"profile"` // the model: its columns, dots, code page, QR and cutter; default emu-58
	None    bool   `json:"none"`    // no printer at all: every receipt is electronic
}

// BoardSettings name the board, whose profile maps the status LED, the service
// button, the paper sensor, the cover switch, the drawer and the printer's power
// to GPIO pins (docs/board.md).
type BoardSettings struct {
	Profile string `json:"profile"` // none (default), rpi3, rpi4, orangepi-pc
}

// Duration is a time.Duration written as "5s" in the file.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "1h30m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration: want \"90s\" or seconds, got %s", b)
		}
		d.Duration = time.Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// LoadSettings reads a settings file; unknown fields are an error, so a typo does
// not silently leave the sandbox default in place.
func LoadSettings(path string) (Settings, error) {
	var s Settings
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
