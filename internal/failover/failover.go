// Package failover chooses among the URLs of one service the way DIRAC's
// clients do, for both protocols: main URLs in random order, failover URLs
// after them, temporary bans of URLs that could not be reached, and a bounded
// number of attempts with backoff. It never decides on its own that a call may
// be sent again: the attempt function marks the errors after which that is
// safe (Retryable), everything else ends the call at once.
package failover

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrExhausted is returned (wrapping the last attempt's error) when every
// allowed attempt failed with a retryable error.
var ErrExhausted = errors.New("failover: attempts exhausted")

// Config tunes a Pool. The zero value gives DIRAC's behaviour.
type Config struct {
	// Attempts bounds the attempts of one call over all URLs. Zero means
	// DIRAC's rule: 3 per URL with one or two URLs, 2 per URL with more.
	Attempts int
	// BanFor is how long a URL that failed is avoided. Default 30 s.
	BanFor time.Duration
	// Backoff is the pause before attempt n (n ≥ 1) once the previous one
	// failed. Default: exponential from 100 ms, capped at 3 s, with full
	// jitter. The pause never outlasts the call's context.
	Backoff func(n int) time.Duration
	// Now is the clock (for tests). Default time.Now.
	Now func() time.Time
}

// Pool holds the URLs of one service and their bans. It is safe for
// concurrent use; bans are shared by all calls made through it.
type Pool struct {
	main, failover []string
	cfg            Config

	mu     sync.Mutex
	banned map[string]time.Time
}

// New returns a pool over main URLs (tried first, in random order) and
// failover URLs (tried once every main URL is banned, in the given order as
// DIRAC does). At least one URL is required.
func New(main, failover []string, cfg Config) (*Pool, error) {
	if len(main)+len(failover) == 0 {
		return nil, errors.New("failover: no URL given")
	}
	if cfg.BanFor == 0 {
		cfg.BanFor = 30 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := len(main) + len(failover)
	if cfg.Attempts <= 0 {
		per := 3
		if n > 2 {
			per = 2
		}
		cfg.Attempts = per * n
	}
	return &Pool{
		main:     append([]string(nil), main...),
		failover: append([]string(nil), failover...),
		cfg:      cfg,
		banned:   make(map[string]time.Time),
	}, nil
}

// URLs returns every URL of the pool, main ones first.
func (p *Pool) URLs() []string {
	return append(append([]string(nil), p.main...), p.failover...)
}

// DefaultBackoff is exponential from 100 ms, capped at 3 s, with full jitter.
func DefaultBackoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 5)
	d = min(d, 3*time.Second)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Retryable marks err as safe to try again on another URL: the request did
// not reach the service (or the method is idempotent).
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return retryable{err}
}

// IsRetryable reports whether err was marked by Retryable.
func IsRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// Do calls try with one URL after another until it succeeds, returns an
// error that is not Retryable, the attempts run out (ErrExhausted wrapping
// the last error) or ctx ends (ctx's error wrapping the last error).
func (p *Pool) Do(ctx context.Context, try func(ctx context.Context, url string) error) error {
	var last error
	order := p.order()
	for n := 0; n < p.cfg.Attempts; n++ {
		if n > 0 {
			if err := p.pause(ctx, n); err != nil {
				return fmt.Errorf("%w (last attempt: %w)", err, last)
			}
		}
		url := p.pick(order)
		err := try(ctx, url)
		if err == nil {
			return nil
		}
		if !IsRetryable(err) {
			return err
		}
		last = err
		p.ban(url)
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), last)
		}
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrExhausted, p.cfg.Attempts, last)
}

// order draws this call's preference: main URLs shuffled, then failover.
func (p *Pool) order() []string {
	out := append([]string(nil), p.main...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return append(out, p.failover...)
}

// pick returns the first URL of order that is not banned; with every URL
// banned the bans are lifted, as DIRAC does, and the first URL is taken.
func (p *Pool) pick(order []string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	for _, u := range order {
		if until, ok := p.banned[u]; !ok || !now.Before(until) {
			delete(p.banned, u)
			return u
		}
	}
	clear(p.banned)
	return order[0]
}

func (p *Pool) ban(url string) {
	p.mu.Lock()
	p.banned[url] = p.cfg.Now().Add(p.cfg.BanFor)
	p.mu.Unlock()
}

func (p *Pool) pause(ctx context.Context, n int) error {
	d := p.cfg.Backoff(n)
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		// Waiting would only run into the deadline: give up now.
		return context.DeadlineExceeded
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
