package reliability

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/testharness/faults"
)

func httpsOnceCases() []onceCase {
	return []onceCase{
		{name: "refused at accept", fault: faults.Fault{Kind: faults.Refuse}, plainRuns: 1, idemRuns: 1},
		{name: "slow handshake", fault: faults.Fault{Kind: faults.DelayHandshake, Delay: 50 * time.Millisecond}, plainRuns: 1, idemRuns: 1},
		{name: "dropped before the service ran", fault: faults.Fault{Kind: faults.DropBeforeRequest},
			plainErr: true, plainRuns: 0, idemRuns: 1},
		{name: "dropped after the service ran", fault: faults.Fault{Kind: faults.DropAfterRequest},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "reset mid-answer", fault: faults.Fault{Kind: faults.ResetMidFrame},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "garbage answer", fault: faults.Fault{Kind: faults.Garbage},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "503 with Retry-After, not run", fault: faults.Fault{Kind: faults.HTTPStatus, RetryAfter: "0"},
			plainRuns: 1, idemRuns: 1},
		{name: "503 without Retry-After, not run", fault: faults.Fault{Kind: faults.HTTPStatus},
			plainErr: true, plainRuns: 0, idemRuns: 1},
		{name: "500 after the service ran", fault: faults.Fault{Kind: faults.HTTPStatus, Status: 500, Forward: true},
			plainErr: true, plainRuns: 1, idemErr: true, idemRuns: 1},
		{name: "502 after the service ran", fault: faults.Fault{Kind: faults.HTTPStatus, Status: 502, Forward: true},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "answer never comes", fault: faults.Fault{Kind: faults.DelayAnswer}, timeout: 500 * time.Millisecond,
			plainErr: true, plainRuns: 1, idemErr: true, idemRuns: 1},
		{name: "slow answer within deadline", fault: faults.Fault{Kind: faults.DelayAnswer, Delay: 50 * time.Millisecond},
			plainRuns: 1, idemRuns: 1},
	}
}

// TestExactlyOnceHTTPS: an HTTPS call whose request reached the service runs
// exactly once whatever fails afterwards; only an idempotent method is sent
// again. Failures that prove the service did not run are retried.
func TestExactlyOnceHTTPS(t *testing.T) {
	for _, tc := range httpsOnceCases() {
		for _, idem := range []bool{false, true} {
			name := tc.name + map[bool]string{false: "/not idempotent", true: "/idempotent"}[idem]
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				plan := faults.NewPlan(1).Add(faults.Nth(1), tc.fault)
				ln := faults.Listen(listen(t), plan) // connection faults
				srv := e.startHTTPS(e.service(), ln, plan, nil)
				c := e.httpsClient([]string{srv.url}, func(cfg *httpsclient.Config) {
					if idem {
						cfg.Idempotent = []string{"count"}
					}
				})
				timeout := tc.timeout
				if timeout == 0 {
					timeout = 10 * time.Second
				}
				res, err := c.Call(ctxFor(t, timeout), "count")
				wantErr, wantRuns := tc.plainErr, tc.plainRuns
				if idem {
					wantErr, wantRuns = tc.idemErr, tc.idemRuns
				}
				if wantErr {
					require.Error(t, err)
					var de *diracrpc.Error
					assert.False(t, errors.As(err, &de) && !de.Local, "a transport failure is not a server S_ERROR: %v", err)
					if tc.timeout != 0 {
						assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
					}
				} else {
					require.NoError(t, err)
					assert.Equal(t, wantRuns, res.Value)
				}
				assert.Equal(t, wantRuns, e.runs.Load(), "service runs")
				assert.Equal(t, wantRuns, srv.Served(), "server's handler count")
				fs := srv.mw.Stats()
				ls := ln.Stats()
				assert.EqualValues(t, 1, fs.Faults[tc.fault.Kind]+ls.Faults[tc.fault.Kind], "fault applied once")
				t.Logf("%s: err=%v middleware=%+v listener=%+v", name, err, fs, ls)
			})
		}
	}
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

	const deadline = 5 * time.Second
	for i := range 6 {
		c := e.httpsClient(urls, nil)
		start := time.Now()
		res, err := c.Call(ctxFor(t, deadline), "count")
		elapsed := time.Since(start)
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, srv.url, res.URL)
		assert.Less(t, elapsed, deadline)
		assert.EqualValues(t, i+1, e.runs.Load())
		t.Logf("call %d reached the healthy URL in %v", i, elapsed.Round(time.Millisecond))
	}
	assert.EqualValues(t, 6, srv.Served())
	bad.check(t)
}

// TestFailoverHTTPSHangingURL is TestFailoverHTTPS with a URL that accepts
// TCP connections and never completes the TLS handshake.
func TestFailoverHTTPSHangingURL(t *testing.T) {
	e := newEnv(t)
	bad := e.badServers("https")
	srv := e.serveHTTPS(e.service(), listen(t), nil)
	urls := append(bad.urls(), srv.url)
	const deadline = 5 * time.Second
	for i := range 6 {
		c := e.httpsClient(urls, func(cfg *httpsclient.Config) { cfg.ConnectTimeout = 300 * time.Millisecond })
		res, err := c.Call(ctxFor(t, deadline), "count")
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, srv.url, res.URL)
	}
	bad.check(t)
}

// TestDeadlineHTTPS: whatever the server does, a call returns within its
// deadline plus a small margin with the context's error, and no goroutine
// is left behind once the client's idle connections are closed.
func TestDeadlineHTTPS(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const margin = time.Second // generous: -race on a loaded shared CI machine
	for _, tc := range []struct {
		name   string
		fault  faults.Fault
		method string
	}{
		{"connection hangs before the handshake", faults.Fault{Kind: faults.Hang}, "count"},
		{"handshake delayed", faults.Fault{Kind: faults.DelayHandshake, Delay: time.Hour}, "count"},
		{"answer never comes", faults.Fault{Kind: faults.DelayAnswer}, "count"},
		{"handler blocks", faults.Fault{}, "block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			plan := faults.NewPlan(1).Add(faults.Every(), tc.fault)
			srv := e.startHTTPS(e.service(), faults.Listen(listen(t), plan), plan, nil)
			c := e.httpsClient([]string{srv.url}, nil)
			opts := goleak.IgnoreCurrent()
			start := time.Now()
			res, err := c.Call(ctxFor(t, deadline), tc.method)
			elapsed := time.Since(start)
			require.Error(t, err, "after %v: %+v (runs %d)", elapsed, res, e.runs.Load())
			assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
			assert.Less(t, elapsed, deadline+margin)
			t.Logf("returned after %v: %v", elapsed.Round(time.Millisecond), err)
			require.NoError(t, c.Close())
			goleak.VerifyNone(t, opts)
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
	c := e.httpsClient([]string{srv.url}, func(cfg *httpsclient.Config) {
		cfg.Retry.Max = -1
		cfg.Breaker = httpsclient.BreakerSettings{
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
		var se *httpsclient.StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, 500, se.Code)
	}
	reached := srv.mw.Stats().Requests
	assert.EqualValues(t, 4, reached)

	// Open: fails fast, nothing reaches the server.
	for range 5 {
		start := time.Now()
		_, err := c.Call(ctx, "count")
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		assert.Less(t, time.Since(start), 100*time.Millisecond)
	}
	assert.Equal(t, reached, srv.mw.Stats().Requests, "no request while open")

	// The server recovers; after OpenTimeout one probe goes through and
	// closes the breaker.
	plan.Clear()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Call(ctx, "count")
		if err == nil {
			break
		}
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		require.True(t, time.Now().Before(deadline), "breaker never closed")
		<-tick.C
	}
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
	c := e.httpsClient([]string{first.url}, func(cfg *httpsclient.Config) {
		cfg.Retry.Max = -1
		cfg.Breaker = httpsclient.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 200 * time.Millisecond}
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
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.Call(ctx, "count")
		if err == nil {
			break
		}
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		require.NoError(t, ctx.Err(), "breaker never closed")
		<-tick.C
	}
	assert.EqualValues(t, 1, second.Served())
}
