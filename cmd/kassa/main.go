// Command kassa is the register's one firmware binary: the runtime, the technician's
// one-shot commands, and the emulators of the drive, printer, OFD and cloud.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; each lives in its own file and registers itself.
type command struct {
	name    string
	summary string
	// usage is the command's help for commands without flags of their own:
	// the synopsis line, then what it does. A command with flags leaves it
	// empty and prints its help from its FlagSet when run with -h, before it
	// does anything else.
	usage string
	run   func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// globalData is the --data given before the command; it wins over a command's
// configuration file and $KASSA_DATA, as --data after the command does.
var globalData string

// installedData is where deploy/install.sh and the systemd unit keep a board's data.
var installedData = "/var/lib/kassa"

// dataNote closes every help: where the data directory is.
const dataNote = `The data directory (the register's store, kassa.sock, the emulators' files) is
--data DIR, given before or after the command; else $KASSA_DATA; else ./var if
it exists; else /var/lib/kassa (where a board's installed service keeps it) if
it exists; else ./var, created by the commands that write there.`

func main() {
	os.Exit(cli(os.Args[1:]))
}

// cli runs one command line and returns the exit status: 0, 1 when the
// command failed, 2 when the line itself is wrong. Help and the version go to
// standard output and do nothing else.
func cli(args []string) int {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch name, value, hasValue := strings.Cut(strings.TrimLeft(args[0], "-"), "="); name {
		case "h", "help":
			usage(os.Stdout)
			return 0
		case "version":
			printVersion()
			return 0
		case "data":
			if !hasValue {
				if len(args) < 2 {
					fmt.Fprintln(os.Stderr, "kassa: --data needs a directory")
					return 2
				}
				value, args = args[1], args[1:]
			}
			globalData = value
			// Commands that read $KASSA_DATA themselves see it too.
			os.Setenv("KASSA_DATA", value)
			args = args[1:]
		default:
			fmt.Fprintf(os.Stderr, "kassa: unknown flag %s before the command\n", args[0])
			usage(os.Stderr)
			return 2
		}
	}
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	name, args := args[0], args[1:]
	if name == "help" {
		if len(args) == 0 {
			usage(os.Stdout)
			return 0
		}
		if args[0] == "help" {
			usage(os.Stdout)
			return 0
		}
		name, args = args[0], []string{"-h"}
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kassa: unknown command %q\n", name)
		usage(os.Stderr)
		return 2
	}
	if wantsHelp(args) {
		return help(c)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2 // the FlagSet has said what was wrong, and the usage
		}
		fmt.Fprintf(os.Stderr, "kassa %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// wantsHelp says whether -h, -help or --help stands among args, before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// help prints a command's help on standard output. A command with flags
// prints its own from its FlagSet, which it parses before it does anything.
func help(c command) int {
	if c.usage != "" {
		fmt.Println(c.usage)
	} else {
		// A FlagSet prints to os.Stderr unless told otherwise; help asked for
		// belongs on standard output, where a pager or grep can take it.
		stderr := os.Stderr
		os.Stderr = os.Stdout
		err := c.run(context.Background(), []string{"-h"})
		os.Stderr = stderr
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "kassa %s: -h: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Println()
	fmt.Println(dataNote)
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kassa [--data DIR] COMMAND [flags]\n       kassa help COMMAND\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\n`kassa help COMMAND` or `kassa COMMAND -h` tells more of one; `kassa --version` prints the version.\n\n")
	fmt.Fprintln(w, dataNote)
}

// dataDir is the data directory: the command's --data, else the one before
// the command, else $KASSA_DATA, else ./var if it exists, else installedData
// if it exists, else ./var.
func dataDir(flagValue string) string {
	for _, d := range []string{flagValue, globalData, os.Getenv("KASSA_DATA")} {
		if d != "" {
			return d
		}
	}
	for _, d := range []string{"var", installedData} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return "var"
}

// newFlags is a command's FlagSet whose help says the synopsis and what the
// command does, then the flags.
func newFlags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\n%s\n\nflags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseOne parses fs from args, flags before or after the one argument it returns.
func parseOne(fs *flag.FlagSet, args []string, name string) (string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if args = fs.Args(); len(args) > 0 {
			positional, args = append(positional, args[0]), args[1:]
		}
	}
	if len(positional) != 1 {
		return "", fmt.Errorf("want one %s", name)
	}
	return positional[0], nil
}
