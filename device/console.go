package device

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openkassa/kassa/store"
)

// The console speaks one JSON request line and one JSON answer per connection over
// a unix socket that only the register's own user may open (mode 0600).
type consoleRequest struct {
	Args []string `json:"args"`
}

type consoleAnswer struct {
	OK     bool   `json:"ok"`
	Output string `json:"output,omitempty"`
	Data   []byte `json:"data,omitempty"` // raw bytes (kassa doc FD --tlv)
	Error  string `json:"error,omitempty"`
}

// consoleCommand answers one command; out is the text for the technician.
type consoleCommand struct {
	usage string
	run   func(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error)
}

var consoleCommands map[string]consoleCommand

func init() {
	consoleCommands = map[string]consoleCommand{
		"status":       {"status [--json]   the register's health", cmdStatus},
		"shift":        {"shift open|close  open a shift, or close it (Z report)", cmdShift},
		"report":       {"report x|z        X report (totals, shift stays open) or Z report (closes the shift)", cmdReport},
		"cash":         {"cash in|out SUM   put money into the drawer or take it out (roubles, e.g. 1500.00)", cmdCash},
		"state-report": {"state-report      the drive's current state report (21): what waits for the OFD", cmdStateReport},
		"reregister":   {"reregister REASONS --yes  a registration change report (11) with the point's current data", cmdReregister},
		"close-drive":  {"close-drive --yes the drive's close report (6): the drive signs nothing more", cmdCloseDrive},
		"docs":         {"docs [--failed]   documents in the store and where each stands", cmdDocs},
		"resume":       {"resume            lift a stop after the cause is fixed", cmdResume},
		"reprint":      {"reprint FD        print a copy of a document from the drive's archive", cmdReprint},
		"selftest":     {"selftest          check cloud, OFD, drive, store and printer", cmdSelftest},
		"doc":          {"doc FD [--tlv]    a document from the drive's archive (JSON, or raw TLV)", cmdDoc},
		"events":       {"events [N]        the last N events (default 20)", cmdEvents},
		"version":      {"version           the firmware version", cmdVersion},
		"fault":        {"fault PART WHAT   sandbox drills: drive fail-writes N|memory-full on|off|sign-delay D|expire-key, printer paper out|in|cover open|closed, ofd MODE [TIMES], clock advance DURATION", cmdFault},
		"help":         {"help              this list", cmdHelp},
	}
}

// ServeConsole listens on the unix socket at path until ctx ends. It returns
// once every connection it took has been answered: a command under way (a
// shift close, a report) finishes, and a client still writing its request is
// cut off, so the store and the drive are not closed beneath either.
func (r *Runtime) ServeConsole(ctx context.Context, path string) error {
	os.Remove(path) // a socket left by a killed process
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("device: console socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("device: console socket: %w", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	// cut ends the wait for a request on every connection taken.
	cut := func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.SetReadDeadline(time.Now())
		}
	}
	stop := make(chan struct{})
	defer wg.Wait()
	defer close(stop) // before the wait: the watcher below is one of the waited
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-stop:
		}
		ln.Close()
		cut()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("device: console: %w", err)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Minute)) // before cut can see it, which shortens it
		mu.Lock()
		conns[conn] = true
		mu.Unlock()
		if ctx.Err() != nil {
			cut()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serveConsoleConn(ctx, conn)
			mu.Lock()
			delete(conns, conn)
			mu.Unlock()
		}()
	}
}

func (r *Runtime) serveConsoleConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	var req consoleRequest
	if err := json.NewDecoder(io.LimitReader(conn, 64<<10)).Decode(&req); err != nil {
		json.NewEncoder(conn).Encode(consoleAnswer{Error: "bad request: " + err.Error()})
		return
	}
	ans := r.Console(ctx, req.Args)
	json.NewEncoder(conn).Encode(ans)
}

// Console runs one console command.
func (r *Runtime) Console(ctx context.Context, args []string) consoleAnswer {
	if len(args) == 0 {
		args = []string{"help"}
	}
	c, ok := consoleCommands[args[0]]
	if !ok {
		return consoleAnswer{Error: fmt.Sprintf("unknown command %q; try help", args[0])}
	}
	ans, err := c.run(ctx, r, args[1:])
	if err != nil {
		return consoleAnswer{Error: err.Error()}
	}
	ans.OK = true
	return ans
}

// CallConsole sends one command to the register listening at path.
func CallConsole(path string, args []string) (output string, data []byte, err error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return "", nil, fmt.Errorf("the register does not answer on %s (is `kassa run` running?): %w", path, err)
	}
	defer conn.Close()
	if err := json.NewEncoder(conn).Encode(consoleRequest{Args: args}); err != nil {
		return "", nil, err
	}
	var ans consoleAnswer
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&ans); err != nil {
		return "", nil, fmt.Errorf("reading the register's answer: %w", err)
	}
	if !ans.OK {
		return ans.Output, nil, errors.New(ans.Error)
	}
	return ans.Output, ans.Data, nil
}

func text(format string, args ...any) consoleAnswer {
	return consoleAnswer{Output: fmt.Sprintf(format, args...)}
}

func cmdHelp(_ context.Context, _ *Runtime, _ []string) (consoleAnswer, error) {
	var lines []string
	for _, c := range consoleCommands {
		lines = append(lines, "  "+c.usage)
	}
	sort.Strings(lines)
	return text("commands:\n%s\n", strings.Join(lines, "\n")), nil
}

func cmdVersion(_ context.Context, r *Runtime, _ []string) (consoleAnswer, error) {
	return text("kassa %s\n", r.cfg.Version), nil
}

func cmdStatus(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	h := r.Health(ctx)
	if len(args) > 0 && args[0] == "--json" {
		b, _ := json.MarshalIndent(h, "", "  ")
		return text("%s\n", b), nil
	}
	ledger, err := r.store.Ledger()
	if err != nil {
		return consoleAnswer{}, err
	}
	var b strings.Builder
	state := "READY"
	switch {
	case h.Stopped:
		state = "STOPPED: " + h.StopReason
	case h.DiskFull != "":
		state = "DISK FULL: " + h.DiskFull
	}
	fmt.Fprintf(&b, "register      %s\n", state)
	fmt.Fprintf(&b, "cloud         %s\n", reach(h.CloudReachable))
	fmt.Fprintf(&b, "OFD           %s, last exchange %s\n", reach(h.OFDReachable), when(h.LastOFDExchange))
	fmt.Fprintf(&b, "drive         %s %s, last FD %d", h.Drive.Number, h.Drive.Phase, h.Drive.LastFD)
	if h.Drive.Error != "" {
		fmt.Fprintf(&b, ", ERROR: %s", h.Drive.Error)
	}
	if len(h.Drive.Warnings) > 0 {
		fmt.Fprintf(&b, ", warnings: %s", strings.Join(h.Drive.Warnings, ", "))
	}
	b.WriteString("\n")
	if h.ShiftOpen {
		fmt.Fprintf(&b, "shift         %d open since %s (%s)\n", h.ShiftNumber, h.ShiftOpenedAt.Format("2006-01-02 15:04"), h.At.Sub(h.ShiftOpenedAt).Round(time.Minute))
	} else {
		fmt.Fprintf(&b, "shift         closed (last %d)\n", h.ShiftNumber)
	}
	fmt.Fprintf(&b, "drawer        %s\n", rub(ledger.CashBalance))
	fmt.Fprintf(&b, "waiting       %d for the drive, %d for the OFD", h.WaitingForDrive, h.WaitingForOFD)
	if !h.OldestUnsentAt.IsZero() {
		fmt.Fprintf(&b, " (oldest since %s)", h.OldestUnsentAt.Format("2006-01-02 15:04"))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "printer       %s\n", h.Printer.State)
	if h.RemoteMode {
		b.WriteString("mode          remote fiscalization (no stop on errors)\n")
	}
	return consoleAnswer{Output: b.String()}, nil
}

func reach(ok bool) string {
	if ok {
		return "reachable"
	}
	return "UNREACHABLE"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("2006-01-02 15:04:05")
}

func cmdShift(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	switch strings.Join(args, " ") {
	case "open":
		s, err := r.OpenShift(ctx)
		if err != nil {
			return consoleAnswer{}, err
		}
		return text("shift %d opened, FD %d, ФП %010d\n", s.Shift, s.FD, s.FPD), nil
	case "close":
		return cmdReport(ctx, r, []string{"z"})
	}
	return consoleAnswer{}, errors.New("usage: shift open|close")
}

func cmdReport(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	switch strings.Join(args, " ") {
	case "x":
		ledger, err := r.store.Ledger()
		if err != nil {
			return consoleAnswer{}, err
		}
		out := fmt.Sprintf("X REPORT, shift %d\n%s", ledger.Shift, ledgerText(ledger))
		if r.printer != nil {
			if err := r.printXReport(ctx, ledger); err != nil {
				out += fmt.Sprintf("not printed: %v\n", err)
			}
		}
		return text("%s", out), nil
	case "z":
		s, ledger, err := r.CloseShift(ctx)
		if err != nil {
			return consoleAnswer{}, err
		}
		return text("Z REPORT: shift %d closed, FD %d, ФП %010d\n%s", s.Shift, s.FD, s.FPD, ledgerText(ledger)), nil
	}
	return consoleAnswer{}, errors.New("usage: report x|z")
}

func cmdCash(_ context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	if len(args) != 2 || (args[0] != "in" && args[0] != "out") {
		return consoleAnswer{}, errors.New("usage: cash in|out SUM")
	}
	sum, err := parseRoubles(args[1])
	if err != nil {
		return consoleAnswer{}, err
	}
	ledger, err := r.Cash(args[0] == "in", sum)
	if err != nil {
		return consoleAnswer{}, err
	}
	return text("drawer %s\n", rub(ledger.CashBalance)), nil
}

// parseRoubles reads "1500", "1500.5" or "1500.50" into kopecks.
func parseRoubles(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("sum %q: at most two decimals", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 {
		return 0, fmt.Errorf("sum %q: not a sum of roubles", s)
	}
	k := int64(0)
	if frac != "" {
		f, err := strconv.ParseInt((frac + "0")[:2], 10, 64)
		if err != nil || f < 0 {
			return 0, fmt.Errorf("sum %q: not a sum of roubles", s)
		}
		k = f
	}
	return w*100 + k, nil
}

func cmdDocs(_ context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	failedOnly := len(args) > 0 && args[0] == "--failed"
	docs, err := r.store.Docs(nil)
	if err != nil {
		return consoleAnswer{}, err
	}
	var b strings.Builder
	for _, d := range docs {
		if failedOnly && d.State != "failed" {
			continue
		}
		fmt.Fprintf(&b, "%-38s %-10s", d.ID, d.State)
		if d.Fiscal != nil {
			fmt.Fprintf(&b, " FD %-6d ФП %010d shift %d", d.Fiscal.FD, d.Fiscal.FPD, d.Fiscal.Shift)
		}
		if !d.Reported {
			b.WriteString(" (not yet reported)")
		}
		if d.Error != "" {
			fmt.Fprintf(&b, " %s", d.Error)
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		b.WriteString("no documents\n")
	}
	return consoleAnswer{Output: b.String()}, nil
}

func cmdFault(_ context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	if r.cfg.Faults == nil {
		return consoleAnswer{}, errors.New("fault: only the sandbox's emulators take faults")
	}
	out, err := r.cfg.Faults(args)
	return consoleAnswer{Output: out}, err
}

func cmdReprint(_ context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	if len(args) != 1 {
		return consoleAnswer{}, errors.New("usage: reprint FD")
	}
	fd, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return consoleAnswer{}, fmt.Errorf("reprint: %q is not a document number", args[0])
	}
	if err := r.Reprint(uint32(fd)); err != nil {
		return consoleAnswer{}, err
	}
	return text("FD %d queued for printing (a copy)\n", fd), nil
}

func cmdResume(ctx context.Context, r *Runtime, _ []string) (consoleAnswer, error) {
	if err := r.Resume(ctx); err != nil {
		return consoleAnswer{}, err
	}
	return text("resumed\n"), nil
}

func cmdEvents(_ context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	n := 20
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v <= 0 {
			return consoleAnswer{}, fmt.Errorf("events: %q is not a count", args[0])
		}
		n = v
	}
	ev, err := r.store.Events(n)
	if err != nil {
		return consoleAnswer{}, err
	}
	var b strings.Builder
	for _, e := range ev {
		fmt.Fprintf(&b, "%s %-8s %s\n", e.At.Format("2006-01-02 15:04:05"), e.Kind, e.Text)
	}
	return consoleAnswer{Output: b.String()}, nil
}

func cmdDoc(ctx context.Context, r *Runtime, args []string) (consoleAnswer, error) {
	if len(args) == 0 {
		return consoleAnswer{}, errors.New("usage: doc FD [--tlv]")
	}
	fd, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return consoleAnswer{}, fmt.Errorf("doc: %q is not a document number", args[0])
	}
	a, err := r.drive.Document(ctx, uint32(fd))
	if err != nil {
		return consoleAnswer{}, err
	}
	if len(args) > 1 && args[1] == "--tlv" {
		return consoleAnswer{Data: a.TLV}, nil
	}
	return docJSON(a)
}

func cmdSelftest(ctx context.Context, r *Runtime, _ []string) (consoleAnswer, error) {
	var b strings.Builder
	failed := false
	check := func(name string, err error, ok string) {
		if err != nil {
			failed = true
			fmt.Fprintf(&b, "FAIL  %-8s %v\n", name, err)
		} else {
			fmt.Fprintf(&b, "ok    %-8s %s\n", name, ok)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := r.cloud.Point(pctx)
	cancel()
	check("cloud", err, "answers")
	h := r.Health(ctx)
	var ofdErr error
	if !h.OFDReachable {
		ofdErr = errors.New("not reachable (last exchange " + when(h.LastOFDExchange) + ")")
	}
	check("OFD", ofdErr, "reachable")
	var driveErr error
	if h.Drive.Error != "" {
		driveErr = errors.New(h.Drive.Error)
	}
	unsent := fmt.Sprintf("%s, %s, last FD %d, %d unsent", h.Drive.Number, h.Drive.Phase, h.Drive.LastFD, h.WaitingForOFD)
	if !h.OldestUnsentAt.IsZero() {
		unsent += fmt.Sprintf(", oldest %s old", h.At.Sub(h.OldestUnsentAt).Round(time.Minute))
	}
	check("drive", driveErr, unsent)
	check("store", r.store.Check(), "invariants hold")
	var printErr error
	if r.printer != nil {
		printErr = r.printSelfTest(ctx, b.String())
	}
	check("printer", printErr, h.Printer.State)
	if failed {
		return consoleAnswer{Output: b.String()}, errors.New("self-test failed:\n" + b.String())
	}
	return consoleAnswer{Output: b.String()}, nil
}

// ledgerText lays out the shift's counters, the drawer and the cumulative totals.
func ledgerText(l store.Ledger) string {
	var b strings.Builder
	names := []string{"ПРИХОД", "ВОЗВРАТ ПРИХОДА", "РАСХОД", "ВОЗВРАТ РАСХОДА"}
	for i, n := range names {
		t := l.ShiftTotals
		fmt.Fprintf(&b, "%-16s %4d receipts %12s (cash %s, electronic %s, prepaid %s, credit %s, other %s)\n",
			n, t.Count[i], rub(t.Sum[i]), rub(t.Cash[i]), rub(t.Electronic[i]), rub(t.Prepaid[i]), rub(t.Credit[i]), rub(t.Other[i]))
	}
	fmt.Fprintf(&b, "cash in %s, cash out %s, drawer %s\n", rub(l.CashIn), rub(l.CashOut), rub(l.CashBalance))
	c := l.Cumulative
	fmt.Fprintf(&b, "cumulative: приход %s, возврат прихода %s, расход %s, возврат расхода %s\n",
		rub(c.Sum[0]), rub(c.Sum[1]), rub(c.Sum[2]), rub(c.Sum[3]))
	return b.String()
}
