package fn_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd"
)

func TestEmulator(t *testing.T) { conformance(t, inProcess) }
func TestUART(t *testing.T)     { conformance(t, overUART) }

// conformance is the one suite every Drive passes, whatever is behind it.
func conformance(t *testing.T, newDrive driveFactory) {
	ctx := context.Background()

	// registered opens a drive, registers it at t0 and opens shift 1 at t0+1m.
	registered := func(t *testing.T, cfg fn.EmulatorConfig) fixture {
		f := newDrive(t, cfg)
		must(f.drive.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
		must(f.drive.OpenShift(ctx, fn.Doc{Time: t0.Add(time.Minute), TLV: reportTLV(t, "ОТЧЕТ ОБ ОТКРЫТИИ СМЕНЫ")})).ok(t)
		return f
	}

	t.Run("NumberingAndSigns", func(t *testing.T) {
		f := newDrive(t, fn.EmulatorConfig{})
		d := f.drive
		st := must(d.State(ctx)).ok(t)
		if st.Phase != fn.PhaseNotRegistered || st.LastFD != 0 || st.DriveNumber != f.number {
			t.Fatalf("fresh drive state %+v", st)
		}
		var signed []fn.Signed
		signed = append(signed, must(d.Register(ctx, fn.Doc{Time: t0.Add(30 * time.Second), TLV: registrationTLV(t, regNumber)})).ok(t))
		signed = append(signed, must(d.OpenShift(ctx, fn.Doc{Time: t0.Add(time.Minute), TLV: reportTLV(t, "ОТКРЫТИЕ СМЕНЫ")})).ok(t))
		for i := range 4 {
			r := receipt(t, t0.Add(time.Duration(2+i)*time.Minute), uint64(1990*(i+1)))
			r.Correction = i == 3
			signed = append(signed, must(d.Receipt(ctx, r)).ok(t))
		}
		signed = append(signed, must(d.StateReport(ctx, fn.Doc{Time: t0.Add(10 * time.Minute), TLV: reportTLV(t, "ОТЧЕТ О СОСТОЯНИИ")})).ok(t))
		signed = append(signed, must(d.CloseShift(ctx, fn.Doc{Time: t0.Add(11 * time.Minute), TLV: reportTLV(t, "ЗАКРЫТИЕ СМЕНЫ")})).ok(t))
		types := []fiscal.Tag{1, 2, 3, 3, 3, 31, 21, 5}
		for i, s := range signed {
			if s.FD != uint32(i+1) {
				t.Fatalf("document %d numbered %d", i+1, s.FD)
			}
			a := must(d.Document(ctx, s.FD)).ok(t)
			if a.Type != types[i] || a.FD != s.FD || !a.Time.Equal(s.Time) || a.Acked {
				t.Fatalf("FD %d archived as %+v, signed %+v", s.FD, a, s)
			}
			fpd, err := fiscal.VerifyFiscalSign(f.key, a.TLV)
			if err != nil || fpd != s.FPD || a.FPD != s.FPD {
				t.Fatalf("FD %d: ФПД %d (%v), signed %d, archived %d", s.FD, fpd, err, s.FPD, a.FPD)
			}
			typ, els := elements(t, a.TLV)
			if typ != types[i] || u32(els[1040]) != s.FD || string(els[1041]) != f.number ||
				int64(u32(els[1012])) != s.Time.Unix() {
				t.Fatalf("FD %d: drive's elements wrong: %v", s.FD, els)
			}
			if _, has := els[1038]; has == (i == 0) {
				t.Fatalf("FD %d (type %d): 1038 present %v", s.FD, typ, has)
			}
		}
		if want := t0; !signed[0].Time.Equal(want) || signed[0].Time.Location() != time.UTC {
			t.Fatalf("registration time %v, want %v truncated to the minute", signed[0].Time, want)
		}
		for i, s := range signed[2:6] {
			if s.Number != uint32(i+1) || s.Shift != 1 {
				t.Fatalf("receipt %d: number %d shift %d", i+1, s.Number, s.Shift)
			}
		}
		if signed[7].Shift != 1 || signed[1].Shift != 1 || signed[7].Number != 0 {
			t.Fatalf("shift reports %+v %+v", signed[1], signed[7])
		}
		_, closeEls := elements(t, must(d.Document(ctx, 8)).ok(t).TLV)
		if u32(closeEls[1111]) != 7 || u32(closeEls[1118]) != 4 || u32(closeEls[1097]) != 7 || u32(closeEls[1116]) != 1 ||
			int64(u32(closeEls[1098])) != t0.Unix() {
			t.Fatalf("close report counters: 1111=%v 1118=%v 1097=%v 1116=%v 1098=%v",
				closeEls[1111], closeEls[1118], closeEls[1097], closeEls[1116], closeEls[1098])
		}
		st = must(d.State(ctx)).ok(t)
		want := fn.State{Phase: fn.PhaseFiscal, DriveNumber: f.number, RegNumber: strings.TrimSpace(regNumber), Shift: 1,
			ShiftOpenedAt: t0.Add(time.Minute), ReceiptsInShift: 4, LastFD: 8, LastFDTime: t0.Add(11 * time.Minute),
			Unsent: 8, FirstUnsentFD: 1, FirstUnsentTime: t0, ValidUntil: t0.AddDate(0, 36, 0).Truncate(24 * time.Hour)}
		if st != want {
			t.Fatalf("state\n%+v, want\n%+v", st, want)
		}
	})

	t.Run("LocalTimeIsWallClock", func(t *testing.T) {
		f := newDrive(t, fn.EmulatorConfig{})
		msk := time.FixedZone("MSK", 3*3600)
		at := time.Date(2026, 11, 22, 12, 24, 59, 0, msk)
		s := must(f.drive.Register(ctx, fn.Doc{Time: at, TLV: registrationTLV(t, regNumber)})).ok(t)
		if want := time.Date(2026, 11, 22, 12, 24, 0, 0, time.UTC); !s.Time.Equal(want) {
			t.Fatalf("signed at %v, want the wall clock %v", s.Time, want)
		}
	})

	t.Run("Shifts", func(t *testing.T) {
		f := newDrive(t, fn.EmulatorConfig{})
		d := f.drive
		_, err := d.Receipt(ctx, receipt(t, t0, 100))
		wantErr(t, err, fn.ErrNotRegistered, false)
		_, err = d.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "x")})
		wantErr(t, err, fn.ErrNotRegistered, false)
		must(d.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
		_, err = d.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})
		wantErr(t, err, fn.ErrState, false)
		_, err = d.Receipt(ctx, receipt(t, t0, 100))
		wantErr(t, err, fn.ErrShiftClosed, false)
		_, err = d.CloseShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "x")})
		wantErr(t, err, fn.ErrShiftClosed, false)
		for shift := uint32(1); shift <= 3; shift++ {
			at := t0.Add(time.Duration(shift) * time.Hour)
			s := must(d.OpenShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "open")})).ok(t)
			if s.Shift != shift {
				t.Fatalf("opened shift %d, want %d", s.Shift, shift)
			}
			_, err = d.OpenShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "open")})
			wantErr(t, err, fn.ErrShiftOpen, false)
			_, err = d.ChangeRegistration(ctx, fn.Doc{Time: at, TLV: registrationTLV(t, regNumber)})
			wantErr(t, err, fn.ErrShiftOpen, false)
			r := must(d.Receipt(ctx, receipt(t, at, 500))).ok(t)
			if r.Number != 1 || r.Shift != shift {
				t.Fatalf("first receipt of shift %d: %+v", shift, r)
			}
			st := must(d.State(ctx)).ok(t)
			if !st.ShiftOpen || st.Shift != shift || st.ReceiptsInShift != 1 || !st.ShiftOpenedAt.Equal(at) {
				t.Fatalf("state in shift %d: %+v", shift, st)
			}
			must(d.CloseShift(ctx, fn.Doc{Time: at, TLV: reportTLV(t, "close")})).ok(t)
			if st := must(d.State(ctx)).ok(t); st.ShiftOpen || st.Shift != shift {
				t.Fatalf("state after closing shift %d: %+v", shift, st)
			}
		}
	})

	t.Run("ShiftLimit", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{}).drive
		opened := t0.Add(time.Minute)
		must(d.Receipt(ctx, receipt(t, opened.Add(24*time.Hour), 100))).ok(t)
		_, err := d.Receipt(ctx, receipt(t, opened.Add(24*time.Hour+time.Minute), 100))
		wantErr(t, err, fn.ErrShiftExpired, false)
		must(d.StateReport(ctx, fn.Doc{Time: opened.Add(25 * time.Hour), TLV: reportTLV(t, "state")})).ok(t)
		must(d.CloseShift(ctx, fn.Doc{Time: opened.Add(25 * time.Hour), TLV: reportTLV(t, "close")})).ok(t)
		must(d.OpenShift(ctx, fn.Doc{Time: opened.Add(25 * time.Hour), TLV: reportTLV(t, "open")})).ok(t)
		if r := must(d.Receipt(ctx, receipt(t, opened.Add(26*time.Hour), 100))).ok(t); r.Shift != 2 || r.Number != 1 {
			t.Fatalf("receipt in the new shift: %+v", r)
		}
	})

	t.Run("ShiftLimitConfigured", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{Limits: fn.Limits{ShiftMax: time.Hour}}).drive
		_, err := d.Receipt(ctx, receipt(t, t0.Add(62*time.Minute), 100))
		wantErr(t, err, fn.ErrShiftExpired, false)
	})

	t.Run("OFDLimit", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		d := f.drive
		must(d.CloseShift(ctx, fn.Doc{Time: t0.Add(2 * time.Minute), TLV: reportTLV(t, "close")})).ok(t)
		day := 24 * time.Hour
		must(d.StateReport(ctx, fn.Doc{Time: t0.Add(24 * day), TLV: reportTLV(t, "state")})).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w&fn.WarnOFDTimeout != 0 {
			t.Fatalf("warnings at 24 days: %v", w.Strings())
		}
		must(d.StateReport(ctx, fn.Doc{Time: t0.Add(25 * day), TLV: reportTLV(t, "state")})).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w&fn.WarnOFDTimeout == 0 {
			t.Fatalf("warnings at 25 days: %v", w.Strings())
		}
		opened := must(d.OpenShift(ctx, fn.Doc{Time: t0.Add(30 * day), TLV: reportTLV(t, "open")})).ok(t)
		_, els := elements(t, must(d.Document(ctx, opened.FD)).ok(t).TLV)
		if len(els[1053]) != 1 || els[1053][0] != 1 {
			t.Fatalf("shift open at 30 days without the OFD timeout warning 1053: %v", els)
		}
		_, err := d.Receipt(ctx, receipt(t, t0.Add(30*day+time.Minute), 100))
		wantErr(t, err, fn.ErrOFDBacklog, false)
		_, err = d.CloseShift(ctx, fn.Doc{Time: t0.Add(30*day + time.Minute), TLV: reportTLV(t, "close")})
		wantErr(t, err, fn.ErrOFDBacklog, false)
		// Acknowledging the first document moves the oldest unsent to FD 2 (t0+1m).
		if err := d.Acknowledge(ctx, ackFor(t, nil, f.number, 1, 0, t0.Add(30*day))); err != nil {
			t.Fatal(err)
		}
		must(d.Receipt(ctx, receipt(t, t0.Add(30*day+time.Minute), 100))).ok(t)
		_, err = d.Receipt(ctx, receipt(t, t0.Add(30*day+2*time.Minute), 100))
		wantErr(t, err, fn.ErrOFDBacklog, false)
		st := must(d.State(ctx)).ok(t)
		if err := d.Acknowledge(ctx, ackFor(t, nil, f.number, st.LastFD, 0, t0.Add(30*day))); err != nil {
			t.Fatal(err)
		}
		must(d.Receipt(ctx, receipt(t, t0.Add(30*day+2*time.Minute), 100))).ok(t)
	})

	t.Run("TimeBackwards", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{}).drive
		at := t0.Add(10*time.Minute + 30*time.Second)
		must(d.Receipt(ctx, receipt(t, at, 100))).ok(t)
		// The same minute is not earlier: drives keep minutes.
		must(d.Receipt(ctx, receipt(t, at.Add(-20*time.Second), 100))).ok(t)
		_, err := d.Receipt(ctx, receipt(t, at.Add(-time.Minute), 100))
		wantErr(t, err, fn.ErrBadTime, false)
		_, err = d.CloseShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "close")})
		wantErr(t, err, fn.ErrBadTime, false)
		if st := must(d.State(ctx)).ok(t); st.LastFD != 4 {
			t.Fatalf("refused documents moved the counter to %d", st.LastFD)
		}
	})

	t.Run("Archive", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		d := f.drive
		for _, fd := range []uint32{0, 3, 1 << 20} {
			_, err := d.Document(ctx, fd)
			wantErr(t, err, fn.ErrNoDocument, false)
		}
		// A document larger than one 07h block travels in several and comes back whole.
		r := receipt(t, t0.Add(2*time.Minute), 100)
		for range 120 {
			r.TLV = str(t, r.TLV, 1192, "0123456789ABCDEF")
		}
		if len(r.TLV) < 2*fn.MaxChunk {
			t.Fatalf("test receipt of only %d bytes", len(r.TLV))
		}
		s := must(d.Receipt(ctx, r)).ok(t)
		a := must(d.Document(ctx, s.FD)).ok(t)
		if !bytes.Contains(a.TLV, r.TLV) {
			t.Fatal("archived receipt does not hold the register's elements")
		}
		if _, err := fiscal.VerifyFiscalSign(f.key, a.TLV); err != nil {
			t.Fatal(err)
		}
		big := receipt(t, t0.Add(2*time.Minute), 100)
		for len(big.TLV) < 0x10000 {
			big.TLV = str(t, big.TLV, 1192, "0123456789ABCDEF")
		}
		_, err := d.Receipt(ctx, big)
		wantErr(t, err, fn.ErrTooBig, false)
		must(d.Receipt(ctx, receipt(t, t0.Add(3*time.Minute), 100))).ok(t)
	})

	t.Run("BadParameters", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{}).drive
		at := t0.Add(2 * time.Minute)
		r := receipt(t, at, 100)
		r.Total = 101
		_, err := d.Receipt(ctx, r)
		wantErr(t, err, fn.ErrBadParam, false)
		r = receipt(t, at, 100)
		r.Sign = fiscal.IncomeReturn
		_, err = d.Receipt(ctx, r)
		wantErr(t, err, fn.ErrBadParam, false)
		r = receipt(t, at, 100)
		r.TLV = fiscal.AppendUint32(r.TLV, 1040, 77)
		_, err = d.Receipt(ctx, r)
		wantErr(t, err, fn.ErrBadParam, false)
		r = receipt(t, at, 100)
		r.TLV = r.TLV[:len(r.TLV)-1]
		_, err = d.Receipt(ctx, r)
		wantErr(t, err, fn.ErrBadParam, false)
		_, err = d.StateReport(ctx, fn.Doc{Time: at, TLV: fiscal.AppendUint32(reportTLV(t, "x"), 1077, 1)})
		wantErr(t, err, fn.ErrBadParam, false)
		if s := must(d.Receipt(ctx, receipt(t, at, 100))).ok(t); s.FD != 3 {
			t.Fatalf("after refusals the receipt is FD %d, want 3", s.FD)
		}

		f := newDrive(t, fn.EmulatorConfig{})
		_, err = f.drive.Register(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "no 1037")})
		wantErr(t, err, fn.ErrBadParam, false)
	})

	t.Run("RegistrationChangeAndClose", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{}).drive
		_, err := d.CloseDrive(ctx, fn.Doc{Time: t0.Add(2 * time.Minute), TLV: reportTLV(t, "close drive")})
		wantErr(t, err, fn.ErrShiftOpen, false)
		must(d.CloseShift(ctx, fn.Doc{Time: t0.Add(2 * time.Minute), TLV: reportTLV(t, "close")})).ok(t)
		const rn2 = "0000000002054321    "
		s := must(d.ChangeRegistration(ctx, fn.Doc{Time: t0.Add(3 * time.Minute), TLV: registrationTLV(t, rn2)})).ok(t)
		if s.FD != 4 || s.Shift != 1 {
			t.Fatalf("registration change %+v", s)
		}
		if st := must(d.State(ctx)).ok(t); st.RegNumber != strings.TrimSpace(rn2) {
			t.Fatalf("registration number %q after the change", st.RegNumber)
		}
		s = must(d.CloseDrive(ctx, fn.Doc{Time: t0.Add(4 * time.Minute), TLV: reportTLV(t, "close drive")})).ok(t)
		if s.FD != 5 || s.Shift != 0 {
			t.Fatalf("drive close %+v", s)
		}
		if st := must(d.State(ctx)).ok(t); st.Phase != fn.PhaseArchiveClosed {
			t.Fatalf("phase %v after closing", st.Phase)
		}
		_, err = d.OpenShift(ctx, fn.Doc{Time: t0.Add(5 * time.Minute), TLV: reportTLV(t, "open")})
		wantErr(t, err, fn.ErrDriveClosed, true)
		if a := must(d.Document(ctx, 5)).ok(t); a.Type != fiscal.DocDriveClose {
			t.Fatalf("last document type %d", a.Type)
		}
	})

	t.Run("OFDQueue", func(t *testing.T) {
		ofdKey := []byte("ofd secret key")
		f := newDrive(t, fn.EmulatorConfig{OFDKey: ofdKey})
		d := f.drive
		if msg, err := d.NextMessage(ctx); msg != nil || err != nil {
			t.Fatalf("empty drive has a message: %x, %v", msg, err)
		}
		must(d.Register(ctx, fn.Doc{Time: t0, TLV: registrationTLV(t, regNumber)})).ok(t)
		must(d.OpenShift(ctx, fn.Doc{Time: t0, TLV: reportTLV(t, "open")})).ok(t)
		for i := range 3 {
			must(d.Receipt(ctx, receipt(t, t0.Add(time.Duration(i)*time.Minute), 100))).ok(t)
		}
		next := func(wantFD uint32) {
			t.Helper()
			msg := must(d.NextMessage(ctx)).ok(t)
			c, err := ofd.ParseContainer(msg)
			if err != nil {
				t.Fatal(err)
			}
			a := must(d.Document(ctx, wantFD)).ok(t)
			if c.FD != wantFD || c.MessageType != ofd.MessageTypeFiscal || c.DocType != a.Type ||
				c.DriveNumber != f.number || !bytes.Equal(c.Document, a.TLV) || c.Sign != fiscal.MessageSign(f.key, a.TLV) {
				t.Fatalf("message FD %d, want FD %d: %+v", c.FD, wantFD, c)
			}
		}
		next(1)
		next(1) // reading does not acknowledge
		ack := func(fd uint32, code byte) error {
			return d.Acknowledge(ctx, ackFor(t, ofdKey, f.number, fd, code, t0.Add(time.Hour)))
		}
		if err := ack(1, 0); err != nil {
			t.Fatal(err)
		}
		next(2)
		if err := ack(1, 0); err != nil {
			t.Fatalf("repeated acknowledgement: %v", err)
		}
		wantErr(t, ack(9, 0), fn.ErrBadAck, false)
		wantErr(t, ack(3, 2), fn.ErrOFDRejected, false)
		if st := must(d.State(ctx)).ok(t); st.Unsent != 4 || st.FirstUnsentFD != 2 {
			t.Fatalf("after a rejection: %+v", st)
		}
		wantErr(t, d.Acknowledge(ctx, ackFor(t, ofdKey, "9999000000000001", 3, 0, t0)), fn.ErrBadAck, false)
		wantErr(t, d.Acknowledge(ctx, ackFor(t, []byte("another OFD"), f.number, 3, 0, t0)), fn.ErrBadAck, false)
		forged := ackFor(t, ofdKey, f.number, 3, 0, t0)
		forged[len(forged)-9] ^= 1 // the last byte of 1078, container CRC left stale
		wantErr(t, d.Acknowledge(ctx, forged), fn.ErrBadAck, false)
		wantErr(t, d.Acknowledge(ctx, []byte("not a container at all, just words")), fn.ErrBadAck, false)
		// One acknowledgement covers its document and every earlier one.
		if err := ack(3, 0); err != nil {
			t.Fatal(err)
		}
		next(4)
		for fd, want := range map[uint32]bool{1: true, 2: true, 3: true, 4: false, 5: false} {
			if a := must(d.Document(ctx, fd)).ok(t); a.Acked != want {
				t.Fatalf("FD %d acked %v", fd, a.Acked)
			}
		}
		if err := ack(5, 0); err != nil {
			t.Fatal(err)
		}
		if msg, err := d.NextMessage(ctx); msg != nil || err != nil {
			t.Fatalf("all acknowledged, yet a message: %x, %v", msg, err)
		}
		if st := must(d.State(ctx)).ok(t); st.Unsent != 0 || st.FirstUnsentFD != 0 || !st.FirstUnsentTime.IsZero() {
			t.Fatalf("state with nothing unsent: %+v", st)
		}
	})

	t.Run("AcknowledgementsByFD", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		d := f.drive
		acks, ok := d.(acknowledgements)
		if !ok {
			t.Fatalf("%T does not read acknowledgements by FD (41h)", d)
		}
		for i := range 4 {
			must(d.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), uint64(100+i)))).ok(t) // FD 3–6
		}
		want := map[uint32][]byte{}
		for _, fd := range []uint32{1, 2, 3, 5} { // FD 5's acknowledges 4 too
			ack := ackFor(t, nil, f.number, fd, 0, t0.Add(time.Duration(fd)*time.Minute))
			must(0, d.Acknowledge(ctx, ack)).ok(t)
			want[fd] = ackDocument(t, ack)
		}
		for fd := range uint32(8) {
			got, err := acks.Acknowledgement(ctx, fd)
			if w := want[fd]; w != nil && (err != nil || !bytes.Equal(got, w)) {
				t.Fatalf("FD %d: acknowledgement % x, %v; want % x", fd, got, err, w)
			}
			if want[fd] == nil && !errors.Is(err, fn.ErrNoDocument) {
				t.Fatalf("FD %d without an acknowledgement of its own: % x, %v; want ErrNoDocument", fd, got, err)
			}
		}
	})

	t.Run("AnyOFDWithoutKey", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		if err := f.drive.Acknowledge(ctx, ackFor(t, []byte("whatever OFD"), f.number, 2, 0, t0)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("FailedWrite", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		f.faults.FailNextWrites(2)
		_, err := f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))
		wantErr(t, err, fn.ErrWrite, true)
		err = f.drive.Acknowledge(ctx, ackFor(t, nil, f.number, 1, 0, t0))
		wantErr(t, err, fn.ErrWrite, true)
		s := must(f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))).ok(t)
		if s.FD != 3 || s.Number != 1 {
			t.Fatalf("after failed writes the receipt is %+v, want FD 3 number 1", s)
		}
		if st := must(f.drive.State(ctx)).ok(t); st.Unsent != 3 {
			t.Fatalf("failed acknowledgement took effect: %+v", st)
		}
	})

	t.Run("MemoryFull", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		f.faults.SetMemoryFull(true)
		_, err := f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))
		wantErr(t, err, fn.ErrMemoryFull, true)
		f.faults.SetMemoryFull(false)
		must(f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))).ok(t)
	})

	t.Run("Capacity", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{Limits: fn.Limits{Capacity: 10}}).drive
		for i := range 6 {
			must(d.Receipt(ctx, receipt(t, t0.Add(time.Duration(2+i)*time.Minute), 100))).ok(t)
		}
		if w := must(d.State(ctx)).ok(t).Warnings; w != 0 {
			t.Fatalf("warnings at 8 of 10: %v", w.Strings())
		}
		must(d.Receipt(ctx, receipt(t, t0.Add(9*time.Minute), 100))).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w != fn.WarnMemory90 {
			t.Fatalf("warnings at 9 of 10: %v", w.Strings())
		}
		must(d.Receipt(ctx, receipt(t, t0.Add(10*time.Minute), 100))).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w != fn.WarnMemory90 {
			t.Fatalf("warnings at 10 of 10: %v", w.Strings())
		}
		_, err := d.Receipt(ctx, receipt(t, t0.Add(11*time.Minute), 100))
		wantErr(t, err, fn.ErrMemoryFull, true)
	})

	t.Run("KeyValidity", func(t *testing.T) {
		until := t0.Add(40 * 24 * time.Hour)
		f := registered(t, fn.EmulatorConfig{Limits: fn.Limits{ValidUntil: until}})
		d := f.drive
		if st := must(d.State(ctx)).ok(t); !st.ValidUntil.Equal(until.Truncate(24*time.Hour)) || st.Warnings != 0 {
			t.Fatalf("state %+v", st)
		}
		must(d.CloseShift(ctx, fn.Doc{Time: t0.Add(2 * time.Minute), TLV: reportTLV(t, "close")})).ok(t)
		if err := d.Acknowledge(ctx, ackFor(t, nil, f.number, 3, 0, t0)); err != nil {
			t.Fatal(err)
		}
		must(d.StateReport(ctx, fn.Doc{Time: until.Add(-20 * 24 * time.Hour), TLV: reportTLV(t, "state")})).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w != fn.WarnKeyExpiring {
			t.Fatalf("warnings 20 days before the end: %v", w.Strings())
		}
		must(d.StateReport(ctx, fn.Doc{Time: until.Add(-2 * 24 * time.Hour), TLV: reportTLV(t, "state")})).ok(t)
		if w := must(d.State(ctx)).ok(t).Warnings; w != fn.WarnKeyExpiring|fn.WarnReplaceUrgent {
			t.Fatalf("warnings 2 days before the end: %v", w.Strings())
		}
		_, err := d.StateReport(ctx, fn.Doc{Time: until, TLV: reportTLV(t, "state")})
		wantErr(t, err, fn.ErrKeyExpired, true)
	})

	t.Run("ExpireKey", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		f.faults.ExpireKey()
		_, err := f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))
		wantErr(t, err, fn.ErrKeyExpired, true)
		if a := must(f.drive.Document(ctx, 2)).ok(t); a.Type != fiscal.DocShiftOpen {
			t.Fatalf("archive unreadable after the key expired: %+v", a)
		}
	})

	t.Run("SignDelay", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		f.faults.SetSignDelay(300 * time.Millisecond)
		start := time.Now()
		must(f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))).ok(t)
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Fatalf("signing took %v with a 300 ms delay", took)
		}
		f.faults.SetSignDelay(0)
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := registered(t, fn.EmulatorConfig{})
		var wg sync.WaitGroup
		fds := make(chan uint32, 40)
		for range 4 {
			wg.Go(func() {
				for range 10 {
					s, err := f.drive.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))
					if err != nil {
						t.Error(err)
						return
					}
					fds <- s.FD
				}
			})
		}
		wg.Wait()
		close(fds)
		seen := map[uint32]bool{}
		for fd := range fds {
			if seen[fd] || fd < 3 || fd > 42 {
				t.Fatalf("FD %d repeated or out of 3..42", fd)
			}
			seen[fd] = true
		}
		if len(seen) != 40 {
			t.Fatalf("%d receipts numbered", len(seen))
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		d := registered(t, fn.EmulatorConfig{}).drive
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := d.Receipt(cctx, receipt(t, t0.Add(2*time.Minute), 100))
		if !errors.Is(err, context.Canceled) || fn.IsFault(err) {
			t.Fatalf("cancelled receipt: %v", err)
		}
		if s := must(d.Receipt(ctx, receipt(t, t0.Add(2*time.Minute), 100))).ok(t); s.FD != 3 {
			t.Fatalf("receipt after a cancelled one is FD %d", s.FD)
		}
	})
}
