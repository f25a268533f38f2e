package fn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkpointBatch is how many journaled documents and acknowledgements are
// checkpointed into the bbolt file at once.
const checkpointBatch = 128

// replay opens the journal and takes its records that follow the bbolt
// file's state, then checkpoints them, and any acknowledgement taken from an
// old file's state. On failure the journal is closed.
func (e *Emulator) replay(path string) (err error) {
	jr, recs, err := openJournal(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			jr.close()
		}
	}()
	e.jr = jr
	n := 0
	for _, r := range recs {
		if r.seq != e.st.Seq+1 {
			break
		}
		var st driveState
		if err := json.Unmarshal(r.state, &st); err != nil {
			return fmt.Errorf("journal record %d: state: %w", r.seq, err)
		}
		if err := e.replayRecord(r, &st); err != nil {
			return fmt.Errorf("journal record %d: %w", r.seq, err)
		}
		e.st = st
		n++
	}
	if n == 0 && len(e.pendingAcks) == 0 {
		return nil
	}
	e.log.Info("fn: journal replayed", "records", n, "documents", len(e.pending), "acknowledgements", len(e.pendingAcks))
	return e.writeCheckpoint()
}

// replayRecord takes the document or the acknowledgement of a journal record
// whose state is st (see commit).
func (e *Emulator) replayRecord(r journalRecord, st *driveState) error {
	switch {
	case r.fd != 0:
		if r.fd != st.LastFD || r.fd != e.st.LastFD+1 {
			return fmt.Errorf("FD %d out of order", r.fd)
		}
		e.pending = append(e.pending, bytes.Clone(r.rec))
	case r.rec != nil:
		if st.AckedThrough <= e.st.AckedThrough {
			return fmt.Errorf("acknowledgement of FD %d after FD %d's", st.AckedThrough, e.st.AckedThrough)
		}
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.AckedThrough, doc: bytes.Clone(r.rec)})
	}
	e.takeOldAck(st)
	return nil
}

// commit writes st and rec as one journal record, unless a write failure is
// injected, and then makes st the drive's state; the record is durable after
// the next sync. rec is the document numbered fd, or, with fd 0, the
// acknowledgement of FD st.AckedThrough (nil for none). It checkpoints first
// when the journal is full or holds checkpointBatch documents and
// acknowledgements.
func (e *Emulator) commit(st *driveState, fd uint32, rec []byte) error {
	if e.failWrites > 0 {
		e.failWrites--
		return fmt.Errorf("injected: %w", ErrWrite)
	}
	st.Seq = e.st.Seq + 1
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if len(e.pending)+len(e.pendingAcks) >= checkpointBatch || !e.jr.fits(state, rec) {
		if err := e.checkpoint(); err != nil {
			return err
		}
	}
	if err := e.jr.write(st.Seq, fd, state, rec); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	switch {
	case fd != 0:
		e.pending = append(e.pending, rec)
	case rec != nil:
		e.pendingAcks = append(e.pendingAcks, storedAck{fd: st.AckedThrough, doc: rec})
	}
	e.st = *st
	return nil
}

// checkpoint writes the journaled documents and acknowledgements and the
// committed state into the bbolt file (synced) and starts the journal over.
func (e *Emulator) checkpoint() error {
	if e.jr.off == 0 {
		return nil // nothing journaled since the last one
	}
	return e.writeCheckpoint()
}

func (e *Emulator) writeCheckpoint() error {
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDocs)
		for i, rec := range e.pending {
			if err := b.Put(fdKey(e.firstPending()+uint32(i)), rec); err != nil {
				return err
			}
		}
		acks := tx.Bucket(bucketAcks)
		for _, a := range e.pendingAcks {
			if err := acks.Put(fdKey(a.fd), a.doc); err != nil {
				return err
			}
		}
		return putState(tx, &e.st)
	})
	if err != nil {
		return fmt.Errorf("%w: checkpoint: %w", ErrWrite, err)
	}
	clear(e.pending)
	e.pending = e.pending[:0]
	clear(e.pendingAcks)
	e.pendingAcks = e.pendingAcks[:0]
	e.jr.reset()
	e.synced, e.durableFD = e.st.Seq, e.st.LastFD
	e.rel.Release() // advice only: on failure the read pages stay mapped
	return nil
}

// firstPending is the FD of the first journaled document not yet in the
// bbolt file: the pending documents end at the last committed one.
func (e *Emulator) firstPending() uint32 {
	return e.st.LastFD + 1 - uint32(len(e.pending))
}

func putState(tx *bolt.Tx, st *driveState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDrive).Put(keyState, raw)
}

// Sync returns once every document signed and every acknowledgement taken so
// far is durable.
func (e *Emulator) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.syncLocked(); err != nil {
		return fmt.Errorf("fn: sync: %w", err)
	}
	return nil
}

// syncLocked returns once every commit made so far is durable. It syncs the
// journal, or waits for a sync already running and syncs again if that one
// began before the last commit. Callers hold mu; it is released during a sync,
// so that documents go on being signed meanwhile.
func (e *Emulator) syncLocked() error {
	for target := e.st.Seq; e.synced < target; {
		if e.syncing {
			e.syncDone.Wait()
			continue
		}
		seq, fd := e.st.Seq, e.st.LastFD
		e.syncing = true
		e.syncs++
		e.mu.Unlock()
		err := e.jr.sync()
		e.mu.Lock()
		e.syncing = false
		e.syncDone.Broadcast()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		e.synced, e.durableFD = max(e.synced, seq), max(e.durableFD, fd)
	}
	return nil
}
