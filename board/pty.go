package board

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair on which an emulated device (the drive, the
// printer) is served: the register opens Path as it would the device's serial port.
type PTY struct {
	Path   string
	master *os.File
	tty    *os.File // held open so the master survives the register reconnecting
}

// OpenPTY opens a pty pair with its terminal side in raw mode, so that no byte of
// the device's protocol is translated on the way.
func OpenPTY() (*PTY, error) {
	m, t, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("board: pty: %w", err)
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
		return nil, fmt.Errorf("board: pty %s: raw mode: %w", t.Name(), err)
	}
	// pty.Open leaves the master in blocking mode, where read deadlines do not
	// work; a non-blocking copy lets Go's poller serve it, so a server can stop
	// when its context ends.
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("board: pty %s: non-blocking master: %w", t.Name(), err)
	}
	return &PTY{Path: t.Name(), master: os.NewFile(uintptr(fd), "/dev/ptmx"), tty: t}, nil
}

// Master is the device's end of the pair.
func (p *PTY) Master() *os.File { return p.master }

// Close closes both sides.
func (p *PTY) Close() error {
	err := p.master.Close()
	if terr := p.tty.Close(); err == nil {
		err = terr
	}
	return err
}
