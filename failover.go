package diracrpc

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// pool holds the URLs of one route and their bans, the way DIRAC's clients
// choose among a service's URLs, for both protocols: main URLs in random
// order for every call, failover URLs after them in the given order, and
// temporary bans of URLs that failed. It is shared by all calls of a
// Client.
type pool struct {
	main, failover []string
	banFor         time.Duration
	now            func() time.Time

	mu     sync.Mutex
	banned map[string]time.Time
}

func newPool(main, failover []string, banFor time.Duration) *pool {
	return &pool{main: main, failover: failover, banFor: banFor, now: time.Now, banned: make(map[string]time.Time)}
}

// urls returns every URL of the pool, main ones first.
func (p *pool) urls() []string { return append(append([]string(nil), p.main...), p.failover...) }

// attempts is DIRAC's DISET rule (BaseClient): 3 attempts per URL with one
// or two URLs, 2 per URL with more. It is the rule for both protocols.
func (p *pool) attempts() int {
	n := len(p.main) + len(p.failover)
	if n > 2 {
		return 2 * n
	}
	return 3 * n
}

// order draws one call's preference: main URLs shuffled, then failover.
func (p *pool) order() []string {
	if len(p.main) == 1 && len(p.failover) == 0 {
		return p.main // nothing to shuffle; callers only read it
	}
	out := append([]string(nil), p.main...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return append(out, p.failover...)
}

// pick returns the first URL of order that is neither banned nor in skip.
// With every such URL banned the bans are lifted, as DIRAC does, and the
// first URL not in skip is taken. It returns false when skip holds them all.
func (p *pool) pick(order []string, skip map[string]bool) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.banned) == 0 { // the usual case, without reading the clock
		for _, u := range order {
			if !skip[u] {
				return u, true
			}
		}
		return "", false
	}
	now := p.now()
	first := ""
	for _, u := range order {
		if skip[u] {
			continue
		}
		if first == "" {
			first = u
		}
		if until, ok := p.banned[u]; !ok || !now.Before(until) {
			delete(p.banned, u)
			return u, true
		}
	}
	if first == "" {
		return "", false
	}
	clear(p.banned)
	return first, true
}

func (p *pool) ban(url string) {
	p.mu.Lock()
	p.banned[url] = p.now().Add(p.banFor)
	p.mu.Unlock()
}

// backoff is exponential from lo, capped at hi, with full jitter; n ≥ 1.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo << min(n-1, 20)
	if d <= 0 || d > hi {
		d = hi
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// errNoTime: the pause would outlast the call's deadline.
var errNoTime = errors.New("diracrpc: no time left before the deadline")

// pause waits d unless ctx ends first. A wait that would only run into
// ctx's deadline is not started: errNoTime at once.
func pause(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return errNoTime
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
