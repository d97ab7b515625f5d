package reliability

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/faults"
)

// disetOnceCases are the DISET cases: the common ones and those of DISET's
// framing (the proposal and the arguments are two frames).
func disetOnceCases() []onceCase {
	return append(commonOnceCases(), []onceCase{
		{name: "hang before handshake", fault: faults.Fault{Kind: faults.Hang}, plainRuns: 1, idemRuns: 1},
		{name: "dropped after proposal", fault: faults.Fault{Kind: faults.DropBeforeRequest}, requestFrames: 1, plainRuns: 1, idemRuns: 1},
		{name: "dropped before arguments reached the service", fault: faults.Fault{Kind: faults.DropBeforeRequest},
			plainErr: true, plainRuns: 0, idemRuns: 1},
	}...)
}

// TestExactlyOnceDISET: a DISET call whose arguments reached the service runs
// exactly once whatever fails afterwards; only a method marked idempotent is
// sent again. Faults before the arguments are retried transparently.
func TestExactlyOnceDISET(t *testing.T) {
	runOnceCases(t, disetOnceCases(), func(t *testing.T, e *env, tc onceCase, idem bool) onceSide {
		plan := faults.NewPlan(1).Add(faults.Nth(1), tc.fault)
		p, srv, url := e.disetBehind(plan, tc.requestFrames)
		c := e.disetClient([]string{url}, func(cfg *diracrpc.Options) {
			cfg.ConnectTimeout = 300 * time.Millisecond
			if idem {
				cfg.Idempotent = []string{"count"}
			}
		})
		return onceSide{c: c, served: srv.served, applied: func() (int64, string) {
			s := p.Stats()
			return s.Faults[tc.fault.Kind], fmt.Sprintf("proxy=%+v", s)
		}}
	}, func(t *testing.T, err error) {
		assert.False(t, errors.Is(err, diracrpc.ErrNoURL), "a single failed attempt, not exhaustion: %v", err)
		var de *diracrpc.Error
		assert.False(t, errors.As(err, &de), "a transport failure is not an S_ERROR: %v", err)
	})
}

// TestFailoverDISET: with one healthy URL among URLs that refuse, hang,
// reset or present an expired or wrong-host certificate, every call reaches
// the healthy one within its deadline, and the service runs once per call.
func TestFailoverDISET(t *testing.T) {
	e := newEnv(t)
	bad := e.badServers("dips")
	l := listen(t)
	srv := e.startDISET(e.service(), l, true, nil)
	healthy := dipsURL(l.Addr().String())
	urls := append(bad.urls(), healthy)

	// A new client each time: a new random order and no bans.
	checkFailover(t, e, func() diracrpc.Caller {
		return e.disetClient(urls, func(cfg *diracrpc.Options) { cfg.ConnectTimeout = 300 * time.Millisecond })
	}, healthy)
	assert.EqualValues(t, 6, srv.served())
	bad.check(t)
}

// TestDeadlineDISET: whatever the server does, a call returns within its
// deadline plus a small margin, with the context's error, and leaves no
// goroutine behind (client, proxy and server side).
func TestDeadlineDISET(t *testing.T) {
	for _, tc := range append(commonDeadlineCases(),
		deadlineCase{"accept delayed", faults.Fault{Kind: faults.DelayAccept, Delay: time.Hour}, "count"}) {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, _, url := e.disetBehind(faults.NewPlan(1).Add(faults.Every(), tc.fault), 0)
			c := e.disetClient([]string{url}, nil) // default timeouts: the ctx must win
			checkDeadline(t, e, c, tc.method, nil)
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		e := newEnv(t)
		_, srv, url := e.disetBehind(nil, 0)
		c := e.disetClient([]string{url}, nil)
		opts := goleak.IgnoreCurrent()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, "block")
			done <- err
		}()
		// Cancel once the handler runs: the server counts it first.
		_, ok := faults.WaitStats(ctxFor(t, 5*time.Second), func() faults.Stats {
			return faults.Stats{Requests: srv.served()}
		}, func(s faults.Stats) bool { return s.Requests == 1 })
		require.True(t, ok)
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled)
			assert.Less(t, time.Since(start), callMargin)
		case <-time.After(5 * time.Second):
			t.Fatal("call did not return after cancel")
		}
		goleak.VerifyNone(t, opts)
	})
}

// TestRestartDISET: while the server is down calls fail fast with ErrNoURL;
// once it listens again on the same port, the same client works.
func TestRestartDISET(t *testing.T) {
	e := newEnv(t)
	svc := e.service()
	l := listen(t)
	addr := l.Addr().String()
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	url := "dip://" + addr + "/" + svcName
	c := e.disetClient([]string{url}, nil)
	_, err := c.Call(ctxFor(t, 5*time.Second), "count")
	require.NoError(t, err)

	require.NoError(t, srv.Close())
	require.ErrorIs(t, <-done, server.ErrServerClosed)
	start := time.Now()
	_, err = c.Call(ctxFor(t, 5*time.Second), "count")
	require.ErrorIs(t, err, diracrpc.ErrNoURL)
	t.Logf("server down: %v after %v", err, time.Since(start).Round(time.Millisecond))

	l2, err := faults.Relisten(ctxFor(t, 5*time.Second), "tcp", addr)
	require.NoError(t, err)
	srv2 := e.startDISET(svc, l2, false, nil)
	res, err := c.Call(ctxFor(t, 5*time.Second), "count")
	require.NoError(t, err)
	assert.EqualValues(t, 2, res.Value)
	assert.EqualValues(t, 1, srv2.served())
}
