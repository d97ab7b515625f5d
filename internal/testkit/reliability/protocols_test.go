package reliability

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/testharness/faults"
)

// The checks below are shared by the DISET and HTTPS tests; each protocol
// supplies its client, server and fault injection.

// onceCase is one fault on the first call and what must follow: whether the
// call fails and how many times the service ran, for a method that is not
// idempotent and for one that is.
type onceCase struct {
	name          string
	fault         faults.Fault
	requestFrames int           // DISET frames that make "the request" (0: 2)
	timeout       time.Duration // the caller's deadline (0: 10 s)
	plainErr      bool
	plainRuns     int64
	idemErr       bool
	idemRuns      int64
}

// commonOnceCases are the faults both protocols meet alike.
func commonOnceCases() []onceCase {
	return []onceCase{
		{name: "refused at accept", fault: faults.Fault{Kind: faults.Refuse}, plainRuns: 1, idemRuns: 1},
		{name: "slow handshake", fault: faults.Fault{Kind: faults.DelayHandshake, Delay: 50 * time.Millisecond}, plainRuns: 1, idemRuns: 1},
		{name: "dropped after the service ran", fault: faults.Fault{Kind: faults.DropAfterRequest},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "reset mid-answer", fault: faults.Fault{Kind: faults.ResetMidFrame},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		{name: "garbage answer", fault: faults.Fault{Kind: faults.Garbage},
			plainErr: true, plainRuns: 1, idemRuns: 2},
		// The deadline must leave room for the handshake and the handler on a
		// loaded machine under -race: the service has to run once first.
		{name: "answer never comes", fault: faults.Fault{Kind: faults.DelayAnswer}, timeout: 2 * time.Second,
			plainErr: true, plainRuns: 1, idemErr: true, idemRuns: 1},
		{name: "slow answer within deadline", fault: faults.Fault{Kind: faults.DelayAnswer, Delay: 50 * time.Millisecond},
			plainRuns: 1, idemRuns: 1},
	}
}

// onceSide is one protocol's side of an exactly-once case.
type onceSide struct {
	c      diracrpc.Caller
	served func() int64 // the server's handler count
	// applied is how many times the case's fault was injected, and the
	// injectors' statistics for the log.
	applied func() (int64, string)
}

// runOnceCases runs every case with a method that is not idempotent and
// with one that is: setup starts the server behind the fault and the
// client; transportErr checks what the protocol promises about a failed
// call's error.
func runOnceCases(t *testing.T, cases []onceCase, setup func(t *testing.T, e *env, tc onceCase, idem bool) onceSide,
	transportErr func(t *testing.T, err error)) {
	for _, tc := range cases {
		for _, idem := range []bool{false, true} {
			name := tc.name + map[bool]string{false: "/not idempotent", true: "/idempotent"}[idem]
			t.Run(name, func(t *testing.T) {
				e := newEnv(t)
				side := setup(t, e, tc, idem)
				timeout := tc.timeout
				if timeout == 0 {
					timeout = 10 * time.Second
				}
				res, err := side.c.Call(ctxFor(t, timeout), "count")
				wantErr, wantRuns := tc.plainErr, tc.plainRuns
				if idem {
					wantErr, wantRuns = tc.idemErr, tc.idemRuns
				}
				if wantErr {
					require.Error(t, err)
					transportErr(t, err)
					if tc.timeout != 0 {
						assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
					}
				} else {
					require.NoError(t, err)
					assert.Equal(t, wantRuns, res.Value, "the value is the run count of the attempt that answered")
				}
				assert.Equal(t, wantRuns, e.runs.Load(), "service runs")
				assert.Equal(t, wantRuns, side.served(), "server's handler count")
				n, stats := side.applied()
				assert.EqualValues(t, 1, n, "fault applied once: %s", stats)
				t.Logf("%s: err=%v %s", name, err, stats)
			})
		}
	}
}

// Deadline tests: a short deadline, and a generous margin for -race on a
// loaded shared CI machine.
const (
	callDeadline = 300 * time.Millisecond
	callMargin   = time.Second
)

// deadlineCase is a server behaviour a call's deadline must win against
// (TestDeadlineDISET, TestDeadlineHTTPS).
type deadlineCase struct {
	name   string
	fault  faults.Fault
	method string
}

// commonDeadlineCases are the behaviours both protocols are tested
// against; a protocol's test adds its own.
func commonDeadlineCases() []deadlineCase {
	return []deadlineCase{
		{"connection hangs before the handshake", faults.Fault{Kind: faults.Hang}, "count"},
		{"handshake delayed", faults.Fault{Kind: faults.DelayHandshake, Delay: time.Hour}, "count"},
		{"answer never comes", faults.Fault{Kind: faults.DelayAnswer}, "count"},
		{"handler blocks", faults.Fault{}, "block"},
	}
}

// checkDeadline calls method with c under callDeadline and checks that the
// call returns within the margin with the context's error, leaving no
// goroutine behind once closeIdle (if any) has dropped the client's idle
// connections.
func checkDeadline(t *testing.T, e *env, c diracrpc.Caller, method string, closeIdle func() error) {
	t.Helper()
	opts := goleak.IgnoreCurrent()
	start := time.Now()
	res, err := c.Call(ctxFor(t, callDeadline), method)
	elapsed := time.Since(start)
	require.Error(t, err, "after %v: %+v (runs %d)", elapsed, res, e.runs.Load())
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
	assert.Less(t, elapsed, callDeadline+callMargin)
	t.Logf("returned after %v: %v", elapsed.Round(time.Millisecond), err)
	if closeIdle != nil {
		require.NoError(t, closeIdle())
	}
	goleak.VerifyNone(t, opts)
}

// checkFailover makes six calls, each with a new client from newClient (a
// new random order of the URLs, no bans), and checks that each reaches
// healthy within its deadline and runs the service once.
func checkFailover(t *testing.T, e *env, newClient func() diracrpc.Caller, healthy string) {
	t.Helper()
	const deadline = 5 * time.Second
	for i := range 6 {
		c := newClient()
		start := time.Now()
		res, err := c.Call(ctxFor(t, deadline), "count")
		elapsed := time.Since(start)
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, healthy, res.URL)
		assert.Less(t, elapsed, deadline)
		assert.EqualValues(t, i+1, e.runs.Load())
		t.Logf("call %d reached the healthy URL in %v", i, elapsed.Round(time.Millisecond))
	}
}
