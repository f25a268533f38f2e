package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/ofd/sim/simtest"
)

var (
	ofdKey   = []byte("test OFD key, signs the acks")
	driveKey = []byte("test drive key")
	t0       = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ofdClock = time.Date(2026, 11, 22, 12, 34, 56, 0, time.UTC)
)

// openedDrive is an emulated drive registered and with a shift open at at;
// checkTables as fn.EmulatorConfig.CheckTables.
func openedDrive(t testing.TB, checkTables bool, at time.Time) (*fn.Emulator, fiscal.Registration) {
	t.Helper()
	d, err := fn.NewEmulator(fn.EmulatorConfig{Dir: t.TempDir(), Key: driveKey, OFDKey: ofdKey, CheckTables: checkTables})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	reg, tlv := validRegistration(t)
	if _, err := d.Register(context.Background(), fn.Doc{Time: at, TLV: tlv}); err != nil {
		t.Fatal(err)
	}
	open, err := (&fiscal.Report{Seller: reg.Seller, Version: "1.0.0"}).AppendTLV(nil, fiscal.DocShiftOpen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenShift(context.Background(), fn.Doc{Time: at, TLV: open}); err != nil {
		t.Fatal(err)
	}
	return d, reg
}

// messages signs a registration, a shift open and n receipts on an emulated
// drive and returns their containers, FD order.
func messages(t testing.TB, n int) (*fn.Emulator, [][]byte) {
	t.Helper()
	d, reg := openedDrive(t, true, t0)
	ctx := context.Background()
	for i := range n {
		r := &fiscal.Receipt{Seller: reg.Seller, Sign: fiscal.Income, TaxSystem: fiscal.TaxGeneral,
			Items: []fiscal.Item{{Name: "Чай", Price: 19900 + int64(i), Quantity: fiscal.Quantity{Value: 1},
				Sum: 19900 + int64(i), VAT: fiscal.VAT22, VATSum: -1, Subject: 1, Method: 4}},
			Payments: fiscal.Payments{Electronic: 19900 + int64(i)}}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		tlv, err := r.AppendTLV(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Receipt(ctx, fn.ReceiptDoc{Time: t0, Sign: 1, Total: uint64(19900 + i), TLV: tlv}); err != nil {
			t.Fatal(err)
		}
	}
	var out [][]byte
	for fd := uint32(1); fd <= uint32(n+2); fd++ {
		msg, err := d.NextMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg)
		// Acknowledge by hand so the next message comes up; the OFD's ack is tested below.
		ack := buildAck(t, d.DriveNumber(), fd, 0)
		if err := d.Acknowledge(ctx, ack); err != nil {
			t.Fatal(err)
		}
	}
	return d, out
}

// validRegistration is a registration that meets FFD 1.05's tables, and its elements.
func validRegistration(t testing.TB) (fiscal.Registration, []byte) {
	t.Helper()
	rn, err := fiscal.RegNumber("0000000001", "7707083893", "0123456789")
	if err != nil {
		t.Fatal(err)
	}
	g := fiscal.Registration{
		Seller: fiscal.Seller{Name: "ООО Ромашка", INN: "7707083893", Address: "Москва", Place: "shop.example",
			TaxSystems: fiscal.TaxGeneral, RegNumber: rn, Internet: true},
		Serial: "0123456789", Version: "1.0.0", RegisterFFD: fiscal.FFD105, DriveFFD: fiscal.FFD105,
		OFDName: "ОФД-эмулятор", OFDINN: sim.DefaultOFDINN, Cashier: "Иванова А.",
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistration)
	if err != nil {
		t.Fatal(err)
	}
	return g, tlv
}

// buildAck builds, independently of the emulator, the ack the brief specifies.
func buildAck(t testing.TB, drive string, fd uint32, code byte) []byte {
	t.Helper()
	el := fiscal.AppendTLV(nil, 1017, []byte(sim.DefaultOFDINN+"  "))
	el = fiscal.AppendTLV(el, 1041, []byte(drive))
	el = fiscal.AppendUint32(el, 1040, fd)
	el = fiscal.AppendUint32(el, 1012, uint32(ofdClock.Unix()))
	el = fiscal.AppendTLV(el, 1068, fiscal.AppendByte(nil, 1022, code))
	el = fiscal.AppendTLV(el, 1078, fiscal.OperatorSign(ofdKey, el))
	doc := fiscal.AppendTLV(nil, fiscal.DocOperatorAck, el)
	c := ofd.Container{MessageType: 0xA5, DocType: 7, DriveNumber: drive, FD: fd, Document: doc, Sign: fiscal.MessageSign(ofdKey, doc)}
	b, err := c.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newServer(t testing.TB, dir string) (*sim.Server, string) {
	t.Helper()
	return simtest.Start(t, sim.Config{
		Dir: dir,
		DriveKeys: func(n string) ([]byte, bool) {
			if n == fn.DefaultDriveNumber {
				return driveKey, true
			}
			return nil, false
		},
		OFDKey: ofdKey,
		Clock:  func() time.Time { return ofdClock },
	}, "")
}

// exchange sends raw bytes on a fresh connection and reads one answer.
func exchange(t testing.TB, addr string, raw []byte) (ofd.SessionHeader, []byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	return ofd.ReadMessage(conn)
}

func session(t testing.TB, container []byte, flags uint16) []byte {
	t.Helper()
	c, err := ofd.ParseContainer(container)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ofd.AppendSession(nil, ofd.SessionHeader{AppVersion: ofd.AppProtocolFFD105, DriveNumber: c.DriveNumber, Flags: flags}, container)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAckIsExactlyAsSpecified(t *testing.T) {
	d, msgs := messages(t, 1)
	s, addr := newServer(t, t.TempDir())
	for _, flags := range []uint16{ofd.RegisterFlags, ofd.RegisterFlags | ofd.CRCHeader, ofd.RegisterFlags | ofd.CRCHeaderContainer} {
		h, ack, err := exchange(t, addr, session(t, msgs[2], flags))
		if err != nil {
			t.Fatal(err)
		}
		if h.DriveNumber != d.DriveNumber() || h.AppVersion != ofd.AppProtocolFFD105 {
			t.Fatalf("answer header %+v", h)
		}
		if want := buildAck(t, d.DriveNumber(), 3, 0); !bytes.Equal(ack, want) {
			t.Fatalf("flags %04x: ack\n % x\nwant\n % x", flags, ack, want)
		}
	}
	doc, ok, err := s.Document(d.DriveNumber(), 3)
	if err != nil || !ok || doc.Received != 3 || doc.Type != fiscal.DocReceipt || !doc.FirstAt.Equal(ofdClock) || s.Count() != 1 {
		t.Fatalf("stored %+v %v %v, count %d", doc, ok, err, s.Count())
	}
	a, err := d.Document(context.Background(), 3)
	if err != nil || a.FPD != doc.FPD || !bytes.Equal(a.TLV, doc.TLV) {
		t.Fatalf("drive has ФПД %d, OFD %d (%v)", a.FPD, doc.FPD, err)
	}
}

func TestRefusals(t *testing.T) {
	_, msgs := messages(t, 1)
	good, _ := ofd.ParseContainer(msgs[2])
	reencode := func(edit func(c *ofd.Container)) []byte {
		c := *good
		c.Document = bytes.Clone(good.Document)
		edit(&c)
		b, err := c.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name      string
		container []byte
		code      byte
	}{
		{"unknown drive", reencode(func(c *ofd.Container) { c.DriveNumber = "9999000000000001" }), sim.CodeUnknownFN},
		{"message sign", reencode(func(c *ofd.Container) { c.Sign[0] ^= 1 }), sim.CodeBadMessage},
		{"fiscal sign", reencode(func(c *ofd.Container) {
			c.Document[len(c.Document)-1] ^= 1 // inside 1077
			c.Sign = fiscal.MessageSign(driveKey, c.Document)
		}), sim.CodeBadFiscal},
		{"document type", reencode(func(c *ofd.Container) { c.DocType = fiscal.DocShiftOpen }), sim.CodeBadFormat},
		{"FD disagrees with 1040", reencode(func(c *ofd.Container) { c.FD = 4 }), sim.CodeBadFormat},
		{"message type", reencode(func(c *ofd.Container) { c.MessageType = 0xA6 }), sim.CodeBadFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := newServer(t, t.TempDir())
			c, _ := ofd.ParseContainer(tc.container)
			_, ack, err := exchange(t, addr, session(t, tc.container, ofd.RegisterFlags))
			if err != nil {
				t.Fatal(err)
			}
			if want := buildAck(t, c.DriveNumber, c.FD, tc.code); !bytes.Equal(ack, want) {
				t.Fatalf("ack\n % x\nwant code %d:\n % x", ack, tc.code, want)
			}
			if s.Count() != 0 {
				t.Fatalf("stored %d documents", s.Count())
			}
		})
	}
}

func TestUnanswerableClosesConnection(t *testing.T) {
	_, msgs := messages(t, 0)
	s, addr := newServer(t, t.TempDir())
	corrupt := session(t, msgs[0], ofd.RegisterFlags)
	corrupt[40] ^= 0xFF // container CRC
	cases := map[string][]byte{
		"garbage":       []byte("GET / HTTP/1.1\r\n\r\n0123456789abcdef"),
		"container CRC": corrupt,
	}
	for name, raw := range cases {
		_, _, err := exchange(t, addr, raw)
		// Closed with our bytes unread, the kernel may answer with a reset.
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: err = %v, want the connection closed", name, err)
		}
	}
	if s.Count() != 0 {
		t.Fatalf("stored %d", s.Count())
	}
}

func TestBatchOnOneConnectionAndRepeats(t *testing.T) {
	d, msgs := messages(t, 3)
	s, addr := newServer(t, t.TempDir())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	order := []int{0, 1, 1, 2, 3, 4, 4, 4}
	for _, i := range order {
		if _, err := conn.Write(session(t, msgs[i], ofd.RegisterFlags)); err != nil {
			t.Fatal(err)
		}
		_, ack, err := ofd.ReadMessage(conn)
		if err != nil {
			t.Fatal(err)
		}
		if want := buildAck(t, d.DriveNumber(), uint32(i+1), 0); !bytes.Equal(ack, want) {
			t.Fatalf("message %d: wrong ack", i)
		}
	}
	docs, err := s.Documents()
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1, 2, 1, 1, 3}
	if len(docs) != len(want) || s.Messages() != uint64(len(order)) || s.Connections() != 1 {
		t.Fatalf("%d documents, %d messages, %d connections", len(docs), s.Messages(), s.Connections())
	}
	for i, doc := range docs {
		if doc.FD != uint32(i+1) || doc.Received != want[i] {
			t.Fatalf("FD %d received %d times, want FD %d %d times", doc.FD, doc.Received, i+1, want[i])
		}
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	d, msgs := messages(t, 1)
	dir := t.TempDir()
	s, addr := newServer(t, dir)
	for _, m := range msgs {
		if _, _, err := exchange(t, addr, session(t, m, ofd.RegisterFlags)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, addr2 := newServer(t, dir)
	if s2.Count() != 3 {
		t.Fatalf("after restart: %d documents", s2.Count())
	}
	if _, _, err := exchange(t, addr2, session(t, msgs[2], ofd.RegisterFlags)); err != nil {
		t.Fatal(err)
	}
	if doc, ok, _ := s2.Document(d.DriveNumber(), 3); !ok || doc.Received != 2 || s2.Count() != 3 {
		t.Fatalf("after a repeat: %+v, count %d", doc, s2.Count())
	}
}

func TestLookup(t *testing.T) {
	d, msgs := messages(t, 1)
	s, addr := newServer(t, t.TempDir())
	for _, m := range msgs {
		if _, _, err := exchange(t, addr, session(t, m, ofd.RegisterFlags)); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(s.LookupHandler())
	defer hs.Close()
	a, err := d.Document(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	get := func(query string) (int, []byte) {
		resp, err := http.Get(hs.URL + "/receipt?" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	code, body := get(fmt.Sprintf("fn=%s&i=3&fp=%d", d.DriveNumber(), a.FPD))
	if code != http.StatusOK {
		t.Fatalf("hit: %d %s", code, body)
	}
	var got sim.LookupResult
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.DriveNumber != d.DriveNumber() || got.FD != 3 || got.FPD != a.FPD || got.Type != fiscal.DocReceipt || got.Received != 1 {
		t.Fatalf("hit: %+v", got)
	}
	values := map[fiscal.Tag]any{}
	for _, e := range got.Elements {
		values[e.Tag] = e.Value
	}
	fpdValue := fiscal.FiscalSignValue(a.FPD)
	wantValues := map[fiscal.Tag]any{
		1000: "КАССОВЫЙ ЧЕК",
		1054: float64(1),
		1020: float64(19900),
		1055: float64(1),
		1040: float64(3),
		1041: d.DriveNumber(),
		1012: "2026-11-22T12:00:00",
		1077: fmt.Sprintf("%x", fpdValue),
	}
	for tag, want := range wantValues {
		if values[tag] != want {
			t.Errorf("tag %d = %#v, want %#v", tag, values[tag], want)
		}
	}
	misses := []struct {
		query string
		code  int
	}{
		{fmt.Sprintf("fn=%s&i=3&fp=%d", d.DriveNumber(), a.FPD+1), http.StatusNotFound},
		{fmt.Sprintf("fn=%s&i=4&fp=%d", d.DriveNumber(), a.FPD), http.StatusNotFound},
		{fmt.Sprintf("fn=9999000000000001&i=3&fp=%d", a.FPD), http.StatusNotFound},
		{"fn=1&i=3&fp=1", http.StatusBadRequest},
		{fmt.Sprintf("fn=%s&i=x&fp=1", d.DriveNumber()), http.StatusBadRequest},
	}
	for _, m := range misses {
		if code, body := get(m.query); code != m.code {
			t.Errorf("%s: %d %s, want %d", m.query, code, body, m.code)
		}
	}
}

func TestFaultModeNames(t *testing.T) {
	for _, m := range []sim.FaultMode{sim.FaultNone, sim.FaultRefuse, sim.FaultDelay, sim.FaultCloseMidMessage, sim.FaultErrorCode, sim.FaultCorruptAck, sim.FaultDuplicateAck} {
		got, err := sim.ParseFaultMode(m.String())
		if err != nil || got != m {
			t.Fatalf("%v: parsed %v, %v", m, got, err)
		}
	}
	if _, err := sim.ParseFaultMode("explode"); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	keys := func(string) ([]byte, bool) { return nil, false }
	cases := map[string]sim.Config{
		"no keys":     {Dir: t.TempDir(), OFDKey: ofdKey},
		"no OFD key":  {Dir: t.TempDir(), DriveKeys: keys},
		"invalid INN": {Dir: t.TempDir(), DriveKeys: keys, OFDKey: ofdKey, OFDINN: "7707083890"},
	}
	for name, cfg := range cases {
		if s, err := sim.New(cfg); err == nil {
			s.Close()
			t.Errorf("%s: no error", name)
		}
	}
	if !fiscal.ValidINN(sim.DefaultOFDINN) {
		t.Fatal("default INN invalid")
	}
}
