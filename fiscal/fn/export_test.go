package fn

// PendAcknowledgement makes the OFD's acknowledgement through fd wait for the
// next commit, as one does that arrives while a document is being signed.
func (e *Emulator) PendAcknowledgement(fd uint32) {
	e.mu.Lock()
	e.ackFD = max(e.ackFD, fd)
	e.mu.Unlock()
}
