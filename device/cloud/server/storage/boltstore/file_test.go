package boltstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/boltstore"
	"github.com/openkassa/kassa/store/boltfile"
	bolt "go.etcd.io/bbolt"
)

var at = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// stored returns the document's record as the file holds it, and its body.
func stored(t *testing.T, s *boltstore.Store, pointID, id string) (record, body []byte) {
	t.Helper()
	key := []byte(pointID + "\x00" + id)
	err := s.DB().View(func(tx *bolt.Tx) error {
		record = bytes.Clone(tx.Bucket([]byte("docs")).Get(key))
		body = bytes.Clone(tx.Bucket([]byte("bodies")).Get(key))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return record, body
}

func openFile(t *testing.T, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const posted = `{"id":"cb","docType":"SALE","inventPositions":[{"name":"Чайник","price":2035,"quantity":1}],"moneyPositions":[{"paymentType":"CARD","sum":2035}]}`

func post(t *testing.T, s storage.Store, id, body, responseURL string) {
	t.Helper()
	if _, _, err := s.PostDocument(context.Background(), storage.NewDocument{PointID: "p1", ID: id, Hash: "h-" + id,
		Body: []byte(body), ResponseURL: responseURL, Message: "queued", At: at}); err != nil {
		t.Fatal(err)
	}
}

func printed(d *storage.Document) {
	d.State, d.Changed, d.Fiscalized = cloud.Printed, at, at
	d.FiscalInfo = &cloud.FiscalInfo{FNNumber: "D1", FNDocNumber: 11, ShiftNumber: 1, Date: at, Sum: 203500, CheckType: "SALE"}
}

// Every change of a document's state leaves its body as it was posted, and
// its record without it.
func TestBodyThroughStates(t *testing.T) {
	ctx := context.Background()
	s := openFile(t, filepath.Join(t.TempDir(), "cloud.db"))
	check := func(stage string) {
		t.Helper()
		record, body := stored(t, s, "p1", "cb")
		if string(body) != posted {
			t.Errorf("%s: body\n%s\nwant\n%s", stage, body, posted)
		}
		if record == nil || bytes.Contains(record, []byte(`"body"`)) || bytes.Contains(record, []byte("Чайник")) {
			t.Errorf("%s: record %s", stage, record)
		}
	}
	post(t, s, "cb", posted, "http://shop.example/cb")
	check("queued")
	post(t, s, "cb", posted, "http://shop.example/cb")
	check("posted again")
	l, err := s.Lease(ctx, storage.LeaseRequest{PointID: "p1", Owner: "r1", Max: 1, Now: at, Until: at.Add(time.Minute)}, "taken")
	if err != nil || len(l.Documents) != 1 || string(l.Documents[0].Body) != posted {
		t.Fatalf("lease: %+v %v", l, err)
	}
	check("leased")
	if _, err := s.Report(ctx, "p1", []string{"cb"}, at, func(_ int, d *storage.Document) { printed(d) }); err != nil {
		t.Fatal(err)
	}
	check("printed")
	jobs, err := s.TakeCallbacks(ctx, "n1", at, at, at.Add(time.Minute), 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("callbacks: %+v %v", jobs, err)
	}
	if _, err := s.RefuseCallback(ctx, jobs[0], storage.Refusal{Reason: "busy", Next: at, Hold: at.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SettleCallback(ctx, jobs[0], true, func(d *storage.Document) { d.State = cloud.Completed }); err != nil {
		t.Fatal(err)
	}
	check("completed after a refused callback")
	if n, err := s.MarkDelivered(ctx, "p1", "D1", 11, at); err != nil || n != 1 {
		t.Fatalf("delivered: %d %v", n, err)
	}
	check("delivered")
}

// A file written before bodies had a bucket of their own (schema 1, no schema
// key) keeps each body inside its record; Open moves them out.
func TestSchema1BodiesMoved(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cloud.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	waiting := strings.Replace(posted, `"cb"`, `"waiting"`, 1)
	post(t, s, "done", posted, "")
	post(t, s, "waiting", waiting, "")
	if _, err := s.Lease(ctx, storage.LeaseRequest{PointID: "p1", Owner: "r1", Max: 1, Now: at, Until: at.Add(time.Minute)}, "taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Report(ctx, "p1", []string{"done"}, at, func(_ int, d *storage.Document) { printed(d); d.State = cloud.Completed }); err != nil {
		t.Fatal(err)
	}
	// Write the file as schema 1 had it.
	err = s.DB().Update(func(tx *bolt.Tx) error {
		docs, bodies := tx.Bucket([]byte("docs")), tx.Bucket([]byte("bodies"))
		for _, id := range []string{"done", "waiting"} {
			key := []byte("p1\x00" + id)
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(docs.Get(key), &rec); err != nil {
				return err
			}
			rec["body"] = bytes.Clone(bodies.Get(key))
			data, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := docs.Put(key, data); err != nil {
				return err
			}
			if err := bodies.Delete(key); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Delete([]byte("schema"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if record, body := stored(t, s, "p1", "waiting"); body != nil || !bytes.Contains(record, []byte(`"body"`)) {
		t.Fatalf("not schema 1: record %s, body %s", record, body)
	}
	s.Close()
	s = openFile(t, path)
	for id, want := range map[string]string{"done": posted, "waiting": waiting} {
		record, body := stored(t, s, "p1", id)
		if string(body) != want {
			t.Errorf("%s: body after Open\n%s\nwant\n%s", id, body, want)
		}
		if bytes.Contains(record, []byte(`"body"`)) {
			t.Errorf("%s: record after Open %s", id, record)
		}
		if b, err := s.DocumentBody(ctx, "p1", id); err != nil || string(b) != want {
			t.Errorf("%s: DocumentBody after Open %s, %v", id, b, err)
		}
	}
	if d, err := s.Document(ctx, "p1", "done"); err != nil || d.State != cloud.Completed || d.FiscalInfo == nil || d.FiscalInfo.FNDocNumber != 11 {
		t.Fatalf("fiscalized document after Open: %+v %v", d, err)
	}
	if _, created, err := s.PostDocument(ctx, storage.NewDocument{PointID: "p1", ID: "waiting", Hash: "h-waiting", Body: []byte(waiting), At: at}); err != nil || created {
		t.Fatalf("re-post of a migrated document: created %v, %v", created, err)
	}
	l, err := s.Lease(ctx, storage.LeaseRequest{PointID: "p1", Owner: "r1", Max: 5, Now: at.Add(time.Hour), Until: at.Add(2 * time.Hour)}, "taken")
	if err != nil || len(l.Documents) != 1 || l.Documents[0].ID != "waiting" || string(l.Documents[0].Body) != waiting {
		t.Fatalf("lease after Open: %+v %v", l, err)
	}
	var schema []byte
	s.DB().View(func(tx *bolt.Tx) error {
		schema = bytes.Clone(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return nil
	})
	if string(schema) != "2" {
		t.Errorf("schema %q after Open, want 2", schema)
	}
}

// TestDamagedFile: a cloud.db cut short, or from a newer build, is refused
// with an error naming it; a cut file used to serve a while and then fault.
func TestDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		id := "doc-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		post(t, s, id, strings.Replace(posted, `"cb"`, `"`+id+`"`, 1), "")
	}
	s.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = boltstore.Open(path)
	if !errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("open of a cut file: %v, want a damaged-file error naming %s", err, path)
	}

	// A newer schema is not ours to run on.
	newer := filepath.Join(t.TempDir(), "cloud.db")
	if err := os.WriteFile(newer, good, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(newer, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := boltstore.Open(newer); err == nil || !strings.Contains(err.Error(), "schema 99") {
		t.Fatalf("open of a newer file: %v", err)
	}
}

// A register's record read again is the stored one: what a caller changed in
// the last one read stays with it (the store keeps decoded records to save
// decoding them again), and a heartbeat's change shows.
func TestRegisterReadsDoNotLeak(t *testing.T) {
	ctx := context.Background()
	s := openFile(t, filepath.Join(t.TempDir(), "cloud.db"))
	if err := s.BindRegister(ctx, storage.Register{ID: "r1", PointID: "p1", BoundAt: at}); err != nil {
		t.Fatal(err)
	}
	read := func() storage.Register {
		t.Helper()
		reg, err := s.Register(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	h := cloud.Health{Drive: cloud.DriveHealth{Warnings: []string{"archive 90% full"}}}
	if _, _, err := s.RecordHeartbeat(ctx, storage.Heartbeat{RegisterID: "r1", Health: h, At: at, Stale: time.Minute}); err != nil {
		t.Fatal(err)
	}
	reg := read()
	if reg.Health == nil || reg.Health.Stopped || len(reg.Health.Drive.Warnings) != 1 {
		t.Fatalf("after a heartbeat: %+v", reg.Health)
	}
	reg.Health.Stopped, reg.Health.Drive.Warnings[0], reg.PointID = true, "changed", "changed"
	if again := read(); again.Health.Stopped || again.Health.Drive.Warnings[0] != "archive 90% full" || again.PointID != "p1" {
		t.Fatalf("a caller's change leaked into the next read: %+v %+v", again, again.Health)
	}
	h.Stopped, h.StopReason = true, "drive error"
	if _, _, err := s.RecordHeartbeat(ctx, storage.Heartbeat{RegisterID: "r1", Health: h, At: at.Add(time.Second), Stale: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if reg := read(); !reg.Health.Stopped || reg.Health.StopReason != "drive error" || !reg.LastSeen.Equal(at.Add(time.Second)) {
		t.Fatalf("after a second heartbeat: %+v %+v", reg, reg.Health)
	}
}

// Callback values written before jobs had a due time and a Seq (nothing, or
// the refusals alone) read as jobs due since ever.
func TestOldCallbackValues(t *testing.T) {
	ctx := context.Background()
	s := openFile(t, filepath.Join(t.TempDir(), "cloud.db"))
	for _, id := range []string{"fresh", "refused"} {
		post(t, s, id, strings.Replace(posted, `"cb"`, `"`+id+`"`, 1), "http://shop.example/"+id)
	}
	if _, err := s.Report(ctx, "p1", []string{"fresh", "refused"}, at, func(_ int, d *storage.Document) { printed(d) }); err != nil {
		t.Fatal(err)
	}
	err := s.DB().Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket([]byte("callbacks"))
		return errors.Join(cb.Put([]byte("p1\x00fresh"), nil), cb.Put([]byte("p1\x00refused"), []byte{0, 0, 0, 7}))
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.TakeCallbacks(ctx, "n1", at.Add(-time.Hour), at, at.Add(time.Minute), 10)
	if err != nil || len(jobs) != 2 || jobs[0].Seq != 0 || !jobs[0].Due.IsZero() {
		t.Fatalf("old jobs: %+v, %v", jobs, err)
	}
	refused, err := s.RefusedCallbacks(ctx, "p1", 7)
	if err != nil || len(refused) != 1 || refused[0].ID != "refused" {
		t.Fatalf("refused 7 times: %+v, %v", refused, err)
	}
	for _, j := range jobs {
		if _, err := s.SettleCallback(ctx, j, true, nil); err != nil {
			t.Fatalf("settling old job %s: %v", j.ID, err)
		}
	}
}
