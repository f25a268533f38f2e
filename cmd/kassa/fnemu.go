//go:build !board

package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal/fn"
)

func init() {
	register(command{name: "fn-emu", summary: "serve the emulated fiscal drive on a pty", run: runFNEmu})
}

func runFNEmu(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fn-emu", flag.ContinueOnError)
	usePTY := fs.Bool("pty", false, "serve on a new pty and print its path")
	data := fs.String("data", "", "data directory (default $KASSA_DATA or ./var); the drive lives in its fn/")
	number := fs.String("drive-number", "", "drive serial number, 16 digits")
	failWrites := fs.Int("fail-writes", 0, "fail the next N writes")
	memoryFull := fs.Bool("memory-full", false, "report the archive full")
	expireKey := fs.Bool("expire-key", false, "end the key's validity")
	signDelay := fs.Duration("sign-delay", 0, "time taken to sign a document, on top of --latency")
	latency := fs.String("latency", "", `"typical": answer each command with a real drive's timing (fn.TypicalLatency)`)
	lenient := fs.Bool("lenient", false, "sign documents FFD 1.05's tag tables refuse (a real drive answers them 02h)")
	verbose := fs.Bool("v", false, "log every command")
	printKey := fs.Bool("key", false, "print the drive's NUMBER=HEX signing key, for kassa ofd-sim --drive-key, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*usePTY && !*printKey {
		return errors.New("want --pty (serve the drive) or --key (print its key)")
	}
	dir := *data
	if dir == "" {
		dir = os.Getenv("KASSA_DATA")
	}
	if dir == "" {
		dir = "var"
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var lat fn.Latency
	switch *latency {
	case "":
	case "typical":
		lat = fn.TypicalLatency()
	default:
		return fmt.Errorf("--latency %q: want typical or nothing", *latency)
	}
	d, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(dir, "fn"), DriveNumber: *number, SignDelay: *signDelay,
		Latency: lat, CheckTables: !*lenient, Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()
	if *printKey {
		fmt.Printf("%s=%s\n", d.DriveNumber(), hex.EncodeToString(d.Key()))
		return nil
	}
	d.FailNextWrites(*failWrites)
	d.SetMemoryFull(*memoryFull)
	if *expireKey {
		d.ExpireKey()
	}
	p, err := board.OpenPTY()
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Println(p.Path)
	if err := fn.Serve(ctx, p.Master(), d); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
