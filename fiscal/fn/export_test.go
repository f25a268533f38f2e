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

// ParseAck is parseAck for the fuzz target: the acknowledgement's FD and code.
func ParseAck(ack, ofdKey []byte) (fd uint32, code byte, err error) {
	a, err := parseAck(ack, ofdKey)
	return a.fd, a.code, err
}
