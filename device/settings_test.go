package device

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSettings(t *testing.T) {
	cases := []struct {
		name, file, err string
		check           func(Settings) bool
	}{
		{"durations as text and seconds", `{"register":{"shiftMaxAge":"12h"},"cloud":{"pollInterval":2.5}}`, "",
			func(s Settings) bool {
				return s.Register.ShiftMaxAge.Duration == 12*time.Hour && s.Cloud.PollInterval.Duration == 2500*time.Millisecond
			}},
		{"long-poll off", `{"cloud":{"longPoll":false}}`, "", func(s Settings) bool { return s.Cloud.LongPoll != nil && !*s.Cloud.LongPoll }},
		{"typo is an error", `{"register":{"stopAfer":5}}`, "stopAfer", nil},
		{"bad duration", `{"register":{"shiftMaxAge":"soon"}}`, "soon", nil},
		{"the documented example loads", exampleFromDocs(t), "", func(s Settings) bool {
			return s.Register.Timezone == "Europe/Moscow" && s.Register.StopAfter == 3 && s.Log.Format == "json" &&
				s.Metrics.Addr == "127.0.0.1:9780"
		}},
		{"log as the level alone", `{"log":"debug"}`, "", func(s Settings) bool { return s.Log == LogSettings{Level: "debug"} }},
		{"log as level and format", `{"log":{"level":"warn","format":"json"}}`, "",
			func(s Settings) bool { return s.Log == LogSettings{Level: "warn", Format: "json"} }},
		{"a typo in log is an error", `{"log":{"formt":"json"}}`, "formt", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kassa.json")
			os.WriteFile(path, []byte(c.file), 0o600)
			s, err := LoadSettings(path)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one naming %q", err, c.err)
				}
				return
			}
			if err != nil || !c.check(s) {
				t.Fatalf("%+v, %v", s, err)
			}
		})
	}
}

// exampleFromDocs is the JSON example of docs/config.md, so the documentation cannot drift.
func exampleFromDocs(t *testing.T) string {
	b, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```json\n")
	example, _, _ := strings.Cut(rest, "```")
	return example
}

// TestNewLogger: log.format json writes one JSON object a line, with the
// level and the message under slog's keys; text and the level keep their ways.
func TestNewLogger(t *testing.T) {
	var b strings.Builder
	log, err := NewLogger(&b, LogSettings{Level: "info", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("not shown")
	log.Info("receipt signed", "fd", 7, "id", "order-1")
	var line map[string]any
	if err := json.Unmarshal([]byte(b.String()), &line); err != nil {
		t.Fatalf("%q: %v", b.String(), err)
	}
	if line["level"] != "INFO" || line["msg"] != "receipt signed" || line["fd"] != 7.0 || line["id"] != "order-1" || line["time"] == nil {
		t.Errorf("JSON line %v", line)
	}
	b.Reset()
	if log, err = NewLogger(&b, LogSettings{}); err != nil {
		t.Fatal(err)
	}
	log.Info("x", "k", "v")
	if got := b.String(); !strings.Contains(got, "level=INFO msg=x k=v") {
		t.Errorf("text line %q", got)
	}
	for _, s := range []LogSettings{{Format: "xml"}, {Level: "loud"}} {
		if _, err := NewLogger(&b, s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}
