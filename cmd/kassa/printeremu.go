//go:build !board

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/printer"
	"github.com/openkassa/kassa/printer/emu"
)

func init() {
	register(command{name: "printer-emu", summary: "serve the emulated receipt printer on a pty", run: runPrinterEmu})
}

func runPrinterEmu(ctx context.Context, args []string) error {
	fs := newFlags("printer-emu", "kassa printer-emu --pty [--dir DIR] [flags]",
		"Serves the emulated receipt printer on a new pty and prints the pty's path, for a\n"+
			"register's printer.port. It keeps no data of its own; --dir keeps each page.")
	usePTY := fs.Bool("pty", false, "serve on a new pty and print its path")
	dir := fs.String("dir", "", "write each printed page to DIR as <FD>.txt and <FD>.png")
	profile := fs.String("profile", "emu-58", "printer profile (emu-58, emu-80, or a model's)")
	paperOut := fs.Bool("paper-out", false, "start with the paper out")
	coverOpen := fs.Bool("cover-open", false, "start with the cover open")
	verbose := fs.Bool("v", false, "log every page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*usePTY {
		return errors.New("only --pty is supported")
	}
	p, ok := printer.ProfileByName(*profile)
	if !ok {
		return fmt.Errorf("unknown profile %q", *profile)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	e := emu.New(emu.Config{Dir: *dir, Profile: p, Logger: log})
	e.SetPaperOut(*paperOut)
	e.SetCoverOpen(*coverOpen)
	pt, err := board.OpenPTY()
	if err != nil {
		return err
	}
	defer pt.Close()
	fmt.Println(pt.Path)
	if err := e.Serve(ctx, pt.Master()); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
