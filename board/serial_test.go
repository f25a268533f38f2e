package board

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// openPair opens a pty and the serial port on its terminal side.
func openPair(t *testing.T, cfg SerialConfig) (master io.ReadWriter, port Port) {
	t.Helper()
	m, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); tty.Close() })
	cfg.Path = tty.Name()
	port, err = OpenSerial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	return m, port
}

func TestSerialBytesBothWays(t *testing.T) {
	for _, parity := range []string{"", "none", "even", "odd"} {
		t.Run("parity="+parity, func(t *testing.T) {
			master, port := openPair(t, SerialConfig{Baud: 9600, Parity: parity})
			// Every byte value, the ones a cooked terminal would eat or translate included.
			all := make([]byte, 256)
			for i := range all {
				all[i] = byte(i)
			}
			if _, err := port.Write(all); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(all))
			if _, err := io.ReadFull(master, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("register to device: % x", got)
			}
			if _, err := master.Write(all); err != nil {
				t.Fatal(err)
			}
			if err := port.SetReadTimeout(2 * time.Second); err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			buf := make([]byte, 64)
			for len(got) < len(all) {
				n, err := port.Read(buf)
				if err != nil || n == 0 {
					t.Fatalf("after %d bytes: n %d err %v", len(got), n, err)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, all) {
				t.Fatalf("device to register: % x", got)
			}
		})
	}
}

func TestSerialReadTimeout(t *testing.T) {
	_, port := openPair(t, SerialConfig{})
	if err := port.SetReadTimeout(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := port.Read(make([]byte, 8))
	if took := time.Since(start); n != 0 || err != nil || took < 90*time.Millisecond || took > time.Second {
		t.Fatalf("idle read: n %d err %v after %v", n, err, took)
	}
}

func TestSerialConfigRefused(t *testing.T) {
	cases := []struct {
		name string
		cfg  SerialConfig
		want error
	}{
		{"Parity", SerialConfig{Path: "/dev/null", Parity: "sometimes"}, ErrSerialConfig},
		{"FlowControl", SerialConfig{Path: "/dev/null", FlowControl: "rtscts"}, ErrSerialConfig},
		{"Baud", SerialConfig{Path: "/dev/null", Baud: -1}, ErrSerialConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenSerial(tc.cfg); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	const missing = "/dev/no-such-serial-port"
	if _, err := OpenSerial(SerialConfig{Path: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing port: %v", err)
	}
}
