package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, lim Limits) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kassa.db")
	s, err := Open(path, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func body(id string) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"id":%q}`, id)) }

func ids(ds []*Doc) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return strings.Join(out, ",")
}

func TestLifecycle(t *testing.T) {
	s, path := open(t, Limits{})
	s.Accept([]NewDoc{{"a", body("a")}, {"b", body("b")}, {"a", body("a")}}, t0)
	acc, err := s.Accepted()
	if got := ids(acc); err != nil || got != "a,b" {
		t.Fatalf("accepted = %s, %v; want a,b", got, err)
	}
	led := Ledger{Shift: 1, ShiftOpen: true, LastFD: 2}
	led.ShiftTotals.Count[0] = 1
	if err := s.Fiscalize("a", Fiscal{FD: 2, FPD: 77, Shift: 1, Number: 1, Time: t0}, json.RawMessage(`{"status":"PRINTED"}`), &led, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Fiscalize("a", Fiscal{FD: 3}, nil, nil, false); err == nil {
		t.Fatal("a document was fiscalized twice")
	}
	if err := s.Fail("b", "items: empty", json.RawMessage(`{"status":"FAILED"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	un, _ := s.Unreported(0)
	if got := ids(un); got != "a,b" {
		t.Fatalf("unreported = %s, want a,b", got)
	}
	if err := s.Reported([]string{"a"}, t0); err != nil {
		t.Fatal(err)
	}
	un, _ = s.Unreported(0)
	if got := ids(un); got != "b" {
		t.Fatalf("unreported after report = %s, want b", got)
	}

	// The cloud leases a document again: it is not taken again, its result is re-reported.
	s.Accept([]NewDoc{{"a", body("a")}}, t0)
	if acc, err := s.Accepted(); err != nil || len(acc) != 0 {
		t.Fatalf("re-leased document accepted again as new: %s, %v", ids(acc), err)
	}
	un, _ = s.Unreported(0)
	if got := ids(un); got != "a,b" {
		t.Fatalf("unreported after re-lease = %s, want a,b", got)
	}

	// Survives reopening.
	s.Close()
	s2, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	d, err := s2.Get("a")
	if err != nil || d.State != Fiscalized || d.Fiscal.FD != 2 || d.Fiscal.FPD != 77 {
		t.Fatalf("after reopen: %+v, %v", d, err)
	}
	l, _ := s2.Ledger()
	if l.LastFD != 2 || l.ShiftTotals.Count[0] != 1 {
		t.Fatalf("ledger after reopen: %+v", l)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}
	// The print queued with the signature survives the restart until printed.
	if p, err := s2.Prints(); err != nil || len(p) != 1 || p[0].FD != 2 {
		t.Fatalf("print queue after reopen: %v %v", p, err)
	}
	s2.QueuePrint(Print{FD: 1, Copy: true})
	if p, _ := s2.Prints(); len(p) != 2 || p[0].FD != 1 || !p[0].Copy {
		t.Fatalf("print queue is not in document order: %v", p)
	}
	queued, _ := s2.Prints()
	for _, p := range queued {
		s2.Printed(p)
	}
	if p, _ := s2.Prints(); len(p) != 0 {
		t.Fatalf("printed documents still queued: %v", p)
	}
	if _, err := s2.Get("zzz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRequeue(t *testing.T) {
	s, _ := open(t, Limits{})
	s.Accept([]NewDoc{{"x", body("x")}}, t0)
	if err := s.Requeue("x"); err == nil {
		t.Fatal("an accepted document was requeued")
	}
	s.Fail("x", "drive refused", nil)
	s.Reported([]string{"x"}, t0)
	if err := s.Requeue("x"); err != nil {
		t.Fatal(err)
	}
	acc, _ := s.Accepted()
	if ids(acc) != "x" {
		t.Fatalf("accepted after requeue = %s", ids(acc))
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// waitOnDisk waits until onDisk says want, as a change left to the next
// write does once lag is up with no write to carry it.
func waitOnDisk(t *testing.T, onDisk func() string, want, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * lag); onDisk() != want; time.Sleep(lag / 10) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not committed on its own after %v", what, 10*lag)
		}
	}
}

// A confirmation from the cloud is committed with the next write (or on its
// own after lag); until then the document is no longer offered for
// reporting, and a crash before the commit only offers it again.
func TestReportedCommittedLazily(t *testing.T) {
	s, _ := open(t, Limits{})
	led := Ledger{Shift: 1, ShiftOpen: true}
	for i, id := range []string{"a", "b", "c"} {
		s.Accept([]NewDoc{{id, body(id)}}, t0)
		led.ShiftTotals.Count[0]++
		led.LastFD = uint32(i + 1)
		if err := s.Fiscalize(id, Fiscal{FD: uint32(i + 1), Shift: 1}, nil, &led, false); err != nil {
			t.Fatal(err)
		}
	}
	s.Reported([]string{"a", "b"}, t0)
	if un, _ := s.Unreported(10); ids(un) != "c" {
		t.Fatalf("unreported after confirming a and b: %s, want c", ids(un))
	}
	onDisk := func() string {
		t.Helper()
		cp := filepath.Join(t.TempDir(), "copy.db")
		if err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(cp, 0o600) }); err != nil {
			t.Fatal(err)
		}
		c, err := Open(cp, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		un, _ := c.Unreported(10)
		return ids(un)
	}
	if got := onDisk(); got != "a,b,c" {
		t.Fatalf("a crash before any write leaves %s unreported, want a,b,c", got)
	}
	s.Accept([]NewDoc{{"d", body("d")}}, t0)
	s.Accepted() // commits d, and any write carries the confirmations
	if got := onDisk(); got != "c" {
		t.Fatalf("after the next write the file has %s unreported, want c", got)
	}
	s.Reported([]string{"c"}, t0)
	waitOnDisk(t, onDisk, "", "the confirmation of c")
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// Documents taken from the cloud are committed, in the order taken, with the
// next write, by Accepted, or on their own after lag; a failed write keeps
// them for the one after.
func TestAcceptCommittedLazily(t *testing.T) {
	s, _ := open(t, Limits{})
	onDisk := func() string {
		t.Helper()
		var got []string
		if err := s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAccepted).ForEach(func(_, id []byte) error {
				got = append(got, string(id))
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, ",")
	}
	s.Accept([]NewDoc{{"a", body("a")}, {"b", body("b")}, {"a", body("a")}}, t0)
	if got := onDisk(); got != "" {
		t.Fatalf("taken documents committed at once: %s", got)
	}
	if n, err := s.Waiting(); err != nil || n != 2 || onDisk() != "" {
		t.Fatalf("Waiting = %d, %v with %q on disk; want 2 and nothing written", n, err, onDisk())
	}
	bad := Settlement{}
	bad.Fiscalized("zz", Fiscal{FD: 1}, nil, false) // never accepted
	if err := s.Settle(&bad); err == nil {
		t.Fatal("a settlement of an unknown document was committed")
	}
	if got := onDisk(); got != "" {
		t.Fatalf("a failed write committed %s", got)
	}
	s.Accept([]NewDoc{{"c", body("c")}, {"a", body("a")}}, t0)
	acc, err := s.Accepted()
	if err != nil || ids(acc) != "a,b,c" || onDisk() != "a,b,c" {
		t.Fatalf("Accepted = %s, %v with %s on disk; want a,b,c committed", ids(acc), err, onDisk())
	}
	s.Accept([]NewDoc{{"b", body("b")}, {"x", body("x")}}, t0) // b is held already
	if n, err := s.Waiting(); err != nil || n != 4 {
		t.Fatalf("Waiting = %d, %v; want 4", n, err)
	}
	if err := s.SetSetting("x", 1); err != nil {
		t.Fatal(err)
	}
	s.Accept([]NewDoc{{"d", body("d")}}, t0)
	if err := s.SetSetting("x", 2); err != nil || onDisk() != "a,b,c,x,d" {
		t.Fatalf("the next write left %s on disk (%v), want a,b,c,x,d", onDisk(), err)
	}
	s.Accept([]NewDoc{{"e", body("e")}}, t0)
	waitOnDisk(t, onDisk, "a,b,c,x,d,e", "e")
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// A failed document confirmed, re-queued and fiscalized again has its new
// result reported: the old confirmation does not stand for it.
func TestRequeueAfterLazyConfirmation(t *testing.T) {
	s, _ := open(t, Limits{})
	s.Accept([]NewDoc{{"x", body("x")}}, t0)
	s.Fail("x", "drive refused", nil)
	s.Reported([]string{"x"}, t0)
	if err := s.Requeue("x"); err != nil {
		t.Fatal(err)
	}
	led := Ledger{Shift: 1, ShiftOpen: true, LastFD: 1}
	if err := s.Fiscalize("x", Fiscal{FD: 1, Shift: 1}, nil, &led, false); err != nil {
		t.Fatal(err)
	}
	s.flushPending()
	if un, _ := s.Unreported(10); ids(un) != "x" {
		t.Fatalf("unreported after fiscalizing x again: %q, want x", ids(un))
	}
}

func TestPruneKeepsOpenShift(t *testing.T) {
	s, _ := open(t, Limits{KeepReported: 3})
	led := Ledger{Shift: 1, ShiftOpen: true}
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("d%d", i)
		s.Accept([]NewDoc{{id, body(id)}}, t0)
		if i == 5 {
			led = Ledger{Shift: 2, ShiftOpen: true}
		}
		shift := led.Shift
		led.ShiftTotals.Count[0]++
		led.LastFD = uint32(i)
		if err := s.Fiscalize(id, Fiscal{FD: uint32(i), Shift: shift}, nil, &led, false); err != nil {
			t.Fatal(err)
		}
		if err := s.Reported([]string{id}, t0); err != nil {
			t.Fatal(err)
		}
	}
	s.flushPending() // the last confirmation, which no write has carried yet
	all, _ := s.Docs(nil)
	if got := ids(all); got != "d4,d5,d6" {
		t.Fatalf("after pruning to 3: %s", got)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestEventsRing(t *testing.T) {
	s, _ := open(t, Limits{KeepEvents: 5})
	for i := 0; i < 12; i++ {
		if err := s.Log(Event{At: t0, Kind: "test", Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, _ := s.Events(100)
	var got []string
	for _, e := range ev {
		got = append(got, e.Text)
	}
	if strings.Join(got, ",") != "7,8,9,10,11" {
		t.Fatalf("events = %v, want the last five", got)
	}
}

func TestCheckFindsBrokenInvariants(t *testing.T) {
	cases := map[string]func(tx *bolt.Tx) error{
		"accepted index to a fiscalized doc": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAccepted).Put(seqKey(1), []byte("a"))
		},
		"dangling index": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketUnreported).Put(seqKey(99), []byte("ghost"))
		},
		"duplicate FD": func(tx *bolt.Tx) error {
			d := &Doc{ID: "c", Seq: 50, State: Fiscalized, Fiscal: &Fiscal{FD: 1, Shift: 1}}
			if err := putDoc(tx, d); err != nil {
				return err
			}
			return tx.Bucket(bucketUnreported).Put(seqKey(50), []byte("c"))
		},
		"reported count off": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyReportedN, seqKey(7))
		},
		"ledger off by one": func(tx *bolt.Tx) error {
			l := Ledger{Shift: 1, ShiftOpen: true}
			l.ShiftTotals.Count[0] = 2
			return putJSON(tx.Bucket(bucketMeta), keyLedger, &l)
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			s, _ := open(t, Limits{})
			s.Accept([]NewDoc{{"a", body("a")}}, t0)
			led := Ledger{Shift: 1, ShiftOpen: true}
			led.ShiftTotals.Count[0] = 1
			s.Fiscalize("a", Fiscal{FD: 1, Shift: 1}, nil, &led, false)
			if err := s.Check(); err != nil {
				t.Fatalf("healthy store fails Check: %v", err)
			}
			if err := s.db.Update(breakIt); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err == nil {
				t.Fatal("Check passed a broken store")
			}
		})
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	s, path := open(t, Limits{})
	s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	s.Close()
	if _, err := Open(path, Limits{}); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("Open of a newer schema = %v, want a schema error", err)
	}
}

// A schema-1 file has no count of its reported index: Open counts it once.
func TestMigratesReportedCount(t *testing.T) {
	s, path := open(t, Limits{})
	for _, id := range []string{"a", "b", "c"} {
		s.Accept([]NewDoc{{id, body(id)}}, t0)
		s.Fail(id, "refused", nil)
	}
	if err := s.Reported([]string{"a", "b", "c"}, t0); err != nil {
		t.Fatal(err)
	}
	s.flushPending()
	s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		meta.Delete(keyReportedN)
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, 1))
	})
	s.Close()
	s, err := Open(path, Limits{KeepReported: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.Accept([]NewDoc{{"d", body("d")}}, t0)
	s.Fail("d", "refused", nil)
	if err := s.Reported([]string{"d"}, t0); err != nil {
		t.Fatal(err)
	}
	s.flushPending()
	if all, _ := s.Docs(nil); ids(all) != "c,d" {
		t.Fatalf("after pruning the migrated file to 2: %s", ids(all))
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// A schema-2 file keeps each document's body inside its record: Open moves
// the bodies to their own bucket and the documents read as before.
func TestMigratesBodies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kassa.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketDocs, bucketAccepted, bucketUnreported, bucketReported, bucketEvents} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, 2))
		meta.Put(keyReportedN, seqKey(0))
		meta.Put(keySeq, seqKey(1))
		tx.Bucket(bucketAccepted).Put(seqKey(1), []byte("old"))
		return tx.Bucket(bucketDocs).Put([]byte("old"), []byte(`{"id":"old","seq":1,"state":"accepted","body":{"id":"old"},"acceptedAt":"2026-11-23T10:00:00Z","reported":false}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acc, err := s.Accepted()
	if err != nil || ids(acc) != "old" || string(acc[0].Body) != `{"id":"old"}` {
		t.Fatalf("accepted after the migration: %v %v", acc, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if raw := tx.Bucket(bucketDocs).Get([]byte("old")); bytes.Contains(raw, []byte(`"body"`)) {
			t.Errorf("the record still holds its body: %s", raw)
		}
		return nil
	})
}

func BenchmarkFiscalize(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kassa.db")
	s, err := Open(path, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	led := Ledger{Shift: 1, ShiftOpen: true}
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprint(i)
		s.Accept([]NewDoc{{id, body(id)}}, t0)
		led.ShiftTotals.Count[0]++
		if err := s.Fiscalize(id, Fiscal{FD: uint32(i + 1), Shift: 1}, nil, &led, false); err != nil {
			b.Fatal(err)
		}
	}
}

// A settlement commits a run of outcomes and the ledger together, or nothing.
func TestSettleAllOrNothing(t *testing.T) {
	s, _ := open(t, Limits{})
	s.Accept([]NewDoc{{"a", body("a")}, {"b", body("b")}, {"c", body("c")}}, t0)
	if _, err := s.Accepted(); err != nil {
		t.Fatal(err)
	}
	led := Ledger{Shift: 1, ShiftOpen: true, LastFD: 3}
	led.ShiftTotals.Count[0] = 2
	bad := Settlement{Ledger: &led}
	bad.Fiscalized("a", Fiscal{FD: 2, Shift: 1}, nil, true)
	bad.Fiscalized("zz", Fiscal{FD: 3, Shift: 1}, nil, false) // never accepted
	if err := s.Settle(&bad); err == nil {
		t.Fatal("a settlement with an unknown document was committed")
	}
	if acc, _ := s.Accepted(); ids(acc) != "a,b,c" {
		t.Fatalf("after a refused settlement accepted = %s, want a,b,c", ids(acc))
	}
	if got, _ := s.Ledger(); got.LastFD != 0 {
		t.Fatalf("a refused settlement wrote the ledger: LastFD %d", got.LastFD)
	}
	if p, _ := s.Prints(); len(p) != 0 {
		t.Fatalf("a refused settlement queued %d prints", len(p))
	}

	good := Settlement{Ledger: &led}
	good.Fiscalized("a", Fiscal{FD: 2, Shift: 1}, json.RawMessage(`{"status":"PRINTED"}`), true)
	good.Failed("b", "items: empty", json.RawMessage(`{"status":"FAILED"}`))
	good.Fiscalized("c", Fiscal{FD: 3, Shift: 1}, nil, false)
	if good.Len() != 3 {
		t.Fatalf("Len = %d, want 3", good.Len())
	}
	if err := s.Settle(&good); err != nil {
		t.Fatal(err)
	}
	if acc, _ := s.Accepted(); len(acc) != 0 {
		t.Fatalf("accepted after settling = %s", ids(acc))
	}
	if un, _ := s.Unreported(0); ids(un) != "a,b,c" {
		t.Fatalf("unreported = %s, want a,b,c", ids(un))
	}
	if d, _ := s.Get("b"); d.State != Failed || d.Error != "items: empty" {
		t.Fatalf("b = %s %q", d.State, d.Error)
	}
	if p, _ := s.Prints(); len(p) != 1 || p[0].FD != 2 {
		t.Fatalf("prints = %+v, want FD 2", p)
	}
	if got, _ := s.Ledger(); got.LastFD != 3 {
		t.Fatalf("ledger LastFD = %d, want 3", got.LastFD)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(&good); err == nil {
		t.Fatal("a settlement was committed twice")
	}
}

// A settlement says whether it queues anything for the printer.
func TestSettlementPrints(t *testing.T) {
	var st Settlement
	st.Failed("a", "refused", nil)
	st.Fiscalized("b", Fiscal{FD: 1}, nil, false)
	if st.Prints() {
		t.Fatal("a settlement with nothing to print says it prints")
	}
	st.Fiscalized("c", Fiscal{FD: 2}, nil, true)
	if !st.Prints() {
		t.Fatal("a settlement with a receipt to print says it does not")
	}
}

// A copy asked for while its original is printing is a page of its own: the
// original's Printed leaves it queued, after the original.
func TestCopyQueuedWhileOriginalPrints(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "kassa.db"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.QueuePrint(Print{FD: 7}); err != nil {
		t.Fatal(err)
	}
	printing, _ := s.Prints() // the print loop takes the original…
	s.QueuePrint(Print{FD: 7, Copy: true})
	s.QueuePrint(Print{FD: 7, Copy: true}) // …a technician asks for two copies meanwhile
	if err := s.Printed(printing[0]); err != nil {
		t.Fatal(err)
	}
	left, _ := s.Prints()
	if len(left) != 2 || left[0].FD != 7 || !left[0].Copy || !left[1].Copy {
		t.Fatalf("after the original printed: %+v, want the two copies", left)
	}
	s.Printed(left[0])
	if rest, _ := s.Prints(); len(rest) != 1 || !rest[0].Copy {
		t.Fatalf("after a copy printed: %+v, want the other copy", rest)
	}
}
