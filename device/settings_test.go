package device

import (
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
			return s.Register.Timezone == "Europe/Moscow" && s.Register.StopAfter == 3
		}},
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
