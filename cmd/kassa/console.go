package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/openkassa/kassa/device"
)

// The technician's commands: each is one request over var/kassa.sock.
func init() {
	oneShot := []struct{ name, summary string }{
		{"status", "the register's health (--json for the heartbeat's form)"},
		{"shift", "shift open|close"},
		{"report", "report x|z"},
		{"cash", "cash in|out SUM"},
		{"state-report", "the drive's current state report (21)"},
		{"reregister", "reregister REASONS --yes: a registration change report (11)"},
		{"close-drive", "close-drive --yes: the drive's close report (6); it signs nothing more"},
		{"reprint", "reprint FD: a copy of a document from the drive's archive"},
		{"docs", "documents in the store (--failed)"},
		{"resume", "lift a stop"},
		{"selftest", "check cloud, OFD, drive, store and printer"},
		{"doc", "doc FD [--tlv]: a document from the drive's archive"},
		{"events", "the register's event log"},
		{"fault", "sandbox drills: fault drive|printer|ofd|clock WHAT [VALUE]"},
	}
	for _, c := range oneShot {
		register(command{name: c.name, summary: c.summary, run: func(_ context.Context, args []string) error {
			return callOnce(append([]string{c.name}, args...))
		}})
	}
	register(command{name: "console", summary: "the technician's interactive console", run: runConsole})
}

// socketPath is var/kassa.sock under the data directory (--data must come first).
func socketPath(args []string) (string, []string) {
	data := orDefault(os.Getenv("KASSA_DATA"), "var")
	if len(args) >= 2 && args[0] == "--data" {
		data, args = args[1], args[2:]
	}
	return filepath.Join(data, "kassa.sock"), args
}

func callOnce(args []string) error {
	sock, rest := socketPath(args[1:])
	out, data, err := device.CallConsole(sock, append([]string{args[0]}, rest...))
	if data != nil {
		_, werr := os.Stdout.Write(data)
		return errors.Join(err, werr)
	}
	fmt.Print(out)
	return err
}

func runConsole(_ context.Context, args []string) error {
	sock, _ := socketPath(args)
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return consoleLoop(sock, os.Stdin, os.Stdout, nil)
	}
	old, err := term.MakeRaw(int(os.Stdin.Fd()))
	if err != nil {
		return err
	}
	defer term.Restore(int(os.Stdin.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{os.Stdin, os.Stdout}, "kassa> ")
	return consoleLoop(sock, nil, t, t)
}

// consoleLoop reads commands line by line (from t, which keeps the history, or from
// in when stdin is not a terminal) and prints each answer.
func consoleLoop(sock string, in io.Reader, out io.Writer, t *term.Terminal) error {
	fmt.Fprintln(out, "kassa console: help lists the commands, quit leaves; arrows recall history")
	var lines []string
	if in != nil {
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		lines = strings.Split(string(b), "\n")
	}
	for {
		var line string
		if t != nil {
			l, err := t.ReadLine()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			line = l
		} else {
			if len(lines) == 0 {
				return nil
			}
			line, lines = lines[0], lines[1:]
		}
		args := strings.Fields(line)
		if len(args) == 0 {
			continue
		}
		if args[0] == "quit" || args[0] == "exit" {
			return nil
		}
		res, data, err := device.CallConsole(sock, args)
		if data != nil {
			res = fmt.Sprintf("% x\n", data)
		}
		if err != nil {
			res += "error: " + err.Error() + "\n"
		}
		if t != nil { // the terminal is raw: lines end in CR LF
			res = strings.ReplaceAll(res, "\n", "\r\n")
		}
		fmt.Fprint(out, res)
	}
}
