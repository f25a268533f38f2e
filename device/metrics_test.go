package device

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/store"
)

// sampleLine is one sample of the Prometheus text format (version 0.0.4):
// a metric name, labels in braces, a value.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[ \t]*[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$`)

// scrape GETs /metrics and parses it, failing on any line that is not of the
// text format or a sample whose family's TYPE, when given, comes after it.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			if samples[f[2]] != 0 || typed[f[2]] {
				t.Errorf("TYPE %s twice, or after its samples", f[2])
			}
			typed[f[2]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a sample of the text format: %q", line)
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("%q: value: %v", line, err)
		}
		samples[m[1]+m[2]] = v
	}
	return samples
}

func healthzOf(t *testing.T, url string) (int, healthz) {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthz
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, b)
	}
	return resp.StatusCode, h
}

// TestMetricsEndpoint scrapes the register's endpoint over HTTP as Prometheus
// would, through a document's life: waiting for the drive, then for the OFD
// with its age and the shift's growing on the register's clock; and /healthz
// turns 503 when the register stops.
func TestMetricsEndpoint(t *testing.T) {
	g := newRig(t, Config{})
	srv := httptest.NewServer(g.rt.MetricsHandler())
	defer srv.Close()

	m := scrape(t, srv.URL)
	want := map[string]float64{
		`kassa_build_info{version="0.1.0"}`: 1, "kassa_documents_waiting_for_drive": 0,
		"kassa_documents_waiting_for_ofd":     1, // the registration: the rig has no OFD sender
		"kassa_ofd_oldest_unsent_age_seconds": 0, "kassa_shift_open": 0,
		"kassa_drive_ok": 1, "kassa_printer_present": 0, "kassa_stopped": 0, "kassa_pipeline_stalled_seconds": 0,
	}
	for name, v := range want {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v); want %v", name, got, ok, v)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if code, h := healthzOf(t, srv.URL); code != 200 || !h.OK || h.Health.Drive.Phase == "" {
		t.Fatalf("/healthz: %d %+v", code, h)
	}

	g.st.Accept([]store.NewDoc{{ID: "m1", Body: mustJSON(devicetest.Sale("m1", "SALE", "CARD", 10))}}, g.clock())
	if got := scrape(t, srv.URL)["kassa_documents_waiting_for_drive"]; got != 1 {
		t.Errorf("one document accepted: waiting_for_drive %v", got)
	}
	g.rt.drain(g.ctx)
	g.advance(90 * time.Second)
	m = scrape(t, srv.URL)
	for name, v := range map[string]float64{
		"kassa_documents_waiting_for_drive": 0, "kassa_documents_waiting_for_ofd": 3, // and the shift's opening and the receipt
		"kassa_ofd_oldest_unsent_age_seconds": 90, "kassa_shift_open": 1, "kassa_shift_age_seconds": 90,
	} {
		if m[name] != v {
			t.Errorf("after a receipt and 90 s: %s = %v; want %v", name, m[name], v)
		}
	}
	if m["kassa_drive_last_fd"] < 2 {
		t.Errorf("kassa_drive_last_fd %v", m["kassa_drive_last_fd"])
	}

	g.rt.stop(stopDrive, "drive error: a drill")
	if m := scrape(t, srv.URL); m["kassa_stopped"] != 1 {
		t.Errorf("stopped: kassa_stopped %v", m["kassa_stopped"])
	}
	if code, h := healthzOf(t, srv.URL); code != 503 || h.OK || len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "a drill") {
		t.Fatalf("/healthz of a stopped register: %d %+v", code, h)
	}
}
