package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// stored returns the document's record as the file holds it, and its body.
func (f *fixture) stored(id string) (record, body []byte) {
	f.t.Helper()
	key := docKey(f.sb.RetailPointID, id)
	err := f.srv.db.View(func(tx *bolt.Tx) error {
		record = bytes.Clone(tx.Bucket(bucketDocs).Get(key))
		body = bytes.Clone(tx.Bucket(bucketBodies).Get(key))
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return record, body
}

// normalized is a shop's document as the cloud keeps and leases it.
func normalized(t *testing.T, posted []byte) []byte {
	t.Helper()
	var d cloud.Document
	if err := json.Unmarshal(posted, &d); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every change of a document's state leaves its body as it was posted, and
// its record without it.
func TestBodyThroughStates(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	f := newFixture(t, Config{CallbackInitial: 10 * time.Millisecond, CallbackMax: 20 * time.Millisecond})
	posted := cloudtest.Doc(func(m map[string]any) { m["id"] = "cb"; m["responseURL"] = receiver.URL })
	want := normalized(t, posted)
	check := func(stage string) {
		t.Helper()
		record, body := f.stored("cb")
		if !bytes.Equal(body, want) {
			t.Errorf("%s: body\n%s\nwant\n%s", stage, body, want)
		}
		if record == nil || bytes.Contains(record, []byte(`"body"`)) || bytes.Contains(record, []byte("Чайник")) {
			t.Errorf("%s: record %s", stage, record)
		}
	}
	f.post(posted)
	check("queued")
	f.post(posted) // a re-post of the same document changes nothing
	check("posted again")
	ctx := context.Background()
	c := f.client()
	leases, err := c.Lease(ctx, 0, 1)
	if err != nil || len(leases) != 1 || !bytes.Equal(leases[0].Document, want) {
		t.Fatalf("lease: %+v %v", leases, err)
	}
	check("leased")
	if err := c.Report(ctx, []cloud.Result{{ID: "cb", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	cloudtest.WaitFor(t, func() bool { return f.status("cb").Status == cloud.Completed })
	if hits.Load() != 2 {
		t.Fatalf("%d callback attempts, want 2", hits.Load())
	}
	check("completed after a refused callback")
	h := health(f.clock.Now())
	h.OFDAckedThrough = 11
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	if !f.status("cb").OFDDelivered {
		t.Fatal("not delivered after the OFD's acknowledgement")
	}
	check("delivered")

	f.post(withID("bad"))
	if _, err := c.Lease(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(ctx, []cloud.Result{{ID: "bad", Status: cloud.Failed, Message: "drive error"}}); err != nil {
		t.Fatal(err)
	}
	if code, data := f.shop("PUT", "/api/fn/v1/doc/bad/re-queue", nil); code != http.StatusOK {
		t.Fatalf("re-queue: HTTP %d %s", code, data)
	}
	leases, err = c.Lease(ctx, 0, 1)
	if err != nil || len(leases) != 1 || !bytes.Equal(leases[0].Document, normalized(t, withID("bad"))) {
		t.Fatalf("lease after re-queue: %+v %v", leases, err)
	}
}

// A file written before bodies had a bucket of their own (schema 1, no schema
// key) keeps each body inside its record; Open moves them out.
func TestSchema1BodiesMoved(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	ctx := context.Background()
	f.post(withID("done"))
	f.fiscalize("done", 11, 203500)
	waiting := cloudtest.Doc(func(m map[string]any) { m["id"] = "waiting"; m["textToPrint"] = "Спасибо!" })
	f.post(waiting)
	// Write the file as schema 1 had it.
	err := f.srv.db.Update(func(tx *bolt.Tx) error {
		docs, bodies := tx.Bucket(bucketDocs), tx.Bucket(bucketBodies)
		for _, id := range []string{"done", "waiting"} {
			key := docKey(f.sb.RetailPointID, id)
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(docs.Get(key), &rec); err != nil {
				return err
			}
			rec["body"] = bytes.Clone(bodies.Get(key))
			if err := putJSON(docs, key, rec); err != nil {
				return err
			}
			if err := bodies.Delete(key); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keySchema)
	})
	if err != nil {
		t.Fatal(err)
	}
	if record, body := f.stored("waiting"); body != nil || !bytes.Contains(record, []byte(`"body"`)) {
		t.Fatalf("not schema 1: record %s, body %s", record, body)
	}
	f.close()
	f.open(Config{Dir: f.dir, Clock: f.clock.Now, PasswordCost: bcrypt.MinCost})
	for id, posted := range map[string][]byte{"done": withID("done"), "waiting": waiting} {
		record, body := f.stored(id)
		if want := normalized(t, posted); !bytes.Equal(body, want) {
			t.Errorf("%s: body after Open\n%s\nwant\n%s", id, body, want)
		}
		if bytes.Contains(record, []byte(`"body"`)) {
			t.Errorf("%s: record after Open %s", id, record)
		}
	}
	if st := f.status("done"); st.Status != cloud.Completed || st.FiscalInfo == nil || st.FiscalInfo.FNDocNumber != 11 {
		t.Fatalf("fiscalized document after Open: %+v", st)
	}
	if code, _ := f.shop("POST", "/api/fn/v2/doc", waiting); code != http.StatusOK {
		t.Fatalf("re-post of a migrated document: HTTP %d", code)
	}
	leases, err := f.client().Lease(ctx, 0, 5)
	if err != nil || len(leases) != 1 || leases[0].ID != "waiting" || !strings.Contains(string(leases[0].Document), "Спасибо!") {
		t.Fatalf("lease after Open: %+v %v", leases, err)
	}
	o := f.owner()
	o.mustLogin()
	if _, body := o.get("/cabinet/documents/" + f.sb.RetailPointID + "/done"); !strings.Contains(body, "Чайник") {
		t.Error("the cabinet does not lay out a migrated document's receipt")
	}
	var schema []byte
	f.srv.db.View(func(tx *bolt.Tx) error {
		schema = bytes.Clone(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	if string(schema) != "2" {
		t.Errorf("schema %q after Open, want 2", schema)
	}
}
