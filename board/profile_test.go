package board

import (
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

func TestBuiltinProfilesValidate(t *testing.T) {
	names := Profiles()
	for _, want := range []string{None, "rpi3", "rpi4", "orangepi-pc"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("profile %q missing from %v", want, names)
		}
	}
	for _, n := range names {
		p, err := LookupProfile(n)
		if err != nil {
			t.Fatalf("LookupProfile(%q): %v", n, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s: %v", n, err)
		}
		if n == None {
			if len(p.Lines) != 0 {
				t.Errorf("profile none wires %v", p.Lines)
			}
			continue
		}
		// Every real board wires every role: a profile that forgets one
		// would leave a register without, say, its paper sensor.
		for _, r := range Roles() {
			if _, ok := p.Lines[r]; !ok {
				t.Errorf("profile %s does not wire %s", n, r)
			}
		}
	}
}

func TestLookupProfile(t *testing.T) {
	if p, err := LookupProfile(""); err != nil || p.Name != None {
		t.Errorf(`LookupProfile("") = %q, %v; want none`, p.Name, err)
	}
	_, err := LookupProfile("rpi5000")
	if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "rpi5000") {
		t.Errorf("unknown profile: err = %v", err)
	}
	// The caller's copy is its own: changing it must not change the table.
	p, _ := LookupProfile("rpi4")
	p.Lines[Button] = Line{Pin: "GPIO2"}
	again, _ := LookupProfile("rpi4")
	if again.Lines[Button].Pin == "GPIO2" {
		t.Error("LookupProfile hands out the built-in table itself")
	}
}

func TestProfileValidateRejects(t *testing.T) {
	good := func() Profile {
		return Profile{Name: "t", LongPress: time.Second, DrawerPulse: 100 * time.Millisecond, Lines: map[Role]Line{
			LEDGreen: {Pin: "P1", Active: gpio.High},
			Button:   {Pin: "P2", Active: gpio.Low, Pull: gpio.PullUp, Debounce: 20 * time.Millisecond},
			Drawer:   {Pin: "P3", Active: gpio.High},
		}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("the base profile is invalid: %v", err)
	}
	cases := []struct {
		name   string
		change func(*Profile)
		want   string
	}{
		{"pin used twice", func(p *Profile) { p.Lines[LEDRed] = Line{Pin: "P1", Active: gpio.High} }, "pin P1 used by both"},
		{"unknown role", func(p *Profile) { p.Lines["buzzer"] = Line{Pin: "P9"} }, `unknown role "buzzer"`},
		{"no pin", func(p *Profile) { p.Lines[Paper] = Line{Active: gpio.Low} }, "role paper has no pin"},
		{"negative debounce", func(p *Profile) {
			l := p.Lines[Button]
			l.Debounce = -time.Millisecond
			p.Lines[Button] = l
		}, "negative debounce"},
		{"pull on an output", func(p *Profile) {
			l := p.Lines[LEDGreen]
			l.Pull = gpio.PullUp
			p.Lines[LEDGreen] = l
		}, "is an output"},
		{"long press within debounce", func(p *Profile) { p.LongPress = 10 * time.Millisecond }, "long press"},
		{"drawer pulse unset", func(p *Profile) { p.DrawerPulse = 0 }, "drawer pulse"},
		{"drawer pulse that burns the solenoid", func(p *Profile) { p.DrawerPulse = 5 * time.Second }, "drawer pulse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good()
			c.change(&p)
			err := p.Validate()
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %v; want ErrProfile mentioning %q", err, c.want)
			}
		})
	}
}
