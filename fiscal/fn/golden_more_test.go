package fn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal/fn"
)

// TestGoldenPadding: the drive takes 02h without data (KKM), 03h's fields
// padded with NULs (KKM) and 05h's number padded with spaces on the left
// (RS), and keeps them trimmed (ruling 2).
func TestGoldenPadding(t *testing.T) {
	e := openEmulator(t, fn.EmulatorConfig{Key: []byte("golden drive key")})
	port := serveRaw(t, e)
	nulINN := "'7707083893' 00 00"
	nulRegNo := "'0000000001012345' 00 00 00 00"
	leftRegNo := "'    0000000001012345'"
	for _, s := range []step{
		{name: "02h without data", req: "02", ans: "00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "03h NUL-padded", req: "03 " + d0900 + " " + nulINN + " " + nulRegNo + " 01 00", ans: "00 01 00 00 00 ?? ?? ?? ??"},
		{name: "44h 1018 as the drive keeps it", req: "44 FA 03", ans: "00 FA 03 0C 00 " + gINN},
		{name: "44h 1037", req: "44 0D 04", ans: "00 0D 04 10 00 '0000000001012345'"},
		{name: "43h space-padded", req: "43", ans: "00 " + d0900 + " " + gINN + " " + gRegNo + " 01 00 01 00 00 00 ?? ?? ?? ??"},
		{name: "04h", req: "04", ans: "00"},
		{name: "07h", req: "07 " + gUser, ans: "00"},
		{name: "05h left-padded", req: "05 " + d0901 + " " + leftRegNo, ans: "00 02 00 00 00 ?? ?? ?? ??"},
		{name: "40h drive close", req: "40 02 00 00 00", ans: "00 06 00 " + d0901 + " 02 00 00 00 ?? ?? ?? ?? '            ' " + gRegNo},
	} {
		if _, err := port.Write(frameOf(pat(s.req))); err != nil {
			t.Fatal(err)
		}
		expectFrame(t, port, s.name, pat(s.ans))
	}
}

// TestGoldenRegistrationMismatch: a 03h field that disagrees with the same
// tag in the 07h data is refused (09h), and the drive stays unregistered.
func TestGoldenRegistrationMismatch(t *testing.T) {
	e := openEmulator(t, fn.EmulatorConfig{})
	port := serveRaw(t, e)
	for _, s := range []step{
		{name: "02h", req: "02 00", ans: "00"},
		{name: "07h 1037 of another number", req: "07 0D 04 10 00 '0000000009999999'", ans: "00"},
		{name: "03h: 09h", req: "03 " + d0900 + " " + gINN + " " + gRegNo + " 01 00", ans: "09"},
		{name: "30h: not registered, nothing in progress", req: "30", ans: "00 01 00 00 00 00 00 00 00 00 00 " + gNumber + " 00 00 00 00"},
	} {
		if _, err := port.Write(frameOf(pat(s.req))); err != nil {
			t.Fatal(err)
		}
		expectFrame(t, port, s.name, pat(s.ans))
	}
}

// TestWarningTags: the warnings reach the shift reports under the public
// tags: key validity within 30 days as 1050, archive 90 % as 1052.
func TestWarningTags(t *testing.T) {
	ctx := context.Background()
	e := openEmulator(t, fn.EmulatorConfig{Limits: fn.Limits{ValidUntil: t0.Add(20 * 24 * time.Hour), Capacity: 3}})
	must(e.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	must(e.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "open")})).ok(t)
	must(e.Receipt(ctx, receipt(t, t0, 100))).ok(t) // FD 3 of 3: the archive is full beyond 90 %
	if w := must(e.State(ctx)).ok(t).Warnings; w != fn.WarnKeyExpiring|fn.WarnMemory90 || byte(w) != 0x06 {
		t.Fatalf("warnings %02x (%v), want bits 1 and 2", byte(w), w.Strings())
	}
	e2 := openEmulator(t, fn.EmulatorConfig{Limits: fn.Limits{ValidUntil: t0.Add(20 * 24 * time.Hour)}})
	must(e2.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
	s := must(e2.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "open")})).ok(t)
	_, els := elements(t, must(e2.Document(ctx, s.FD)).ok(t).TLV)
	if v := els[1050]; len(v) != 1 || v[0] != 1 {
		t.Fatalf("shift open 20 days before the key's end: 1050 = % x", v)
	}
	if _, has := els[1052]; has {
		t.Fatal("1052 without the archive 90 % full")
	}
}

func TestGoldenClientStateReport15(t *testing.T) {
	// An FFD 1.2 drive adds the unsent count and its date to 19h (ruling 9).
	c, wait := scripted(t, fn.ClientOptions{},
		cstep{req: "30", ans: st30Closed},
		cstep{req: "18 " + d0904, ans: "00"},
		cstep{req: "07 " + gUser, ans: "00"},
		cstep{req: "19", ans: "00 05 00 00 00 05 05 05 05 02 00 00 00 1A 0B 16"},
		cstep{req: "10", ans: "00 00 01 00 00 00"},
	)
	s := must(c.StateReport(context.Background(), fn.Doc{Time: at0900.Add(4 * time.Minute), TLV: pat(gUser).bytesOf(0)})).ok(t)
	wait()
	if s.FD != 5 || s.FPD != 0x05050505 || s.Shift != 1 {
		t.Fatalf("signed %+v", s)
	}
}

// FuzzParseAck: an acknowledgement comes from outside (any OFD); the parser
// never panics, and what the strict check (an OFD key) takes the lenient one
// takes too, with the same FD and response code.
func FuzzParseAck(f *testing.F) {
	ack := pat(strings.TrimPrefix(ackCommand(), "26 ")).bytesOf(0)
	f.Add(ack, false)
	f.Add(ackFor(f, []byte("k"), fn.DefaultDriveNumber, 3, 0, t0), true)
	f.Add(ack[:40], false)
	f.Fuzz(func(t *testing.T, b []byte, keyed bool) {
		if !keyed {
			fn.ParseAck(b, nil)
			return
		}
		fd, code, err := fn.ParseAck(b, []byte("k"))
		if err != nil {
			return
		}
		fd2, code2, err := fn.ParseAck(b, nil)
		if err != nil || fd2 != fd || code2 != code {
			t.Fatalf("strict took FD %d code %d, lenient FD %d code %d (%v)", fd, code, fd2, code2, err)
		}
	})
}
