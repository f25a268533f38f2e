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

// The technician's commands: each is one request over DIR/kassa.sock.
func init() {
	oneShot := []struct{ name, summary, synopsis, about string }{
		{"status", "the register's health (--json for the heartbeat's form)", "status [--json]",
			"The register's health: cloud and OFD reachable, the drive, the shift and its age, documents\n" +
				"waiting for the drive and for the OFD, the printer, the stop state. --json prints the\n" +
				"heartbeat's form."},
		{"shift", "shift open|close", "shift open|close", "Opens a shift, or closes it (the Z report)."},
		{"report", "report x|z", "report x|z", "Prints an X report (totals; the shift stays open) or a Z report (closes the shift)."},
		{"cash", "cash in|out SUM", "cash in|out SUM", "Puts money into the drawer or takes it out; SUM in roubles, e.g. 1500.00."},
		{"state-report", "the drive's current state report (21)", "state-report",
			"Has the drive sign its current state report (21): what waits for the OFD."},
		{"reregister", "reregister REASONS --yes: a registration change report (11)", "reregister REASONS --yes",
			"Has the drive sign a registration change report (11) with the retail point's current data."},
		{"close-drive", "close-drive --yes: the drive's close report (6); it signs nothing more", "close-drive --yes",
			"Has the drive sign its close report (6). The drive signs nothing more after it."},
		{"reprint", "reprint FD: a copy of a document from the drive's archive", "reprint FD",
			"Prints a copy of document FD from the drive's archive."},
		{"docs", "documents in the store (--failed)", "docs [--failed]", "Lists the documents in the store and where each stands."},
		{"resume", "lift a stop", "resume", "Lifts a stop once its cause is fixed."},
		{"selftest", "check cloud, OFD, drive, store and printer", "selftest", "Checks the cloud, the OFD, the drive, the store and the printer."},
		{"doc", "doc FD [--tlv]: a document from the drive's archive", "doc FD [--tlv]",
			"Prints document FD from the drive's archive as JSON, or its raw TLV bytes with --tlv."},
		{"events", "the register's event log", "events [N]", "Prints the last N events of the register's log (default 20)."},
		{"fault", "sandbox drills: fault drive|printer|ofd|clock WHAT [VALUE]", "fault PART WHAT [VALUE]",
			"Gives the sandbox's emulators a fault (docs/config.md, \"Drills in the sandbox\"):\n" +
				"drive fail-writes N|memory-full on|off|sign-delay D|expire-key, printer paper out|in|\n" +
				"cover open|closed, ofd MODE [TIMES], clock advance DURATION."},
	}
	for _, c := range oneShot {
		register(command{name: c.name, summary: c.summary,
			usage: "usage: kassa [--data DIR] " + c.synopsis + " [--data DIR]\n\n" + c.about +
				"\n\nIt asks the running register over DIR/kassa.sock.",
			run: func(_ context.Context, args []string) error {
				return callOnce(append([]string{c.name}, args...))
			}})
	}
	register(command{name: "console", summary: "the technician's interactive console", run: runConsole,
		usage: "usage: kassa [--data DIR] console [--data DIR]\n\n" +
			"The technician's interactive console over DIR/kassa.sock, with history; `help` there\n" +
			"lists its commands, `quit` leaves. Read from a pipe, it runs each line in turn."})
}

// socketPath is kassa.sock under the data directory, and args without the
// --data DIR or --data=DIR that may stand among them.
func socketPath(args []string) (string, []string) {
	var data string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--data" || a == "-data":
			if i+1 < len(args) {
				data = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--data=") || strings.HasPrefix(a, "-data="):
			_, data, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
		}
	}
	return filepath.Join(dataDir(data), "kassa.sock"), rest
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
