package fn_test

import (
	"context"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal/fn"
)

func TestLatency(t *testing.T) {
	ctx := context.Background()
	lat := fn.Latency{0x30: 150 * time.Millisecond, 0x16: 200 * time.Millisecond}
	e := shiftOpen(t, fn.EmulatorConfig{Latency: lat})
	start := time.Now()
	must(e.Receipt(ctx, receipt(t, t0.Add(time.Minute), 100))).ok(t)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("in process, a receipt took %v with 16h's latency of 200 ms", took)
	}
	start = time.Now()
	must(e.State(ctx)).ok(t) // in process only signing has a latency
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("in process, State took %v", took)
	}
	c, _ := serveOnPTY(t, e, nil, fn.ClientOptions{Timeout: 2 * time.Second})
	start = time.Now()
	must(c.State(ctx)).ok(t) // 30h then 10h, 20h, 32h, 43h
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("over the UART, State took %v with 30h's latency of 150 ms", took)
	}
	start = time.Now()
	must(c.Receipt(ctx, receipt(t, t0.Add(time.Minute), 100))).ok(t)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("over the UART, a receipt took %v", took)
	}
	for cmd, l := range fn.TypicalLatency() {
		if l <= 0 || l > time.Second {
			t.Fatalf("typical latency of %02xh: %v", cmd, l)
		}
	}
}

// BenchmarkUARTReceiptTypical signs receipts over the UART against a drive
// with TypicalLatency, and reports receipts/s beside two bounds: 1 ÷ 16h's
// signing latency, and 1 ÷ the latencies of every command a receipt takes
// (15h, one 07h, 16h), since one frame is in flight at a time.
func BenchmarkUARTReceiptTypical(b *testing.B) {
	lat := fn.TypicalLatency()
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: b.TempDir(), Latency: lat})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(b, regNumber)})).ok(b)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(b, "open")})).ok(b)
	p, err := board.OpenPTY()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() { done <- fn.Serve(ctx, p.Master(), e) }()
	defer func() { cancel(); <-done }()
	port := openPort(b, p.Path)
	defer port.Close()
	c := fn.NewClient(port, fn.ClientOptions{})
	r := receipt(b, t0.Add(time.Minute), 199000)
	if _, err := c.Receipt(ctx, r); err != nil { // the client learns the last FD and the shift
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Receipt(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	sign := lat[0x16].Seconds()
	all := (lat[0x15] + lat[0x07] + lat[0x16]).Seconds()
	b.ReportMetric(rate, "receipts/s")
	b.ReportMetric(100*rate*sign, "%_of_1/sign")
	b.ReportMetric(100*rate*all, "%_of_1/commands")
}

// BenchmarkEmulatorReceiptTypical signs receipts in process, as the sandbox's
// register does, against TypicalLatency: there only 16h's signing latency
// applies, and the bound is 1 ÷ that latency.
func BenchmarkEmulatorReceiptTypical(b *testing.B) {
	lat := fn.TypicalLatency()
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: b.TempDir(), Latency: lat})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(b, regNumber)})).ok(b)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(b, "open")})).ok(b)
	r := receipt(b, t0.Add(time.Minute), 199000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Receipt(ctx, r); err != nil {
			b.Fatal(err)
		}
		if err := e.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "receipts/s")
	b.ReportMetric(100*rate*lat[0x16].Seconds(), "%_of_1/sign")
}
