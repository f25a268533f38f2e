package ofd_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/ofd/sim/simtest"
)

var (
	ofdKey = []byte("test OFD key, signs the acks")
	t0     = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
)

// seller is the registered user the test documents carry.
var seller = fiscal.Seller{Name: "ООО Ромашка", INN: "7707083893", Address: "Москва", Place: "shop.example",
	TaxSystems: fiscal.TaxGeneral, Internet: true}

// newDrive is a registered emulated drive with an open shift and n receipts
// signed: FDs 1 (registration), 2 (shift open), 3…n+2 (receipts), all unsent.
// The documents are whole, as the OFD emulator checks them against the tables.
func newDrive(t testing.TB, n int) *fn.Emulator { return newDriveFor(t, n, ofdKey) }

// newDriveFor is newDrive with the OFD's key the drive checks acknowledgements
// with; nil takes them unsigned too.
func newDriveFor(t testing.TB, n int, ofdKey []byte) *fn.Emulator {
	t.Helper()
	d, err := fn.NewEmulator(fn.EmulatorConfig{Dir: t.TempDir(), Key: []byte("test drive key"), OFDKey: ofdKey, CheckTables: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	reg, err := fiscal.RegNumber("0000000001", "7707083893", "00000000000000012345")
	if err != nil {
		t.Fatal(err)
	}
	seller.RegNumber = reg
	g := fiscal.Registration{Seller: seller, Serial: "00000000000000012345", Version: "1.0.0",
		RegisterFFD: fiscal.FFD105, DriveFFD: fiscal.FFD105, OFDName: "ОФД-эмулятор", OFDINN: sim.DefaultOFDINN, Cashier: "Иванова А."}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistration)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Register(ctx, fn.Doc{Time: t0, TLV: tlv}); err != nil {
		t.Fatal(err)
	}
	open, err := (&fiscal.Report{Seller: seller, Version: "1.0.0", Cashier: "Иванова А."}).AppendTLV(nil, fiscal.DocShiftOpen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenShift(ctx, fn.Doc{Time: t0, TLV: open}); err != nil {
		t.Fatal(err)
	}
	signReceipts(t, d, n)
	return d
}

func signReceipts(t testing.TB, d *fn.Emulator, n int) {
	t.Helper()
	for i := range n {
		total := int64(100 + i)
		r := fiscal.Receipt{Seller: seller, Sign: fiscal.Income, TaxSystem: fiscal.TaxGeneral, Cashier: "Иванова А.",
			BuyerContact: "buyer@example.com",
			Items: []fiscal.Item{{Name: "Чайник", Price: total, Quantity: fiscal.Quantity{Value: 1}, Sum: total,
				VAT: 6, VATSum: -1, Subject: 1, Method: 4}},
			Payments: fiscal.Payments{Electronic: total}}
		tlv, err := r.AppendTLV(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Receipt(context.Background(), fn.ReceiptDoc{Time: t0, Sign: fiscal.Income, Total: uint64(total), TLV: tlv}); err != nil {
			t.Fatal(err)
		}
	}
}

// countingDrive is the real emulated drive, with the acks it took counted per
// FD, and whether a Sync came after the last of them.
type countingDrive struct {
	*fn.Emulator
	mu       sync.Mutex
	acked    map[uint32]int
	calls    atomic.Int64
	unsynced bool // an ack came after the last Sync
}

func (c *countingDrive) Sync(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.Emulator.Sync(ctx)
	if err == nil {
		c.unsynced = false
	}
	return err
}

// times is how often the drive took an ack for fd. The drive commits an ack
// before Acknowledge returns to the counter, so callers wait for the count
// rather than for the drive's queue to empty.
func (c *countingDrive) times(t testing.TB, fd uint32) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := c.acked[fd]
		c.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *countingDrive) Acknowledge(ctx context.Context, ack []byte) error {
	c.calls.Add(1)
	err := c.Emulator.Acknowledge(ctx, ack)
	if err == nil {
		a, perr := ofd.ParseContainer(ack)
		if perr != nil {
			panic("drive accepted an ack that does not parse")
		}
		c.mu.Lock()
		c.acked[a.FD]++
		c.unsynced = true
		c.mu.Unlock()
	}
	return err
}

func newSim(t testing.TB, d *fn.Emulator) (*sim.Server, string) {
	t.Helper()
	return simtest.Start(t, sim.Config{DriveKeys: simtest.DriveKeys(d), OFDKey: ofdKey, Clock: func() time.Time { return t0 }}, "")
}

// countingBackoff is the real exponential backoff, with its uses counted.
type countingBackoff struct {
	backoff.BackOff
	next, reset atomic.Int64
}

func (c *countingBackoff) NextBackOff() time.Duration { c.next.Add(1); return c.BackOff.NextBackOff() }
func (c *countingBackoff) Reset()                     { c.reset.Add(1); c.BackOff.Reset() }

func fastBackoff() *countingBackoff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 5 * time.Millisecond
	b.MaxInterval = 40 * time.Millisecond
	b.MaxElapsedTime = 0
	return &countingBackoff{BackOff: b}
}

func startSender(t testing.TB, d ofd.Drive, addr string, cfg ofd.SenderConfig) *ofd.Sender {
	t.Helper()
	cfg.Addr = addr
	if cfg.IOTimeout == 0 {
		cfg.IOTimeout = 2 * time.Second
	}
	if cfg.Idle == 0 {
		cfg.Idle = 20 * time.Millisecond
	}
	if cfg.Backoff == nil {
		cfg.Backoff = fastBackoff()
	}
	s := ofd.NewSender(d, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// waitDelivered waits until the drive's queue is empty.
func waitDelivered(t testing.TB, d *fn.Emulator, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		msg, err := d.NextMessage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if msg == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, _ := d.State(context.Background())
	t.Fatalf("queue not empty after %v: %+v", within, st)
}

// checkStored verifies that the OFD holds FDs 1…total, each once, with a ФПД
// that verifies against the drive's key and equals the drive's own.
func checkStored(t testing.TB, s *sim.Server, d *fn.Emulator, total int) {
	t.Helper()
	docs, err := s.Documents()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != total || s.Count() != total {
		t.Fatalf("OFD holds %d documents (Count %d), want %d", len(docs), s.Count(), total)
	}
	for i, doc := range docs {
		if doc.FD != uint32(i+1) || doc.DriveNumber != d.DriveNumber() {
			t.Fatalf("document %d is %s/%d", i, doc.DriveNumber, doc.FD)
		}
		fpd, err := fiscal.VerifyFiscalSign(d.Key(), doc.TLV)
		if err != nil || fpd != doc.FPD {
			t.Fatalf("FD %d: ФПД %d stored, %d verified: %v", doc.FD, doc.FPD, fpd, err)
		}
		a, err := d.Document(context.Background(), doc.FD)
		if err != nil || a.FPD != doc.FPD || !a.Acked {
			t.Fatalf("FD %d: drive has ФПД %d acked %v, OFD %d: %v", doc.FD, a.FPD, a.Acked, doc.FPD, err)
		}
	}
}

func TestSenderDeliversAll(t *testing.T) {
	n := 300 // KASSA_OFD_DOCS=10000 for the full run
	if v := os.Getenv("KASSA_OFD_DOCS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	d := newDrive(t, n)
	cd := &countingDrive{Emulator: d, acked: map[uint32]int{}}
	s, addr := newSim(t, d)
	bo := fastBackoff()
	sender := startSender(t, cd, addr, ofd.SenderConfig{Backoff: bo, Clock: func() time.Time { return t0.Add(time.Hour) }})
	waitDelivered(t, d, 2*time.Minute)
	total := n + 2
	checkStored(t, s, d, total)
	for fd := uint32(1); fd <= uint32(total); fd++ {
		if n := cd.times(t, fd); n != 1 {
			t.Fatalf("FD %d acknowledged %d times", fd, n)
		}
	}
	if docs, _ := s.Documents(); docs[0].Received != 1 || docs[total-1].Received != 1 {
		t.Fatalf("received %d and %d times, want once", docs[0].Received, docs[total-1].Received)
	}
	if c := s.Connections(); c != 1 {
		t.Fatalf("%d connections for one batch", c)
	}
	st := sender.Status()
	if !st.Reachable || st.Delivered != uint64(total) || st.Refused != 0 || st.LastError != "" || !st.LastExchange.Equal(t0.Add(time.Hour)) {
		t.Fatalf("status %+v", st)
	}
	if bo.next.Load() != 0 {
		t.Fatalf("backed off %d times with nothing failing", bo.next.Load())
	}
	// Caught up, the sender has the drive make its acknowledgements durable.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		cd.mu.Lock()
		unsynced := cd.unsynced
		cd.mu.Unlock()
		if !unsynced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue is empty and the last acknowledgement is not synced")
		}
	}
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSenderSurvivesFaults(t *testing.T) {
	const n = 8
	total := n + 2
	cases := []struct {
		fault   sim.Fault
		refused bool // the drive (or the sender's FD check) refuses acks
		resent  int  // extra arrivals the OFD stores as repeats
	}{
		{sim.Fault{Mode: sim.FaultRefuse, Times: 3}, false, 0},
		{sim.Fault{Mode: sim.FaultDelay, Times: 2, Delay: 300 * time.Millisecond}, false, 2},
		{sim.Fault{Mode: sim.FaultCloseMidMessage, Times: 3}, false, 3},
		{sim.Fault{Mode: sim.FaultErrorCode, Times: 3, Code: 9}, true, 0},
		{sim.Fault{Mode: sim.FaultCorruptAck, Times: 3}, true, 3},
		{sim.Fault{Mode: sim.FaultDuplicateAck, Times: 3}, true, 3},
	}
	for _, tc := range cases {
		t.Run(tc.fault.Mode.String(), func(t *testing.T) {
			d := newDrive(t, n)
			cd := &countingDrive{Emulator: d, acked: map[uint32]int{}}
			s, addr := newSim(t, d)
			s.SetFault(tc.fault)
			sender := startSender(t, cd, addr, ofd.SenderConfig{IOTimeout: 100 * time.Millisecond})
			waitDelivered(t, d, 20*time.Second)
			checkStored(t, s, d, total)
			for fd := uint32(1); fd <= uint32(total); fd++ {
				if n := cd.times(t, fd); n != 1 {
					t.Fatalf("FD %d acknowledged %d times", fd, n)
				}
			}
			docs, _ := s.Documents()
			arrivals := 0
			for _, doc := range docs {
				arrivals += doc.Received
			}
			if arrivals != total+tc.resent {
				t.Fatalf("%d arrivals stored, want %d", arrivals, total+tc.resent)
			}
			st := sender.Status()
			if st.Delivered != uint64(total) || !st.Reachable {
				t.Fatalf("status %+v", st)
			}
			if tc.refused != (st.Refused == uint64(tc.fault.Times)) || (!tc.refused && st.Refused != 0) {
				t.Fatalf("%d acks refused, fault hit %d times", st.Refused, tc.fault.Times)
			}
		})
	}
}

// A drive that refuses every ack must not make the sender hammer the OFD.
func TestSenderBacksOffWhileDriveRefuses(t *testing.T) {
	d := newDrive(t, 1)
	s, addr := newSim(t, d)
	s.SetFault(sim.Fault{Mode: sim.FaultCorruptAck})
	bo := &countingBackoff{BackOff: &backoff.ExponentialBackOff{
		InitialInterval: 20 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2,
		MaxInterval: 80 * time.Millisecond, Clock: backoff.SystemClock,
	}}
	sender := startSender(t, d, addr, ofd.SenderConfig{Backoff: bo})
	time.Sleep(500 * time.Millisecond)
	// 20+40+80+80+80+80 ms ≥ 300 ms with −50 % jitter: at most about 12 tries in 500 ms.
	if m := s.Messages(); m < 2 || m > 14 {
		t.Fatalf("%d messages in 500 ms", m)
	}
	st := sender.Status()
	if !st.Reachable || st.Delivered != 0 || st.Refused < 2 || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
	s.ClearFault()
	waitDelivered(t, d, 5*time.Second)
	checkStored(t, s, d, 3)
}

func TestSenderOFDDownThenUp(t *testing.T) {
	const n = 20
	d := newDrive(t, n)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused
	bo := fastBackoff()
	sender := startSender(t, d, addr, ofd.SenderConfig{Backoff: bo})
	deadline := time.Now().Add(5 * time.Second)
	for bo.next.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := sender.Status()
	if st.Reachable || st.Delivered != 0 || st.LastError == "" || bo.next.Load() < 4 {
		t.Fatalf("while down: status %+v, %d backoffs", st, bo.next.Load())
	}
	resets := bo.reset.Load()

	s, _ := simtest.Start(t, sim.Config{DriveKeys: simtest.DriveKeys(d), OFDKey: ofdKey}, addr)
	waitDelivered(t, d, 10*time.Second)
	checkStored(t, s, d, n+2)
	st = sender.Status()
	if !st.Reachable || st.Delivered != n+2 || st.LastError != "" {
		t.Fatalf("after: status %+v", st)
	}
	if bo.reset.Load() <= resets {
		t.Fatal("backoff not reset after delivery")
	}
}

func TestSenderNotify(t *testing.T) {
	d := newDrive(t, 0)
	s, addr := newSim(t, d)
	sender := startSender(t, d, addr, ofd.SenderConfig{Idle: time.Hour})
	waitDelivered(t, d, 5*time.Second) // the first pass runs at once
	signReceipts(t, d, 1)
	sender.Notify()
	waitDelivered(t, d, 5*time.Second) // well before the hour's poll
	checkStored(t, s, d, 3)
}

func BenchmarkDeliver(b *testing.B) {
	d := newDrive(b, b.N)
	s, addr := newSim(b, d)
	b.ResetTimer()
	start := time.Now()
	startSender(b, d, addr, ofd.SenderConfig{})
	waitDelivered(b, d, 10*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(b.N+2)/time.Since(start).Seconds(), "msgs/s")
	if s.Count() != b.N+2 {
		b.Fatalf("OFD holds %d of %d", s.Count(), b.N+2)
	}
}

// Documents signed one after another, each after the queue emptied, go over
// the connection the first one opened while it lingers.
func TestSenderKeepsConnection(t *testing.T) {
	d := newDrive(t, 0)
	s, addr := newSim(t, d)
	sender := startSender(t, d, addr, ofd.SenderConfig{Idle: time.Hour, Linger: time.Minute})
	waitDelivered(t, d, 5*time.Second)
	for range 3 {
		signReceipts(t, d, 1)
		sender.Notify()
		waitDelivered(t, d, 5*time.Second)
	}
	checkStored(t, s, d, 5)
	if c := s.Connections(); c != 1 {
		t.Fatalf("%d connections for documents signed in turn, want 1 kept", c)
	}
}

// An OFD that goes down drops the connection it had: documents wait, and go
// once it is back.
func TestSenderConnectionDroppedWhenOFDDown(t *testing.T) {
	d := newDrive(t, 0)
	s, addr := newSim(t, d)
	sender := startSender(t, d, addr, ofd.SenderConfig{Idle: time.Hour, Linger: time.Minute})
	waitDelivered(t, d, 5*time.Second)
	s.SetFault(sim.Fault{Mode: sim.FaultRefuse})
	signReceipts(t, d, 1)
	sender.Notify()
	time.Sleep(200 * time.Millisecond)
	if msg, err := d.NextMessage(context.Background()); err != nil || msg == nil {
		t.Fatalf("with the OFD down the document went: next message %d bytes, %v", len(msg), err)
	}
	s.ClearFault()
	waitDelivered(t, d, 5*time.Second)
	checkStored(t, s, d, 3)
}

// TestSenderToAnOFDWithoutCrypto: an OFD that acknowledges without the fiscal
// crypto (no 1078, no message sign, its own tag order) gets every document
// once from a drive that knows no OFD key; a drive that knows one takes none
// of those acknowledgements.
func TestSenderToAnOFDWithoutCrypto(t *testing.T) {
	const n = 20
	for _, known := range []bool{false, true} {
		var key []byte
		if known {
			key = ofdKey
		}
		d := newDriveFor(t, n, key)
		s, addr := simtest.Start(t, sim.Config{Unsigned: true, DriveKeys: simtest.DriveKeys(d)}, "")
		startSender(t, d, addr, ofd.SenderConfig{Backoff: fastBackoff()})
		if !known {
			waitDelivered(t, d, 20*time.Second)
			checkStored(t, s, d, n+2)
			docs, err := s.Documents()
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range docs {
				if doc.Received != 1 {
					t.Fatalf("FD %d received %d times, want once", doc.FD, doc.Received)
				}
			}
			continue
		}
		// The OFD has the documents, but the drive keeps them unsent.
		deadline := time.Now().Add(20 * time.Second)
		for s.Messages() < 3 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if st, err := d.State(context.Background()); err != nil || st.Unsent != n+2 {
			t.Fatalf("a drive with the OFD's key took unsigned acknowledgements: %d unsent (%v), want %d", st.Unsent, err, n+2)
		}
	}
}
