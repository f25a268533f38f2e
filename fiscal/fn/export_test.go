package fn

// Syncs is how many times the drive has synced its journal.
func (e *Emulator) Syncs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncs
}
