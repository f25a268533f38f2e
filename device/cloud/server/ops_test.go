package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

func (f *fixture) get(path string) (int, string) {
	f.t.Helper()
	resp, err := http.Get(f.http.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /metrics counts a document through its states, the lease that took it and
// the requests by route; /readyz follows the store.
func TestOpsEndpoints(t *testing.T) {
	f := newFixture(t, Config{})
	if code, body := f.get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _ := f.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz: %d", code)
	}
	f.post(withID("m1"))
	ctx := context.Background()
	c := f.client()
	leases, err := c.Lease(ctx, time.Second, 10)
	if err != nil || len(leases) != 1 {
		t.Fatalf("lease: %v, %d", err, len(leases))
	}
	if err := c.Report(ctx, []cloud.Result{{ID: "m1", Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	_, body := f.get("/metrics")
	for _, want := range []string{
		`kassa_cloud_documents_total{state="QUEUED"} 1`,
		`kassa_cloud_documents_total{state="PENDING"} 1`,
		`kassa_cloud_documents_total{state="COMPLETED"} 1`,
		`kassa_cloud_lease_duration_seconds_count 1`,
		`kassa_cloud_http_request_duration_seconds_count{code="200",route="POST /api/fn/v2/doc"} 1`,
		`kassa_cloud_http_request_duration_seconds_count{code="200",route="GET /readyz"} 1`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	f.srv.store.Close()
	if code, _ := f.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the store closed: %d, want 503", code)
	}
	if code, _ := f.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz with the store closed: %d, want 200", code)
	}
}
