package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/testharness/faults"
)

// httpsOnceCases are the HTTPS cases: the common ones and HTTP's statuses.
func httpsOnceCases() []onceCase {
	return append(commonOnceCases(), []onceCase{
		{name: "dropped before the service ran", fault: faults.Fault{Kind: faults.DropBeforeRequest},
			plainErr: true, plainRuns: 0, idemRuns: 1},
		{name: "503 with Retry-After, not run", fault: faults.Fault{Kind: faults.HTTPStatus, RetryAfter: "0"},
			plainRuns: 1, idemRuns: 1},
		{name: "503 without Retry-After, not run", fault: faults.Fault{Kind: faults.HTTPStatus},
			plainErr: true, plainRuns: 0, idemRuns: 1},
		{name: "500 after the service ran", fault: faults.Fault{Kind: faults.HTTPStatus, Status: 500, Forward: true},
			plainErr: true, plainRuns: 1, idemErr: true, idemRuns: 1},
		{name: "502 after the service ran", fault: faults.Fault{Kind: faults.HTTPStatus, Status: 502, Forward: true},
			plainErr: true, plainRuns: 1, idemRuns: 2},
	}...)
}

// TestExactlyOnceHTTPS: an HTTPS call whose request reached the service runs
// exactly once whatever fails afterwards; only an idempotent method is sent
// again. Failures that prove the service did not run are retried.
func TestExactlyOnceHTTPS(t *testing.T) {
	runOnceCases(t, httpsOnceCases(), func(t *testing.T, e *env, tc onceCase, idem bool) onceSide {
		plan := faults.NewPlan(1).Add(faults.Nth(1), tc.fault)
		ln := faults.Listen(listen(t), plan) // connection faults
		srv := e.startHTTPS(e.service(), ln, plan, nil)
		c := e.httpsClient([]string{srv.url}, func(cfg *diracrpc.Options) {
			if idem {
				cfg.Idempotent = []string{"count"}
			}
		})
		return onceSide{c: c, served: srv.served, applied: func() (int64, string) {
			fs, ls := srv.mw.Stats(), ln.Stats()
			return fs.Faults[tc.fault.Kind] + ls.Faults[tc.fault.Kind], fmt.Sprintf("middleware=%+v listener=%+v", fs, ls)
		}}
	}, func(t *testing.T, err error) {
		var de *diracrpc.Error
		assert.False(t, errors.As(err, &de) && !de.Local, "a transport failure is not a server S_ERROR: %v", err)
	})
}

// TestFailoverHTTPS: with one healthy URL among URLs that refuse, reset or
// present an expired or wrong-host certificate, every call reaches the
// healthy one within its deadline. (A URL that hangs is left out: see
// TestFailoverHTTPSHangingURL.)
func TestFailoverHTTPS(t *testing.T) {
	e := newEnv(t)
	bad := e.badServers("https")
	bad.hang = nil
	srv := e.serveHTTPS(e.service(), listen(t), nil)
	urls := append(bad.urls(), srv.url)

	checkFailover(t, e, func() diracrpc.Caller { return e.httpsClient(urls, nil) }, srv.url)
	assert.EqualValues(t, 6, srv.served())
	bad.check(t)
}

// TestFailoverHTTPSHangingURL is TestFailoverHTTPS with a URL that accepts
// TCP connections and never completes the TLS handshake.
func TestFailoverHTTPSHangingURL(t *testing.T) {
	e := newEnv(t)
	bad := e.badServers("https")
	srv := e.serveHTTPS(e.service(), listen(t), nil)
	urls := append(bad.urls(), srv.url)
	checkFailover(t, e, func() diracrpc.Caller {
		return e.httpsClient(urls, func(cfg *diracrpc.Options) { cfg.ConnectTimeout = 300 * time.Millisecond })
	}, srv.url)
	bad.check(t)
}

// TestDeadlineHTTPS: whatever the server does, a call returns within its
// deadline plus a small margin with the context's error, and no goroutine
// is left behind once the client's idle connections are closed.
func TestDeadlineHTTPS(t *testing.T) {
	for _, tc := range commonDeadlineCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			plan := faults.NewPlan(1).Add(faults.Every(), tc.fault)
			srv := e.startHTTPS(e.service(), faults.Listen(listen(t), plan), plan, nil)
			c := e.httpsClient([]string{srv.url}, nil)
			checkDeadline(t, e, c, tc.method, c.Close)
		})
	}
}

// TestBreakerHTTPS: the breaker opens after repeated failures, fails fast
// while open (nothing reaches the server), and closes again once the server
// recovers.
func TestBreakerHTTPS(t *testing.T) {
	e := newEnv(t)
	plan := faults.NewPlan(1)
	srv := e.startHTTPS(e.service(), listen(t), plan, nil)
	var mu sync.Mutex
	var changes []string
	c := e.httpsClient([]string{srv.url}, func(cfg *diracrpc.Options) {
		cfg.Attempts = 1
		cfg.Breaker = diracrpc.BreakerSettings{
			ConsecutiveFailures: 3,
			OpenTimeout:         200 * time.Millisecond,
			OnStateChange: func(_, from, to string) {
				mu.Lock()
				changes = append(changes, from+"->"+to)
				mu.Unlock()
			},
		}
	})
	ctx := ctxFor(t, 10*time.Second)
	_, err := c.Call(ctx, "count")
	require.NoError(t, err)

	// The server fails: 500 without running the method.
	plan.Add(faults.Every(), faults.Fault{Kind: faults.HTTPStatus, Status: http.StatusInternalServerError})
	for range 3 {
		_, err := c.Call(ctx, "count")
		require.ErrorIs(t, err, diracrpc.ErrServerFailure)
		assert.Contains(t, err.Error(), "500")
	}
	reached := srv.mw.Stats().Requests
	assert.EqualValues(t, 4, reached)

	// Open: fails fast, nothing reaches the server.
	for range 5 {
		start := time.Now()
		_, err := c.Call(ctx, "count")
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		assert.Less(t, time.Since(start), time.Second, "no wait for the server")
	}
	assert.Equal(t, reached, srv.mw.Stats().Requests, "no request while open")

	// The server recovers; after OpenTimeout one probe goes through and
	// closes the breaker.
	plan.Clear()
	waitBreakerClosed(t, ctx, c, time.Now().Add(5*time.Second))
	assert.Equal(t, reached+1, srv.mw.Stats().Requests, "exactly one probe reached the server")
	_, err = c.Call(ctx, "count")
	require.NoError(t, err)
	assert.EqualValues(t, 3, e.runs.Load())
	mu.Lock()
	assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, changes)
	mu.Unlock()
}

// TestRestartHTTPS: the breaker also opens on a server that is down
// (connections refused) and closes once it listens again on the same port.
func TestRestartHTTPS(t *testing.T) {
	e := newEnv(t)
	l := listen(t)
	addr := l.Addr().String()
	svc := e.service()
	first := e.serveHTTPS(svc, l, nil)
	c := e.httpsClient([]string{first.url}, func(cfg *diracrpc.Options) {
		cfg.Attempts = 1
		cfg.Breaker = diracrpc.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 200 * time.Millisecond}
	})
	ctx := ctxFor(t, 10*time.Second)
	_, err := c.Call(ctx, "count")
	require.NoError(t, err)
	require.NoError(t, first.Close())
	require.NoError(t, c.Close()) // drop the kept-alive connection to the old server

	for range 3 {
		_, err := c.Call(ctx, "count")
		require.Error(t, err)
		assert.NotErrorIs(t, err, diracrpc.ErrCircuitOpen)
	}
	_, err = c.Call(ctx, "count")
	require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)

	l2, err := faults.Relisten(ctx, "tcp", addr)
	require.NoError(t, err)
	second := e.serveHTTPS(svc, l2, nil)
	giveUp, _ := ctx.Deadline()
	waitBreakerClosed(t, ctx, c, giveUp)
	assert.EqualValues(t, 1, second.served())
}

// waitBreakerClosed calls "count" every 20 ms until a call succeeds (the
// breaker closed again); until then every call must fail fast with
// ErrCircuitOpen. It gives up at giveUp or when ctx ends.
func waitBreakerClosed(t *testing.T, ctx context.Context, c *diracrpc.Client, giveUp time.Time) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Call(ctx, "count")
		if err == nil {
			return
		}
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		require.True(t, ctx.Err() == nil && time.Now().Before(giveUp), "breaker never closed")
		<-tick.C
	}
}
