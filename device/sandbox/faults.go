package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openkassa/kassa/ofd/sim"
)

// errNoEmulator answers a fault asked of a part that is real, not emulated.
var errNoEmulator = errors.New("not emulated here: faults are for the sandbox's emulators")

// Fault injects a fault into one of the sandbox's emulators, for drills a
// technician or a script runs against `kassa run` (`kassa fault …`):
//
//	fault drive fail-writes N | memory-full on|off | sign-delay DURATION | expire-key
//	fault printer paper out|in | cover open|closed
//	fault ofd none|refuse|delay|close|error|corrupt|duplicate [TIMES]
//	fault clock advance DURATION (480h, 20d; the sandbox's clock, forward only)
func (sb *Sandbox) Fault(args []string) (string, error) {
	if len(args) < 2 {
		return "", errors.New("usage: fault drive|printer|ofd|clock WHAT [VALUE]")
	}
	val := ""
	if len(args) > 2 {
		val = args[2]
	}
	switch args[0] {
	case "drive":
		return sb.driveFault(args[1], val)
	case "printer":
		return sb.printerFault(args[1], val)
	case "ofd":
		if sb.OFD == nil {
			return "", fmt.Errorf("ofd: %w", errNoEmulator)
		}
		mode, err := sim.ParseFaultMode(args[1])
		if err != nil {
			return "", err
		}
		times := 0
		if val != "" {
			if times, err = strconv.Atoi(val); err != nil || times < 0 {
				return "", fmt.Errorf("fault ofd: %q is not a count of messages", val)
			}
		}
		sb.OFD.SetFault(sim.Fault{Mode: mode, Times: times, Delay: 2 * time.Second})
		return fmt.Sprintf("OFD emulator: %s (%d times; 0 = until cleared)\n", mode, times), nil
	case "clock":
		return sb.clockFault(args[1], val)
	}
	return "", fmt.Errorf("fault: unknown part %q (drive, printer, ofd, clock)", args[0])
}

// clockFault moves the sandbox's clock forward: the register and its emulated
// drive live through DURATION at once (the shift's 24 hours, the OFD's 30 days).
func (sb *Sandbox) clockFault(what, val string) (string, error) {
	if sb.clock == nil {
		return "", fmt.Errorf("clock: %w (the drive is a real one)", errNoEmulator)
	}
	if what != "advance" {
		return "", fmt.Errorf("fault clock: unknown fault %q (advance)", what)
	}
	d, err := parseAdvance(val)
	if err != nil {
		return "", err
	}
	total, err := sb.clock.Advance(d)
	if err != nil {
		return "", err
	}
	sb.log.Warn("sandbox clock advanced", "by", d, "offset", total)
	now := sb.clock.Now()
	if sb.runtime != nil {
		now = sb.runtime.ClockMoved()
	}
	return fmt.Sprintf("clock: advanced %v; %v ahead of the system's, now %s\n", d, total,
		now.Format("2006-01-02 15:04:05 MST")), nil
}

func (sb *Sandbox) driveFault(what, val string) (string, error) {
	em := sb.Emulator
	if em == nil {
		return "", fmt.Errorf("drive: %w", errNoEmulator)
	}
	switch what {
	case "fail-writes":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return "", fmt.Errorf("fault drive fail-writes: %q is not a count", val)
		}
		em.FailNextWrites(n)
	case "memory-full":
		on, err := onOff(val, "on", "off")
		if err != nil {
			return "", err
		}
		em.SetMemoryFull(on)
	case "sign-delay":
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			return "", fmt.Errorf("fault drive sign-delay: %q is not a duration", val)
		}
		em.SetSignDelay(d)
	case "expire-key":
		em.ExpireKey()
	default:
		return "", fmt.Errorf("fault drive: unknown fault %q (fail-writes, memory-full, sign-delay, expire-key)", what)
	}
	return fmt.Sprintf("drive: %s %s\n", what, val), nil
}

func (sb *Sandbox) printerFault(what, val string) (string, error) {
	pe := sb.Printer
	if pe == nil {
		return "", fmt.Errorf("printer: %w", errNoEmulator)
	}
	switch what {
	case "paper":
		out, err := onOff(val, "out", "in")
		if err != nil {
			return "", err
		}
		pe.SetPaperOut(out)
	case "cover":
		open, err := onOff(val, "open", "closed")
		if err != nil {
			return "", err
		}
		pe.SetCoverOpen(open)
	default:
		return "", fmt.Errorf("fault printer: unknown fault %q (paper, cover)", what)
	}
	return fmt.Sprintf("printer: %s %s\n", what, val), nil
}

func onOff(v, yes, no string) (bool, error) {
	switch v {
	case yes:
		return true, nil
	case no:
		return false, nil
	}
	return false, fmt.Errorf("%q: want %s or %s", v, yes, no)
}
