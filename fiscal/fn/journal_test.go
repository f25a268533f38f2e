package fn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func writeRecords(t *testing.T, j *journal, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		state := fmt.Appendf(nil, `{"seq":%03d}`, seq)
		if err := j.write(seq, uint32(seq), state, bytes.Repeat([]byte{byte(seq)}, 3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.sync(); err != nil {
		t.Fatal(err)
	}
}

func reopen(t *testing.T, path string) []journalRecord {
	t.Helper()
	j, recs, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.close()
	return recs
}

func seqs(recs []journalRecord) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.seq)
	}
	return out
}

func TestJournalRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fn.journal")
	j, recs, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	if len(recs) != 0 {
		t.Fatalf("a new journal holds %d records", len(recs))
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != journalSize {
		t.Fatalf("new journal: %v, %v; want %d zero bytes", fi, err, journalSize)
	}
	writeRecords(t, j, 1, 5)
	recs = reopen(t, path)
	if got := fmt.Sprint(seqs(recs)); got != "[1 2 3 4 5]" {
		t.Fatalf("records %s, want [1 2 3 4 5]", got)
	}
	r := recs[3]
	if r.fd != 4 || string(r.state) != `{"seq":004}` || !bytes.Equal(r.rec, []byte{4, 4, 4}) {
		t.Fatalf("record 4: fd %d, state %s, rec %v", r.fd, r.state, r.rec)
	}

	// After a checkpoint the next records overwrite the first ones, of the
	// same size here, so the older ones behind them still decode: replay
	// tells them apart by their sequence.
	j.reset()
	writeRecords(t, j, 6, 7)
	if got := fmt.Sprint(seqs(reopen(t, path))); got != "[6 7 3 4 5]" {
		t.Fatalf("after a reset: records %s, want [6 7 3 4 5]", got)
	}

	// A torn record ends the journal there.
	writeRecords(t, j, 8, 8)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, j.off-1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := fmt.Sprint(seqs(reopen(t, path))); got != "[6 7]" {
		t.Fatalf("with record 8 torn: records %s, want [6 7]", got)
	}
}

func TestJournalFull(t *testing.T) {
	j, _, err := openJournal(filepath.Join(t.TempDir(), "fn.journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	big := make([]byte, journalSize/3)
	for i := range 2 {
		if err := j.write(uint64(i+1), 0, nil, big); err != nil {
			t.Fatal(err)
		}
	}
	if j.fits(nil, big) {
		t.Fatal("a third of the journal fits after two thirds and two headers")
	}
	if err := j.write(3, 0, nil, big); err != errJournalFull {
		t.Fatalf("write to a full journal: %v, want errJournalFull", err)
	}
}

func FuzzDecodeJournal(f *testing.F) {
	path := filepath.Join(f.TempDir(), "fn.journal")
	j, _, err := openJournal(path)
	if err != nil {
		f.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := j.write(seq, uint32(seq), []byte(`{"seq":1}`), []byte("record")); err != nil {
			f.Fatal(err)
		}
	}
	j.close()
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:200])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := decodeJournal(data)
		// What decodes encodes back to the same bytes, record by record.
		var enc journal
		var out []byte
		for _, r := range recs {
			out = append(out, enc.encode(r.seq, r.fd, r.state, r.rec)...)
		}
		if !bytes.HasPrefix(data, out) {
			t.Fatalf("%d records re-encode to bytes that are not the input's prefix", len(recs))
		}
	})
}
