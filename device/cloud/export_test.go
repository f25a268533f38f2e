package cloud

import "context"

// Cycle is one lease and accept of the poller, for the tests outside the package.
func (p *Poller) Cycle(ctx context.Context) (int, error) { return p.cycle(ctx) }
