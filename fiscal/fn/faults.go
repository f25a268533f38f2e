package fn

import "time"

// FailNextWrites makes the next n commits (documents or acknowledgements) fail with ErrWrite.
func (e *Emulator) FailNextWrites(n int) {
	e.mu.Lock()
	e.failWrites = n
	e.mu.Unlock()
}

// SetMemoryFull makes the archive report full (ErrMemoryFull) until set false.
func (e *Emulator) SetMemoryFull(full bool) {
	e.mu.Lock()
	e.memoryFull = full
	e.mu.Unlock()
}

// ExpireKey ends the key's validity for the life of this process: every new
// document fails with ErrKeyExpired.
func (e *Emulator) ExpireKey() {
	e.mu.Lock()
	e.keyExpired = true
	e.mu.Unlock()
}

// SetSignDelay sets how long signing a document takes.
func (e *Emulator) SetSignDelay(d time.Duration) {
	e.mu.Lock()
	e.signDelay = d
	e.mu.Unlock()
}
