package fn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// journalSize is the size of the drive's journal file. It is written once
// with zeros and then overwritten in place, so making a record durable syncs
// its data and no file metadata.
const journalSize = 1 << 20

// journalHeader is a record's length (u32 LE, of what follows the CRC) and
// CRC-32C (u32 LE, over the length and what follows).
const journalHeader = 8

// journalFixed is the fixed part of a record after its header: sequence (u64),
// the document's FD (u32, 0 for none) and the state's length (u32), all LE.
const journalFixed = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errJournalFull = errors.New("journal full")

// journal is the drive's write-ahead log: every commit is one record, a sync
// makes every record written before it durable, and the records are
// checkpointed into the drive's bbolt file in batches. A record holds the drive's state after the commit and the
// document it signed (with its FD) or the acknowledgement it took (FD 0), if
// any; records carry consecutive sequence numbers, so
// replay takes the run that follows the checkpointed state and stops at the
// first record out of sequence, torn or stale from before the last checkpoint.
type journal struct {
	f   journalFile
	off int64  // where the next record goes
	buf []byte // reused to encode records
}

// journalFile is what the journal needs of its file.
type journalFile interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
	Name() string
}

// openJournalFile opens the journal's file. The power-loss tests put a file
// in its place that loses, at a simulated power cut, what was not synced.
var openJournalFile = func(path string) (journalFile, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// journalRecord is one decoded record.
type journalRecord struct {
	seq   uint64
	fd    uint32
	state []byte
	rec   []byte
}

// openJournal opens (or creates, zero-filled) the journal at path and returns
// its valid records from the start, in order.
func openJournal(path string) (*journal, []journalRecord, error) {
	f, err := openJournalFile(path)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, journalSize))
	if err == nil && len(data) < journalSize {
		err = zeroFill(f, int64(len(data)))
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	return &journal{f: f}, decodeJournal(data), nil
}

// zeroFill extends the file with zeros to journalSize and makes that durable,
// its directory entry included.
func zeroFill(f journalFile, from int64) error {
	if _, err := f.WriteAt(make([]byte, journalSize-from), from); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(f.Name()))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// decodeJournal returns the well-formed records from the start of data, up to
// the first that is not (zeros, a torn write, the end).
func decodeJournal(data []byte) []journalRecord {
	var out []journalRecord
	for off := 0; off+journalHeader+journalFixed <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		end := off + journalHeader + n
		if n < journalFixed || end > len(data) {
			break
		}
		crc := crc32.Update(crc32.Checksum(data[off:off+4], castagnoli), castagnoli, data[off+journalHeader:end])
		if crc != binary.LittleEndian.Uint32(data[off+4:]) {
			break
		}
		p := data[off+journalHeader : end]
		stateLen := int(binary.LittleEndian.Uint32(p[12:]))
		if stateLen > n-journalFixed {
			break
		}
		r := journalRecord{
			seq:   binary.LittleEndian.Uint64(p),
			fd:    binary.LittleEndian.Uint32(p[8:]),
			state: p[journalFixed : journalFixed+stateLen],
		}
		if rec := p[journalFixed+stateLen:]; len(rec) > 0 {
			r.rec = rec
		}
		out = append(out, r)
		off = end
	}
	return out
}

// fits reports whether a record of this state and document fits after the last one.
func (j *journal) fits(state, rec []byte) bool {
	return j.off+int64(journalHeader+journalFixed+len(state)+len(rec)) <= journalSize
}

// write writes a record after the last one. On failure the next record goes to
// the same place.
func (j *journal) write(seq uint64, fd uint32, state, rec []byte) error {
	if !j.fits(state, rec) {
		return errJournalFull
	}
	b := j.encode(seq, fd, state, rec)
	if _, err := j.f.WriteAt(b, j.off); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.off += int64(len(b))
	return nil
}

// sync makes the records written so far durable. It is safe to call while
// another goroutine writes, which the sync may or may not cover.
func (j *journal) sync() error {
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// encode returns a record's bytes in j's reused buffer.
func (j *journal) encode(seq uint64, fd uint32, state, rec []byte) []byte {
	b := j.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(journalFixed+len(state)+len(rec)))
	b = binary.LittleEndian.AppendUint32(b, 0) // CRC, below
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = binary.LittleEndian.AppendUint32(b, fd)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(state)))
	b = append(b, state...)
	b = append(b, rec...)
	binary.LittleEndian.PutUint32(b[4:], crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, b[journalHeader:]))
	j.buf = b
	return b
}

// reset starts the next record at the beginning, once everything before is checkpointed.
func (j *journal) reset() { j.off = 0 }

func (j *journal) close() error { return j.f.Close() }
