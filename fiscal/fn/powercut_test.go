package fn_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
)

// The power-cut child: the test binary run again with this variable set to
// the drive's directory signs documents until it is killed.
const childEnv = "KASSA_FN_POWERCUT_DIR"

var powerCutKey = []byte("power-cut drive key")

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := powerCutChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// powerCutChild signs receipts, opens and closes shifts and takes
// acknowledgements, printing each FD once the drive has returned it.
func powerCutChild(dir string) error {
	ctx := context.Background()
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: dir, Key: powerCutKey})
	if err != nil {
		return err
	}
	st, err := e.State(ctx)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	at := t0
	if st.LastFDTime.After(at) {
		at = st.LastFDTime
	}
	var t childTB
	if st.Phase == fn.PhaseNotRegistered {
		s, err := e.Register(ctx, fn.Doc{Time: at, TLV: registrationTLV(t, regNumber)})
		if err != nil {
			return err
		}
		fmt.Println("fd", s.FD)
	}
	for i := 0; ; i++ {
		st, err := e.State(ctx)
		if err != nil {
			return err
		}
		var s fn.Signed
		switch {
		case !st.ShiftOpen:
			s, err = e.OpenShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "open")})
		case st.ReceiptsInShift >= 20:
			s, err = e.CloseShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "close")})
		default:
			s, err = e.Receipt(ctx, receipt(t, at, uint64(100+i)))
		}
		if err != nil {
			return err
		}
		fmt.Println("fd", s.FD)
		if i%5 == 4 {
			msg, err := e.NextMessage(ctx)
			if err != nil {
				return err
			}
			c, err := ofd.ParseContainer(msg)
			if err != nil {
				return err
			}
			if err := e.Acknowledge(ctx, ackFor(t, nil, e.DriveNumber(), c.FD, 0, at)); err != nil {
				return err
			}
			fmt.Println("acked", c.FD)
		}
	}
}

// childTB fails the child process where a test would fail.
type childTB struct{}

func (childTB) Helper() {}
func (childTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(2)
}

func TestPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	cycles := 25
	if s := os.Getenv("KASSA_FN_POWERCUT_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("KASSA_FN_POWERCUT_CYCLES: %v", err)
		}
		cycles = n
	}
	t.Logf("%d cycles", cycles)
	rng := rand.New(rand.NewPCG(seed(t), 0))
	dir := t.TempDir()
	var lastFD, lastAcked uint32
	for cycle := range cycles {
		printedFD, printedAck := runChildUntilKilled(t, dir, time.Duration(rng.IntN(60))*time.Millisecond)
		e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: dir, Key: powerCutKey})
		if err != nil {
			t.Fatalf("cycle %d: reopening after the cut: %v", cycle, err)
		}
		if err := e.Check(); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		st := must(e.State(context.Background())).ok(t)
		e.Close()
		// Everything the drive returned survived; at most the one document in flight was added.
		if st.LastFD < max(printedFD, lastFD) || st.LastFD > max(printedFD, lastFD)+1 {
			t.Fatalf("cycle %d: last FD %d after the cut; returned before it %d, earlier %d", cycle, st.LastFD, printedFD, lastFD)
		}
		acked := st.LastFD - st.Unsent
		if acked < max(printedAck, lastAcked) {
			t.Fatalf("cycle %d: acknowledged through %d after the cut, %d was returned", cycle, acked, max(printedAck, lastAcked))
		}
		lastFD, lastAcked = st.LastFD, acked
	}
	if lastFD < uint32(cycles) {
		t.Fatalf("only %d documents in %d cycles: the child barely ran", lastFD, cycles)
	}
	t.Logf("%d documents, %d acknowledged", lastFD, lastAcked)
}

// runChildUntilKilled starts the child on dir, lets it work for d once it is
// ready, kills it with SIGKILL and returns the last FD and acknowledgement it reported.
func runChildUntilKilled(t *testing.T, dir string, d time.Duration) (fd, acked uint32) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "ready":
				close(ready)
			case len(f) == 2:
				n, _ := strconv.ParseUint(f[1], 10, 32)
				if f[0] == "fd" {
					fd = uint32(n)
				} else {
					acked = uint32(n)
				}
			}
		}
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child not ready in 10 s")
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited on its own")
	}
	return fd, acked
}

// BenchmarkEmulatorReceipt signs receipts and has them made durable one by
// one (sync=1) or in runs of 32, as the register settles them (sync=32).
func BenchmarkEmulatorReceipt(b *testing.B) {
	for _, every := range []int{1, 32} {
		b.Run(fmt.Sprintf("sync=%d", every), func(b *testing.B) {
			e := shiftOpenB(b)
			ctx := context.Background()
			r := receipt(b, t0.Add(time.Minute), 199000)
			n := 0
			for b.Loop() {
				if _, err := e.Receipt(ctx, r); err != nil {
					b.Fatal(err)
				}
				if n++; n%every == 0 {
					if err := e.Sync(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

func BenchmarkUARTReceipt(b *testing.B) {
	e := shiftOpenB(b)
	p, err := board.OpenPTY()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn.Serve(ctx, p.Master(), e) }()
	defer func() { cancel(); <-done }()
	port := openPort(b, p.Path)
	defer port.Close()
	c := fn.NewClient(port, fn.ClientOptions{})
	r := receipt(b, t0.Add(time.Minute), 199000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Receipt(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

func shiftOpenB(b *testing.B) *fn.Emulator {
	dir := b.TempDir()
	if d := os.Getenv("KASSA_FN_BENCH_DIR"); d != "" { // a real disk, where fsync costs what it costs
		var err error
		if dir, err = os.MkdirTemp(d, "fnbench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	e, err := fn.NewEmulator(fn.EmulatorConfig{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	ctx := context.Background()
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(b, regNumber)})).ok(b)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(b, "open")})).ok(b)
	return e
}
