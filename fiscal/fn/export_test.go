package fn

// Syncs is how many times the drive has synced its journal.
func (e *Emulator) Syncs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncs
}

// Journaled is how many documents are in the journal and not yet checkpointed.
func (e *Emulator) Journaled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pending)
}
