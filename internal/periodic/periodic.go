// Package periodic runs a step again and again, a delay apart, until a
// context ends: the refresh loop shared by endpoint.Bootstrap (the
// configuration) and server.Follower (the rules taken from it).
package periodic

import (
	"context"
	"time"
)

// Run calls step every interval() until ctx ends, then returns ctx's error.
// interval is asked again after every step, so that a changed setting takes
// effect at the next wait. Run starts no goroutine; step handles (logs) its
// own failures.
func Run(ctx context.Context, interval func() time.Duration, step func(context.Context)) error {
	t := time.NewTimer(interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		step(ctx)
		t.Reset(interval())
	}
}
