package board

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Role is what a GPIO line does on the register, whatever pin carries it.
type Role string

// The roles a profile may wire. A register with a single RGB LED wires its red
// and green legs; blue is not used.
const (
	LEDGreen     Role = "led-green"     // output: status LED, green
	LEDRed       Role = "led-red"       // output: status LED, red
	Button       Role = "button"        // input: the service button
	Paper        Role = "paper"         // input: active while paper is present
	Cover        Role = "cover"         // input: active while the printer cover is closed
	Drawer       Role = "drawer"        // output: pulsed to open the cash drawer
	PrinterPower Role = "printer-power" // output: active powers the printer
)

var roles = []Role{LEDGreen, LEDRed, Button, Paper, Cover, Drawer, PrinterPower}

// Roles lists every role a profile may wire, outputs and inputs.
func Roles() []Role { return slices.Clone(roles) }

// IsInput says whether the role is read (true) or driven (false).
func (r Role) IsInput() bool { return r == Button || r == Paper || r == Cover }

func (r Role) known() bool { return slices.Contains(roles, r) }

// Line says how one role is wired.
type Line struct {
	// Pin is the periph.io pin name: "GPIO17" on a Raspberry Pi, "PA10" on an
	// Allwinner SoC.
	Pin string
	// Active is the level at which the role is on: LED lit, button pressed,
	// paper present, cover closed, drawer kicking, printer powered.
	Active gpio.Level
	// Pull is set on inputs; outputs ignore it.
	Pull gpio.Pull
	// Debounce is how long an input must hold a level before it counts.
	Debounce time.Duration
}

// Profile is one board's pin map and timings. Profiles are plain data so that
// a new board is a table entry, not code.
type Profile struct {
	Name        string
	Description string
	Lines       map[Role]Line
	// LongPress is how long the button is held for a Long press.
	LongPress time.Duration
	// DrawerPulse is how long the drawer solenoid is driven per kick; drawer
	// solenoids burn out if held, so the pulse is always bounded.
	DrawerPulse time.Duration
}

// ErrProfile reports a profile that cannot be used.
var ErrProfile = errors.New("board: bad profile")

// Validate checks that every role is known, no pin carries two roles, levels
// and timings make sense.
func (p Profile) Validate() error {
	byPin := map[string]Role{}
	for _, r := range p.sortedRoles() {
		l := p.Lines[r]
		if !r.known() {
			return fmt.Errorf("%w: %s: unknown role %q", ErrProfile, p.Name, r)
		}
		if strings.TrimSpace(l.Pin) == "" {
			return fmt.Errorf("%w: %s: role %s has no pin", ErrProfile, p.Name, r)
		}
		if other, dup := byPin[l.Pin]; dup {
			return fmt.Errorf("%w: %s: pin %s used by both %s and %s", ErrProfile, p.Name, l.Pin, other, r)
		}
		byPin[l.Pin] = r
		if l.Debounce < 0 {
			return fmt.Errorf("%w: %s: role %s: negative debounce %s", ErrProfile, p.Name, r, l.Debounce)
		}
		if !r.IsInput() && (l.Debounce != 0 || l.Pull != gpio.PullNoChange) {
			return fmt.Errorf("%w: %s: role %s is an output: no pull or debounce", ErrProfile, p.Name, r)
		}
	}
	if _, ok := p.Lines[Button]; ok && p.LongPress <= p.Lines[Button].Debounce {
		return fmt.Errorf("%w: %s: long press %s must exceed the button's debounce %s", ErrProfile, p.Name, p.LongPress, p.Lines[Button].Debounce)
	}
	if _, ok := p.Lines[Drawer]; ok && (p.DrawerPulse <= 0 || p.DrawerPulse > time.Second) {
		return fmt.Errorf("%w: %s: drawer pulse %s outside (0, 1s]", ErrProfile, p.Name, p.DrawerPulse)
	}
	return nil
}

func (p Profile) sortedRoles() []Role {
	rs := make([]Role, 0, len(p.Lines))
	for r := range p.Lines {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	return rs
}

// None is the profile of a register without GPIO: a PC, a container, qemu.
const None = "none"

// The Raspberry Pi map uses BCM numbering and keeps clear of the UART (GPIO14,
// 15), I²C (2, 3) and SPI (7–11) pins, which the drive and printer may need.
var raspberryPi = map[Role]Line{
	LEDGreen:     {Pin: "GPIO23", Active: gpio.High},
	LEDRed:       {Pin: "GPIO24", Active: gpio.High},
	Button:       {Pin: "GPIO17", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 30 * time.Millisecond},
	Paper:        {Pin: "GPIO27", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 50 * time.Millisecond},
	Cover:        {Pin: "GPIO22", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 50 * time.Millisecond},
	Drawer:       {Pin: "GPIO5", Active: gpio.High},
	PrinterPower: {Pin: "GPIO6", Active: gpio.High},
}

// The Orange Pi PC map (Allwinner H3) uses header pins 29–37, 16 and 18, away
// from UART1/UART2 (PA0–PA3, PG6–PG9) which carry the drive and printer.
var orangePiPC = map[Role]Line{
	LEDGreen:     {Pin: "PA7", Active: gpio.High},
	LEDRed:       {Pin: "PA8", Active: gpio.High},
	Button:       {Pin: "PA9", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 30 * time.Millisecond},
	Paper:        {Pin: "PA10", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 50 * time.Millisecond},
	Cover:        {Pin: "PA20", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 50 * time.Millisecond},
	Drawer:       {Pin: "PC4", Active: gpio.High},
	PrinterPower: {Pin: "PC7", Active: gpio.High},
}

var profiles = map[string]Profile{
	None: {Name: None, Description: "no GPIO: every role reads as not wired"},
	"rpi3": {Name: "rpi3", Description: "Raspberry Pi 3 (BCM2837), 40-pin header, BCM numbering",
		Lines: raspberryPi, LongPress: 3 * time.Second, DrawerPulse: 150 * time.Millisecond},
	"rpi4": {Name: "rpi4", Description: "Raspberry Pi 4 (BCM2711), 40-pin header, BCM numbering",
		Lines: raspberryPi, LongPress: 3 * time.Second, DrawerPulse: 150 * time.Millisecond},
	"orangepi-pc": {Name: "orangepi-pc", Description: "Orange Pi PC (Allwinner H3), 40-pin header",
		Lines: orangePiPC, LongPress: 3 * time.Second, DrawerPulse: 150 * time.Millisecond},
}

// Profiles lists the built-in profiles' names, sorted.
func Profiles() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupProfile returns a built-in profile by name; "" means None. The
// profile's Lines map is a copy the caller may change.
func LookupProfile(name string) (Profile, error) {
	if name == "" {
		name = None
	}
	p, ok := profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("%w: unknown profile %q (known: %s)", ErrProfile, name, strings.Join(Profiles(), ", "))
	}
	lines := make(map[Role]Line, len(p.Lines))
	for r, l := range p.Lines {
		lines[r] = l
	}
	p.Lines = lines
	return p, nil
}
