package board

import (
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// step is one event for the debouncer: an edge reading level at ms, or (fire)
// a call of fire at ms.
type step struct {
	ms    int
	fire  bool
	level gpio.Level
}

func edgeAt(ms int, l gpio.Level) step { return step{ms: ms, level: l} }
func fireAt(ms int) step               { return step{ms: ms, fire: true} }

func TestDebouncer(t *testing.T) {
	const debounce, long = 20 * time.Millisecond, time.Second
	down, up := gpio.Low, gpio.High // the button is active low
	cases := []struct {
		name       string
		steps      []step
		want       []Press
		wantActive bool
	}{
		{"clean short press", []step{edgeAt(0, down), fireAt(20), edgeAt(200, up), fireAt(220)}, []Press{Short}, false},
		{"press and release with bounce give one short", []step{
			edgeAt(0, down), edgeAt(2, up), edgeAt(3, down), edgeAt(5, up), edgeAt(6, down),
			fireAt(10), fireAt(26),
			edgeAt(300, up), edgeAt(301, down), edgeAt(303, up), fireAt(320), fireAt(323), fireAt(400),
		}, []Press{Short}, false},
		{"glitch shorter than debounce is nothing", []step{edgeAt(0, down), edgeAt(5, up), fireAt(25), fireAt(2000)}, nil, false},
		{"hold gives long once, release gives nothing more", []step{
			edgeAt(0, down), fireAt(20), fireAt(999), fireAt(1000), fireAt(1500), edgeAt(3000, up), fireAt(3020),
		}, []Press{Long}, false},
		{"long is reported while still held", []step{edgeAt(0, down), fireAt(20), fireAt(1000)}, []Press{Long}, true},
		{"a release settling at the long deadline is short", []step{
			edgeAt(0, down), fireAt(20), edgeAt(990, up), fireAt(1000), fireAt(1010),
		}, []Press{Short}, false},
		{"a bounce during a hold does not restart it", []step{
			edgeAt(0, down), fireAt(20), edgeAt(500, up), edgeAt(505, down), fireAt(525), fireAt(1000),
		}, []Press{Long}, true},
		{"two presses", []step{
			edgeAt(0, down), fireAt(20), edgeAt(100, up), fireAt(120),
			edgeAt(300, down), fireAt(320), edgeAt(400, up), fireAt(420),
		}, []Press{Short, Short}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t0 := time.Unix(1_700_000_000, 0)
			d := newDebouncer(up, down, debounce, long)
			var got []Press
			for _, s := range c.steps {
				now := t0.Add(time.Duration(s.ms) * time.Millisecond)
				if !s.fire {
					d.edge(s.level, now)
					continue
				}
				if p, ok := d.fire(now); ok {
					got = append(got, p)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("presses = %v; want %v", got, c.want)
			}
			if active := d.stable == d.active; active != c.wantActive {
				t.Errorf("held at the end = %v; want %v", active, c.wantActive)
			}
		})
	}
}

func TestDebouncerDeadline(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	d := newDebouncer(gpio.High, gpio.Low, 20*time.Millisecond, time.Second)
	if _, ok := d.deadline(); ok {
		t.Fatal("an idle debouncer has a deadline")
	}
	d.edge(gpio.Low, t0)
	if dl, ok := d.deadline(); !ok || !dl.Equal(t0.Add(20*time.Millisecond)) {
		t.Errorf("settling deadline = %v, %v; want t0+20ms", dl.Sub(t0), ok)
	}
	d.fire(t0.Add(20 * time.Millisecond))
	if dl, ok := d.deadline(); !ok || !dl.Equal(t0.Add(time.Second)) {
		t.Errorf("hold deadline = %v, %v; want t0+1s", dl.Sub(t0), ok)
	}
	// A sensor (no long press) has nothing pending once settled.
	s := newDebouncer(gpio.High, gpio.Low, 50*time.Millisecond, 0)
	s.edge(gpio.Low, t0)
	if p, ok := s.fire(t0.Add(time.Hour)); ok {
		t.Errorf("a sensor produced press %v", p)
	}
	if _, ok := s.deadline(); ok || s.stable != gpio.Low {
		t.Errorf("sensor after settling: deadline pending %v, stable %v", ok, s.stable)
	}
}
