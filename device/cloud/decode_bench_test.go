package cloud

import (
	"encoding/json"
	"testing"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// BenchmarkDocumentDecode is the register's decoding of one shop document, as
// the pipeline does it: the document's own decoder on the stored body.
func BenchmarkDocumentDecode(b *testing.B) {
	body := cloudtest.Doc(nil)
	b.ReportAllocs()
	for b.Loop() {
		var d Document
		if err := d.UnmarshalJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDocumentUnmarshal is the same through encoding/json, which first
// scans the whole body to find the value's end.
func BenchmarkDocumentUnmarshal(b *testing.B) {
	body := cloudtest.Doc(nil)
	b.ReportAllocs()
	for b.Loop() {
		var d Document
		if err := json.Unmarshal(body, &d); err != nil {
			b.Fatal(err)
		}
	}
}
