package cloud

import (
	"testing"
	"time"
)

func TestPollerBackoff(t *testing.T) {
	p := NewPoller(nil, nil, PollerConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Seed: 3})
	for failures, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for range 20 {
			if d := p.backoff(failures); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, want/2, want)
			}
		}
	}
}
