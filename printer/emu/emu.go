// Package emu is the emulated receipt printer: the device end of an ESC/POS
// line. It interprets what it is sent, renders each page to text and to a
// monochrome PNG at the profile's width with a real Cyrillic font, answers DLE
// EOT status queries, and can be told to run out of paper or open its cover.
//
// It is a test and sandbox device: it never talks to a drive or a register's
// store, and what it prints it only records (and writes to Dir).
package emu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/openkassa/kassa/printer"
)

// Config configures the emulated printer.
type Config struct {
	Dir     string          // where pages are written as <name>.txt and <name>.png; none when empty
	Profile printer.Profile // the model emulated; emu-58 when zero
	Logger  *slog.Logger
}

// Rendered is one page the emulator printed (a cut ended it).
type Rendered struct {
	Name   string // the file name without extension: the FD, or "nonfiscal-N"
	FD     uint32 // the fiscal document number read from the page's "ФД" line; 0 on a non-fiscal page
	Text   string // the page as text, one printed line per line
	PNG    []byte // the page as a monochrome PNG, Profile.Dots wide
	Width  int
	Height int
}

// Printer is one emulated printer; it may serve several lines at once, which
// share its paper and cover.
type Printer struct {
	profile printer.Profile
	dir     string
	log     *slog.Logger

	mu        sync.Mutex
	paperOut  bool
	coverOpen bool
	nearEnd   bool
	kicks     int
	pages     []Rendered
	names     map[string]bool
	nonFiscal int
}

// New makes an emulated printer.
func New(cfg Config) *Printer {
	if cfg.Profile.Columns == 0 {
		cfg.Profile, _ = printer.ProfileByName("emu-58")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Printer{profile: cfg.Profile, dir: cfg.Dir, log: cfg.Logger, names: map[string]bool{}}
}

// SetPaperOut runs the paper out (true) or loads a new roll (false).
func (p *Printer) SetPaperOut(v bool) { p.mu.Lock(); p.paperOut = v; p.mu.Unlock() }

// SetCoverOpen opens or closes the cover.
func (p *Printer) SetCoverOpen(v bool) { p.mu.Lock(); p.coverOpen = v; p.mu.Unlock() }

// SetPaperNearEnd trips the roll's near-end sensor: still printing, but reported.
func (p *Printer) SetPaperNearEnd(v bool) { p.mu.Lock(); p.nearEnd = v; p.mu.Unlock() }

// Pages returns what it printed so far, oldest first.
func (p *Printer) Pages() []Rendered {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Rendered(nil), p.pages...)
}

// DrawerKicks is how many times the cash drawer was opened (ESC p, DLE DC4).
func (p *Printer) DrawerKicks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kicks
}

func (p *Printer) status() printer.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return printer.Status{Online: !p.paperOut && !p.coverOpen, PaperOut: p.paperOut, CoverOpen: p.coverOpen, PaperNearEnd: p.nearEnd}
}

// Serve is the device end of a line: it interprets rw's bytes as ESC/POS and
// writes status replies back, until rw's Read fails or ctx is done (a stream
// with read deadlines — a pty, a pipe — is woken; another returns at its next read).
func (p *Printer) Serve(ctx context.Context, rw io.ReadWriter) error {
	if d, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { _ = d.SetReadDeadline(time.Now()) })
		defer stop()
	}
	s := newSession(p, rw)
	err := s.run(bufio.NewReader(rw))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("emu: serving the line: %w", err)
}

// Pipe is an in-process line to the printer, served until the returned end is
// closed; Close returns once the printer has finished the page it was on.
func (p *Printer) Pipe() io.ReadWriteCloser {
	host, dev := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Serve(context.Background(), dev); err != nil {
			p.log.Warn("emu: pipe", "err", err)
		}
		dev.Close()
	}()
	return pipeEnd{host, done}
}

// pipeEnd is the host's end of a Pipe.
type pipeEnd struct {
	net.Conn
	served chan struct{}
}

func (e pipeEnd) Close() error {
	err := e.Conn.Close()
	<-e.served
	return err
}

// fdLine finds the fiscal document number on a page: the "ФД №" line.
var fdLine = regexp.MustCompile(`(?m)^\s*ФД\s*(?:№|N|:)?\s*(\d{1,10})\s*$`)

// record keeps a finished page and writes it to Dir.
func (p *Printer) record(r Rendered) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := fdLine.FindStringSubmatch(r.Text); m != nil {
		if fd, err := strconv.ParseUint(m[1], 10, 32); err == nil {
			r.FD = uint32(fd)
		}
	}
	if r.FD != 0 {
		r.Name = p.freeName(strconv.FormatUint(uint64(r.FD), 10), func(i int) string {
			return fmt.Sprintf("%d-%d", r.FD, i)
		})
	} else {
		for r.Name == "" || p.taken(r.Name) {
			p.nonFiscal++
			r.Name = "nonfiscal-" + strconv.Itoa(p.nonFiscal)
		}
	}
	p.names[r.Name] = true
	p.pages = append(p.pages, r)
	p.log.Info("emu: page printed", "name", r.Name, "fd", r.FD, "height", r.Height)
	if p.dir == "" {
		return
	}
	if err := writeFile(filepath.Join(p.dir, r.Name+".txt"), []byte(r.Text)); err != nil {
		p.log.Error("emu: writing the page", "err", err)
	}
	if r.PNG != nil {
		if err := writeFile(filepath.Join(p.dir, r.Name+".png"), r.PNG); err != nil {
			p.log.Error("emu: writing the page", "err", err)
		}
	}
}

// freeName is base, or, when a page of that name exists (a reprint), base-2, base-3…
func (p *Printer) freeName(base string, nth func(int) string) string {
	name := base
	for i := 2; p.taken(name); i++ {
		name = nth(i)
	}
	return name
}

func (p *Printer) taken(name string) bool {
	if p.names[name] {
		return true
	}
	if p.dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(p.dir, name+".txt"))
	return err == nil
}

// writeFile writes through a temporary file so a reader never sees half a page.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil { // receipts carry buyers' e-mails
		return fmt.Errorf("emu: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("emu: %w", err)
	}
	return nil
}
