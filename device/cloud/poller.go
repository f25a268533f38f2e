package cloud

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Register is what the poller needs of the register runtime (the lead implements it in package device).
type Register interface {
	// Accept takes leased documents (the register deduplicates by id) before the poller
	// asks for more. It may commit them later, but before it signs any: a register
	// that restarts gets back every document still leased to it.
	Accept(ctx context.Context, leases []Lease) error
	// Unreported returns results the cloud has not yet confirmed, oldest first.
	Unreported(ctx context.Context) ([]Result, error)
	// Reported marks results as delivered to the cloud.
	Reported(ctx context.Context, ids []string) error
	// Taking says whether the register takes new documents; a stopped one does
	// not, and the poller then only reports, leaving the documents queued.
	Taking() bool
}

// PollerConfig configures a Poller. Zero fields take the defaults named on them.
type PollerConfig struct {
	Interval   time.Duration    // pause between polls while the cloud is well; default 5 s
	LongPoll   bool             // let the cloud hold each lease request until a document comes
	Wait       time.Duration    // the long-poll wait; default 25 s
	MaxBatch   int              // documents per lease; default 16
	MinBackoff time.Duration    // first pause after a failure; default 1 s
	MaxBackoff time.Duration    // longest pause; default 1 min
	Clock      func() time.Time // default time.Now
	Logger     *slog.Logger     // default discards
	Seed       uint64           // of the backoff jitter
}

// reportBatch bounds one results request.
const reportBatch = 64

// Poller moves work between the cloud and the register: it reports results first,
// then leases new documents and hands them to the Register, every Interval or by
// long-poll. After a failure it waits an exponentially growing, jittered pause (a
// Kick does not shorten it), and goes back to full speed on the first success.
type Poller struct {
	c   *Client
	reg Register
	cfg PollerConfig
	log *slog.Logger
	rnd *rand.Rand

	kick      chan struct{}
	resumed   bool   // the first leases, which take back this register's open leases, are done
	resumeAt  string // the last document of the previous resume page
	reachable atomic.Bool
	lastOK    atomic.Int64 // unix nanoseconds of the last answer from the cloud

	reportMu sync.Mutex // one report at a time, from either loop
	rndMu    sync.Mutex
}

// NewPoller makes a poller; Run starts it.
func NewPoller(c *Client, r Register, cfg PollerConfig) *Poller {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, 5*time.Second)
	def(&cfg.Wait, 25*time.Second)
	def(&cfg.MinBackoff, time.Second)
	def(&cfg.MaxBackoff, time.Minute)
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 16
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{c: c, reg: r, cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1),
		rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
}

// Kick says results are waiting: report them now rather than at the next poll.
func (p *Poller) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Reachable reports whether the cloud answered the last exchange.
func (p *Poller) Reachable() bool { return p.reachable.Load() }

// LastContact is when the cloud last answered; zero if never.
func (p *Poller) LastContact() time.Time {
	if n := p.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// errRegister marks failures of the Register, which say nothing of the cloud.
var errRegister = errors.New("register")

// Run polls until ctx ends, and returns ctx's error. Results go to the cloud from
// a loop of their own as soon as Kick says they are there, so a result never waits
// for a long-poll to end, and a long-poll is never cut short: cutting it could lose
// a lease the cloud had just granted, and the document would wait out its lease.
//
// Run returns only once its report loop has: a report under way when ctx ends
// finishes first, so the register's store is not closed beneath it.
func (p *Poller) Run(ctx context.Context) error {
	var reporting sync.WaitGroup
	reporting.Add(1)
	go func() {
		defer reporting.Done()
		p.reportLoop(ctx)
	}()
	defer reporting.Wait()
	failures := 0
	for {
		start, resuming := time.Now(), !p.resumed
		n, err := p.cycle(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var delay time.Duration
		switch {
		case err != nil:
			failures++
			if !errors.Is(err, errRegister) {
				p.reachable.Store(false)
			}
			delay = p.backoff(failures)
			p.log.Warn("cloud: poll failed", "err", err, "failures", failures, "retryIn", delay)
		default:
			if failures > 0 {
				p.log.Info("cloud: polling again", "after", failures)
			}
			failures = 0
			switch {
			case n >= p.cfg.MaxBatch:
				delay = 0 // more is waiting
			case p.cfg.LongPoll && (n > 0 || resuming || time.Since(start) >= p.cfg.Wait/2):
				// The next long-poll waits in the cloud until a document comes: ask
				// again at once after documents came, after the start's resume lease
				// (which does not wait) or after the cloud held the request. Only a
				// cloud that answers an empty long-poll at once is asked at Interval.
				delay = 0
			default:
				delay = p.cfg.Interval
			}
		}
		if delay == 0 {
			continue
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// reportLoop reports as soon as a Kick comes; after a failure it backs off
// (a sick cloud is not hammered for every result) and tries again.
func (p *Poller) reportLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		for failures := 1; ; failures++ {
			err := p.report(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			if !errors.Is(err, errRegister) {
				p.reachable.Store(false)
			}
			t := time.NewTimer(p.backoff(failures))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// report sends every unreported result, oldest first.
func (p *Poller) report(ctx context.Context) error {
	p.reportMu.Lock()
	defer p.reportMu.Unlock()
	for {
		results, err := p.reg.Unreported(ctx)
		if err != nil {
			return errors.Join(errRegister, err)
		}
		if len(results) == 0 {
			return nil
		}
		batch := results[:min(len(results), reportBatch)]
		if err := p.c.Report(ctx, batch); err != nil {
			return err
		}
		p.contact()
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.ID
		}
		if err := p.reg.Reported(ctx, ids); err != nil {
			return errors.Join(errRegister, err)
		}
		p.log.Debug("cloud: results reported", "n", len(ids))
		if len(results) <= reportBatch {
			return nil
		}
	}
}

// cycle reports what is unreported, then leases; it returns how many documents came.
func (p *Poller) cycle(ctx context.Context) (int, error) {
	if err := p.report(ctx); err != nil {
		return 0, err
	}
	if !p.reg.Taking() {
		return 0, nil
	}
	wait := time.Duration(0)
	if p.cfg.LongPoll && p.resumed {
		wait = p.cfg.Wait
	}
	// The first lease after a start takes back what this register had leased
	// before it went down, rather than leaving it to wait out its lease.
	leases, err := p.c.lease(ctx, wait, p.cfg.MaxBatch, !p.resumed, p.resumeAt)
	if err != nil {
		// The cloud may have leased documents to this register and lost the
		// answer on the way (a node that died, a cut connection): the next
		// lease takes back its open leases too, rather than leaving them to
		// wait out their lease.
		p.resumed, p.resumeAt = false, ""
		return 0, err
	}
	p.contact()
	if !p.resumed {
		// A full page may have left more of the old leases behind: the next
		// lease takes the page after it.
		p.resumed = len(leases) < p.cfg.MaxBatch
		p.resumeAt = ""
		if !p.resumed {
			p.resumeAt = leases[len(leases)-1].ID
		}
	}
	if len(leases) == 0 {
		return 0, nil
	}
	if err := p.reg.Accept(ctx, leases); err != nil {
		return 0, errors.Join(errRegister, err)
	}
	p.log.Debug("cloud: documents leased", "n", len(leases))
	return len(leases), nil
}

func (p *Poller) contact() {
	p.reachable.Store(true)
	p.lastOK.Store(p.cfg.Clock().UnixNano())
}

// backoff is min(MaxBackoff, MinBackoff·2^(failures−1)), of which a random half is
// jitter, so registers cut off together do not come back together.
func (p *Poller) backoff(failures int) time.Duration {
	d := p.cfg.MinBackoff
	for i := 1; i < failures && d < p.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.cfg.MaxBackoff)
	p.rndMu.Lock()
	defer p.rndMu.Unlock()
	return d/2 + time.Duration(p.rnd.Int64N(int64(d/2)+1))
}
