package emu

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair the printer is served on: the register opens
// Path as it would the printer's serial port.
type PTY struct {
	Path   string
	master *os.File
	tty    *os.File // held open so the master survives the register reconnecting
}

// OpenPTY opens a pty pair with its terminal side in raw mode, so no byte of
// ESC/POS is translated on the way.
func OpenPTY() (*PTY, error) {
	m, t, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("emu: pty: %w", err)
	}
	tio, err := unix.IoctlGetTermios(int(t.Fd()), unix.TCGETS)
	if err == nil {
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		err = unix.IoctlSetTermios(int(t.Fd()), unix.TCSETS, tio)
	}
	if err != nil {
		m.Close()
		t.Close()
		return nil, fmt.Errorf("emu: pty %s: raw mode: %w", t.Name(), err)
	}
	pm, err := pollable(m)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("emu: pty %s: %w", t.Name(), err)
	}
	return &PTY{Path: t.Name(), master: pm, tty: t}, nil
}

// pollable reopens the master in non-blocking mode, so that Go's poller serves
// it and a read deadline can wake Serve when its context ends.
func pollable(m *os.File) (*os.File, error) {
	defer m.Close()
	var fd int
	var err error
	raw, err := m.SyscallConn()
	if err != nil {
		return nil, err
	}
	if cerr := raw.Control(func(f uintptr) {
		if fd, err = unix.Dup(int(f)); err == nil {
			err = unix.SetNonblock(fd, true)
		}
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("non-blocking master: %w", err)
	}
	return os.NewFile(uintptr(fd), m.Name()), nil
}

// Master is the printer's end of the pair, to pass to Serve.
func (p *PTY) Master() *os.File { return p.master }

// Close closes both sides.
func (p *PTY) Close() error {
	err := p.master.Close()
	if terr := p.tty.Close(); err == nil {
		err = terr
	}
	return err
}
