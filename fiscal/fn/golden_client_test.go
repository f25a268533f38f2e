package fn_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/board"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// cstep is one exchange a scripted drive expects of the client: the request
// body it must get byte for byte, and the answer body it sends back; silent
// sends none, as a drive whose answer was lost on the line.
type cstep struct {
	req, ans string
	silent   bool
}

// deadlineReader gives each Read of the pty's master a short deadline, so a
// wait can end.
type deadlineReader struct{ f *os.File }

func (r deadlineReader) Read(b []byte) (int, error) {
	r.f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := r.f.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil
	}
	return n, err
}

// scripted starts a drive on a pty that plays steps and a Client on its other
// end; wait returns once the script is played and no further frame came.
func scripted(t *testing.T, opts fn.ClientOptions, steps ...cstep) (c *fn.Client, wait func()) {
	t.Helper()
	p, err := board.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	port := openPort(t, p.Path)
	r := deadlineReader{p.Master()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, s := range steps {
			got, err := readFrame(r, 5*time.Second)
			if err != nil {
				t.Errorf("step %d, want % v: %v", i, s.req, err)
				return
			}
			if want := pat(s.req); !want.match(got) {
				t.Errorf("step %d: client sent\n % x\nwant\n %v", i, got, want)
				return
			}
			if s.silent {
				continue
			}
			if _, err := p.Master().Write(frameOf(pat(s.ans))); err != nil {
				t.Errorf("step %d: %v", i, err)
				return
			}
		}
		if got, err := readFrame(r, 150*time.Millisecond); err == nil {
			t.Errorf("after the script the client sent % x", got)
		}
	})
	t.Cleanup(func() { port.Close(); p.Close() })
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	return fn.NewClient(port, opts), wg.Wait
}

var (
	at0900 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	at0902 = at0900.Add(2 * time.Minute)
)

// Answers of 30h the scripts use: phase, in progress, data received, shift
// open, warnings, date5, number, last FD.
func status30(phase, inProgress, shift string, date, lastFD string) string {
	return "00 " + phase + " " + inProgress + " 00 " + shift + " 00 " + date + " " + gNumber + " " + lastFD
}

var (
	st30Fresh    = status30("01", "00", "00", "00 00 00 00 00", "00 00 00 00")
	st30Shift3   = status30("03", "00", "01", d0901, "03 00 00 00") // shift open, last FD 3
	st30Shift3R  = status30("03", "04", "01", d0901, "03 00 00 00") // and a receipt in progress
	st30Shift4   = status30("03", "00", "01", d0902, "04 00 00 00")
	st30Closed   = status30("03", "00", "00", d0901, "03 00 00 00")
	st30Archived = status30("07", "00", "00", d0905, "06 00 00 00")
	receiptReq15 = "15 " + d0902
	receiptReq07 = "07 1F 04 01 00 01"
	receiptReq16 = "16 " + d0902 + " 01 10 A4 00 00 00"
)

func goldenReceipt() fn.ReceiptDoc {
	return fn.ReceiptDoc{Time: at0902, Sign: fiscal.Income, Total: 42000, TLV: pat("1F 04 01 00 01").bytesOf(0)}
}

func TestGoldenClientState(t *testing.T) {
	ctx := context.Background()
	t.Run("Fresh", func(t *testing.T) {
		c, wait := scripted(t, fn.ClientOptions{},
			cstep{req: "30", ans: st30Fresh},
			cstep{req: "20", ans: "00 00 00 00 00 00 00 00 00 00 00 00 00 00"},
			cstep{req: "32", ans: "00 00 00 00 0C 00"},
		)
		st := must(c.State(ctx)).ok(t)
		wait()
		if st.Phase != fn.PhaseNotRegistered || st.DriveNumber != "9999078900004312" || st.LastFD != 0 || !st.ValidUntil.IsZero() {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("ShiftOpen", func(t *testing.T) {
		c, wait := scripted(t, fn.ClientOptions{},
			cstep{req: "30", ans: status30("03", "00", "01", d0902, "0C 00 00 00") + ""},
			cstep{req: "10", ans: "00 01 07 00 05 00"},
			// The opening time is only in the archive: the report before the 5 receipts, or one before.
			cstep{req: "40 07 00 00 00", ans: "00 15 00 1A 0B 16 08 30 07 00 00 00 01 02 03 04 00 00 00 00 1A 0B 16"},
			cstep{req: "40 06 00 00 00", ans: "00 02 00 1A 0B 16 08 29 06 00 00 00 01 02 03 04 07 00"},
			cstep{req: "20", ans: "00 03 00 02 00 0B 00 00 00 " + d0901},
			cstep{req: "32", ans: "00 1D 0B 16 0B 01"},
			cstep{req: "43", ans: "00 " + d0900 + " " + gINN + " " + gRegNo + " 01 24 01 00 00 00 44 33 22 11"},
		)
		st := must(c.State(ctx)).ok(t)
		wait()
		want := fn.State{Phase: fn.PhaseFiscal, DriveNumber: "9999078900004312", RegNumber: "0000000001012345", ShiftOpen: true,
			Shift: 7, ReceiptsInShift: 5, LastFD: 12, LastFDTime: at0902, ShiftOpenedAt: time.Date(2026, 11, 22, 8, 41, 0, 0, time.UTC), Unsent: 2, FirstUnsentFD: 11,
			FirstUnsentTime: at0900.Add(time.Minute), ValidUntil: time.Date(2029, 11, 22, 0, 0, 0, 0, time.UTC)}
		if st != want {
			t.Fatalf("state\n%+v, want\n%+v", st, want)
		}
	})
	t.Run("Warnings", func(t *testing.T) {
		c, wait := scripted(t, fn.ClientOptions{},
			cstep{req: "30", ans: "00 01 00 00 00 86 00 00 00 00 00 " + gNumber + " 00 00 00 00"},
			cstep{req: "20", ans: "00 00 00 00 00 00 00 00 00 00 00 00 00 00"},
			cstep{req: "32", ans: "00 00 00 00 0C 00"},
		)
		st := must(c.State(ctx)).ok(t)
		wait()
		if st.Warnings != fn.WarnKeyExpiring|fn.WarnMemory90|fn.WarnCritical {
			t.Fatalf("warnings 86h read as %v", st.Warnings.Strings())
		}
	})
}

func TestGoldenClientDocuments(t *testing.T) {
	ctx := context.Background()
	regTLV := gUser + " FA 03 0C 00 " + gINN + " 0D 04 10 00 '0000000001012345' 26 04 01 00 01 E9 03 01 00 01 54 04 01 00 01"
	c, wait := scripted(t, fn.ClientOptions{},
		cstep{req: "30", ans: st30Fresh},
		cstep{req: "02 00", ans: "00"},
		cstep{req: "07 " + regTLV, ans: "00"},
		cstep{req: "03 " + d0900 + " " + gINN + " " + gRegNo + " 01 24", ans: "00 01 00 00 00 44 33 22 11"},
		cstep{req: "11 " + d0901, ans: "00"},
		cstep{req: "07 " + gUser, ans: "00"},
		cstep{req: "12", ans: "00 01 00 02 00 00 00 88 77 66 55"},
		cstep{req: receiptReq15, ans: "00"},
		cstep{req: receiptReq07, ans: "00"},
		cstep{req: receiptReq16, ans: "00 01 00 03 00 00 00 DD CC BB AA"},
		cstep{req: "13 " + d0903, ans: "00"},
		cstep{req: "07 " + gUser, ans: "00"},
		cstep{req: "14", ans: "00 01 00 04 00 00 00 04 04 04 04"},
		cstep{req: "18 " + d0904, ans: "00"},
		cstep{req: "07 " + gUser, ans: "00"},
		cstep{req: "19", ans: "00 05 00 00 00 05 05 05 05"},
		cstep{req: "10", ans: "00 00 01 00 00 00"},
		cstep{req: "04", ans: "00"},
		cstep{req: "07 " + gUser + " 0D 04 10 00 '0000000001012345'", ans: "00"},
		cstep{req: "05 " + d0905 + " " + gRegNo, ans: "00 06 00 00 00 06 06 06 06"},
	)
	doc := func(at time.Time, tlv string) fn.Doc { return fn.Doc{Time: at, TLV: pat(tlv).bytesOf(0)} }
	check := func(what string, got, want fn.Signed) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %+v, want %+v", what, got, want)
		}
	}
	check("registration", must(c.Register(ctx, doc(at0900, regTLV))).ok(t), fn.Signed{FD: 1, FPD: 0x11223344, Time: at0900})
	check("shift open", must(c.OpenShift(ctx, doc(at0900.Add(time.Minute), gUser))).ok(t),
		fn.Signed{FD: 2, FPD: 0x55667788, Shift: 1, Time: at0900.Add(time.Minute)})
	check("receipt", must(c.Receipt(ctx, goldenReceipt())).ok(t), fn.Signed{FD: 3, FPD: 0xAABBCCDD, Shift: 1, Number: 1, Time: at0902})
	check("shift close", must(c.CloseShift(ctx, doc(at0900.Add(3*time.Minute), gUser))).ok(t),
		fn.Signed{FD: 4, FPD: 0x04040404, Shift: 1, Time: at0900.Add(3 * time.Minute)})
	check("state report", must(c.StateReport(ctx, doc(at0900.Add(4*time.Minute), gUser))).ok(t),
		fn.Signed{FD: 5, FPD: 0x05050505, Shift: 1, Time: at0900.Add(4 * time.Minute)})
	check("drive close", must(c.CloseDrive(ctx, doc(at0900.Add(5*time.Minute), gUser+" 0D 04 10 00 '0000000001012345'"))).ok(t),
		fn.Signed{FD: 6, FPD: 0x06060606, Time: at0900.Add(5 * time.Minute)})
	wait()
}

// TestGoldenClientLostAnswers: a finish whose answer is lost is never sent
// blindly again; the client reads the drive's state and last document.
func TestGoldenClientLostAnswers(t *testing.T) {
	ctx := context.Background()
	opts := fn.ClientOptions{Timeout: time.Second, SignTimeout: 300 * time.Millisecond}
	t.Run("SignedMeanwhile", func(t *testing.T) {
		c, wait := scripted(t, opts,
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, silent: true},
			cstep{req: "30", ans: st30Shift4},
			cstep{req: "40 04 00 00 00", ans: "00 03 00 " + d0902 + " 04 00 00 00 88 77 66 55 01 10 A4 00 00 00"},
			cstep{req: "10", ans: "00 01 01 00 02 00"},
			cstep{req: "10", ans: "00 01 01 00 02 00"},
		)
		s := must(c.Receipt(ctx, goldenReceipt())).ok(t)
		wait()
		if s != (fn.Signed{FD: 4, FPD: 0x55667788, Number: 2, Shift: 1, Time: at0902}) {
			t.Fatalf("signed %+v", s)
		}
	})
	t.Run("SomethingElseSigned", func(t *testing.T) {
		// The drive's last document is not the receipt: the client does not take it for one.
		c, wait := scripted(t, opts,
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, silent: true},
			cstep{req: "30", ans: st30Shift4},
			cstep{req: "40 04 00 00 00", ans: "00 02 00 " + d0902 + " 04 00 00 00 88 77 66 55 02 00"},
			cstep{req: "30", ans: st30Shift4}, // what the 02h-class error means: the shift is open, so plain 02h
		)
		_, err := c.Receipt(ctx, goldenReceipt())
		wait()
		if !errors.Is(err, fn.ErrState) {
			t.Fatalf("receipt: %v", err)
		}
	})
	t.Run("StillInProgress", func(t *testing.T) {
		c, wait := scripted(t, opts,
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, silent: true},
			cstep{req: "30", ans: st30Shift3R},
			cstep{req: receiptReq16, ans: "00 02 00 04 00 00 00 88 77 66 55"},
			cstep{req: "10", ans: "00 01 01 00 02 00"},
		)
		s := must(c.Receipt(ctx, goldenReceipt())).ok(t)
		wait()
		if s.FD != 4 || s.Number != 2 {
			t.Fatalf("signed %+v", s)
		}
	})
	t.Run("RefusedUnseen", func(t *testing.T) {
		// The drive ended the receipt without signing; the whole receipt is sent again.
		c, wait := scripted(t, opts,
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, silent: true},
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, ans: "07"},
			cstep{req: "06", ans: "00"},
		)
		_, err := c.Receipt(ctx, goldenReceipt())
		wait()
		wantErr(t, err, fn.ErrBadTime, false)
	})
	t.Run("FormatErrorSentAgain", func(t *testing.T) {
		c, wait := scripted(t, opts,
			cstep{req: "30", ans: st30Shift3},
			cstep{req: receiptReq15, ans: "01"},
			cstep{req: receiptReq15, ans: "00"},
			cstep{req: receiptReq07, ans: "81"}, // bit 7 does not make it another code
			cstep{req: receiptReq07, ans: "00"},
			cstep{req: receiptReq16, ans: "01"},
			cstep{req: receiptReq16, ans: "80 01 00 04 00 00 00 88 77 66 55"}, // 80h: success
			cstep{req: "10", ans: "00 01 01 00 01 00"},
		)
		if s := must(c.Receipt(ctx, goldenReceipt())).ok(t); s.FD != 4 {
			t.Fatalf("signed %+v", s)
		}
		wait()
	})
}

func TestGoldenClientRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		call  func(c *fn.Client) error
		steps []cstep
		want  error
		fault bool
	}{
		{"ShiftClosed", func(c *fn.Client) error { _, err := c.Receipt(ctx, goldenReceipt()); return err },
			[]cstep{{req: "30", ans: st30Closed}, {req: receiptReq15, ans: "02"}, {req: "30", ans: st30Closed}}, fn.ErrShiftClosed, false},
		{"ShiftOpen", func(c *fn.Client) error {
			_, err := c.OpenShift(ctx, fn.Doc{Time: at0902, TLV: pat(gUser).bytesOf(0)})
			return err
		}, []cstep{{req: "30", ans: st30Shift3}, {req: "11 " + d0902, ans: "02"}, {req: "30", ans: st30Shift3}}, fn.ErrShiftOpen, false},
		{"NotRegistered", func(c *fn.Client) error {
			_, err := c.OpenShift(ctx, fn.Doc{Time: at0902, TLV: pat(gUser).bytesOf(0)})
			return err
		}, []cstep{{req: "30", ans: st30Fresh}, {req: "11 " + d0902, ans: "02"}, {req: "30", ans: st30Fresh}}, fn.ErrNotRegistered, false},
		{"DriveClosed", func(c *fn.Client) error {
			_, err := c.OpenShift(ctx, fn.Doc{Time: at0902, TLV: pat(gUser).bytesOf(0)})
			return err
		}, []cstep{{req: "30", ans: st30Archived}, {req: "11 " + d0902, ans: "02"}, {req: "30", ans: st30Archived}}, fn.ErrDriveClosed, true},
		{"ShiftExpired", func(c *fn.Client) error { _, err := c.Receipt(ctx, goldenReceipt()); return err },
			[]cstep{{req: "30", ans: st30Shift3}, {req: receiptReq15, ans: "00"}, {req: receiptReq07, ans: "00"},
				{req: receiptReq16, ans: "16"}, {req: "06", ans: "00"}}, fn.ErrShiftExpired, false},
		{"OFDBacklog", func(c *fn.Client) error { _, err := c.Receipt(ctx, goldenReceipt()); return err },
			[]cstep{{req: "30", ans: st30Shift3}, {req: receiptReq15, ans: "00"}, {req: receiptReq07, ans: "00"},
				{req: receiptReq16, ans: "15"}, {req: "06", ans: "00"}}, fn.ErrOFDBacklog, false},
		{"KeyExpired", func(c *fn.Client) error { _, err := c.Receipt(ctx, goldenReceipt()); return err },
			[]cstep{{req: "30", ans: st30Shift3}, {req: receiptReq15, ans: "00"}, {req: receiptReq07, ans: "00"},
				{req: receiptReq16, ans: "05"}, {req: "06", ans: "00"}, {req: "30", ans: st30Shift3}}, fn.ErrKeyExpired, true},
		{"AckRejected", func(c *fn.Client) error { return c.Acknowledge(ctx, []byte{1, 2, 3}) },
			[]cstep{{req: "26 01 02 03", ans: "00 02"}}, fn.ErrOFDRejected, false},
		{"AckRefused", func(c *fn.Client) error { return c.Acknowledge(ctx, []byte{1, 2, 3}) },
			[]cstep{{req: "26 01 02 03", ans: "20"}}, fn.ErrBadAck, false},
		{"NoDocument", func(c *fn.Client) error { _, err := c.Document(ctx, 9); return err },
			[]cstep{{req: "40 09 00 00 00", ans: "08"}}, fn.ErrNoDocument, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, wait := scripted(t, fn.ClientOptions{}, tc.steps...)
			err := tc.call(c)
			wait()
			wantErr(t, err, tc.want, tc.fault)
		})
	}
}

func TestGoldenClientArchiveAndOFD(t *testing.T) {
	ctx := context.Background()
	c, wait := scripted(t, fn.ClientOptions{},
		cstep{req: "40 03 00 00 00", ans: "00 03 01 " + d0902 + " 03 00 00 00 DD CC BB AA 01 10 A4 00 00 00"},
		cstep{req: "45 03 00 00 00", ans: "00 03 00 10 00"},
		cstep{req: "46", ans: "00 10 04 04 00 03 00 00 00"},
		cstep{req: "46", ans: "00 F4 03 04 00 " + u0902},
		cstep{req: "22", ans: "08"},
		cstep{req: "22", ans: "00 06 00"},
		cstep{req: "23 00 00 06 00", ans: "00 06 00 AB CD A5 03"},
		cstep{req: "25", ans: "00"},
		cstep{req: "26 06 00 AB CD A5 07", ans: "00 00"},
	)
	a := must(c.Document(ctx, 3)).ok(t)
	wantTLV := pat("03 00 10 00 10 04 04 00 03 00 00 00 F4 03 04 00 " + u0902).bytesOf(0)
	if a.Type != fiscal.DocReceipt || a.FD != 3 || a.FPD != 0xAABBCCDD || !a.Acked || !a.Time.Equal(at0902) || string(a.TLV) != string(wantTLV) {
		t.Fatalf("archived %+v", a)
	}
	if msg, err := c.NextMessage(ctx); msg != nil || err != nil {
		t.Fatalf("nothing unsent: % x, %v", msg, err)
	}
	msg := must(c.NextMessage(ctx)).ok(t)
	if !strings.EqualFold(pattern(intsOf(msg)).String(), "06 00 ab cd a5 03") {
		t.Fatalf("message % x", msg)
	}
	if err := c.Acknowledge(ctx, pat("06 00 AB CD A5 07").bytesOf(0)); err != nil {
		t.Fatal(err)
	}
	wait()
}
