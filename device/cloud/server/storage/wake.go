package storage

import (
	"context"
	"sync"
)

// Wakes is an in-process Notifier: a channel per point waited on, closed by
// Notify. The embedded store uses it as its Notifier; a shared store may use
// it for its own process's waiters and call Notify when another process says so.
// The zero value is ready.
type Wakes struct {
	mu   sync.Mutex
	wake map[string]chan struct{} // point id → closed at the point's next Notify
}

// Wait returns the channel closed at the point's next Notify.
func (w *Wakes) Wait(pointID string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wake == nil {
		w.wake = map[string]chan struct{}{}
	}
	ch, ok := w.wake[pointID]
	if !ok {
		ch = make(chan struct{})
		w.wake[pointID] = ch
	}
	return ch
}

// Notify wakes the point's waiters; it never fails.
func (w *Wakes) Notify(_ context.Context, pointID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.wake[pointID]; ok {
		close(ch)
		delete(w.wake, pointID)
	}
	return nil
}

// WakeAll wakes every point's waiters: a shared store's process does so when
// it may have missed another's wake-ups (its listening connection was lost).
func (w *Wakes) WakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ch := range w.wake {
		close(ch)
		delete(w.wake, id)
	}
}
