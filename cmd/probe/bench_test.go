package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// interrupting answers calls until the n-th, which ends the run (Ctrl-C);
// from then on calls wait for the cancellation.
type interrupting struct {
	calls  atomic.Int64
	n      int64
	cancel context.CancelFunc
}

func (f *interrupting) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	if f.calls.Add(1) < f.n {
		return &diracrpc.Result{}, nil
	}
	f.cancel()
	<-ctx.Done()
	return nil, fmt.Errorf("call: %w", ctx.Err())
}

// Ctrl-C ends a run that -n would not: the calls it cuts short are left
// out, not counted as failures.
func TestBenchInterruptIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(ctxT(t))
	f := &interrupting{n: 50, cancel: cancel}
	r := bench(ctx, f, benchSpec{method: "ping", n: 100_000_000, conc: 4, timeout: 10 * time.Second})
	assert.True(t, r.Interrupted)
	assert.Zero(t, r.Errors+r.SErrors)
	assert.Empty(t, r.ErrorKinds)
	assert.Equal(t, 49, r.Calls)
	assert.Positive(t, r.Cancelled)
}

// The same through the command: the harness's handler plays Ctrl-C.
func TestBenchCommandInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(ctxT(t))
	var n atomic.Int64
	svc := testharness.NewTestService("")
	svc.Handle("tick", server.Method{Auth: []string{"all"}, Func: func(context.Context, *server.Request) (any, error) {
		if n.Add(1) == 30 {
			cancel()
		}
		return "ok", nil
	}})
	h := testharness.NewT(t, testharness.Options{Service: svc})
	r := runInProcess(t, ctx, h.Env, "bench", h.DIPSURL, "--method", "tick", "-n", "100000000", "--json")
	assert.Equal(t, exitOK, r.code, r.stderr)
	var out benchResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.True(t, out.Interrupted)
	assert.Zero(t, out.Errors+out.SErrors)
	// The first call checks the service; of the 29 bench calls the service
	// ran up to the handler's Ctrl-C, the ones still in flight, at most -c's
	// default of 4, may be cut short and left out.
	assert.GreaterOrEqual(t, out.Calls, 29-4)
}

func TestBenchDurationRateAndKinds(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	start := time.Now()
	r := runInProcess(t, ctxT(t), h.Env, "bench", h.HTTPSURL, "-n", "100000000", "--duration", "300ms")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Less(t, time.Since(start), 10*time.Second, "--duration ends the run, -n or not")
	for _, s := range []string{"calls/s", "p50", "p99.9", "histogram:", "≤"} {
		assert.Contains(t, r.stdout, s)
	}

	r = runInProcess(t, ctxT(t), h.Env, "bench", h.DIPURL, "--rate", "200", "--duration", "500ms", "--json")
	assert.Equal(t, exitOK, r.code, r.stderr)
	var out benchResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.LessOrEqual(t, out.Calls, 100, "at most rate x duration calls are scheduled")
	assert.GreaterOrEqual(t, out.Calls, 10)
	assert.Equal(t, "intended_send", out.LatencyFrom)
	assert.Equal(t, 200.0, out.TargetRate)
	assert.Equal(t, benchRateConcurrency, out.Concurrency)
	require.NotEmpty(t, out.Histogram)
	total := 0
	for _, b := range out.Histogram {
		total += b.Count
	}
	assert.Equal(t, out.Calls, total, "the histogram holds every call")
	for _, p := range []string{"p50", "p90", "p95", "p99", "p99.9"} {
		assert.Contains(t, out.Percentiles, p)
	}

	r = runInProcess(t, ctxT(t), h.Env, "bench", h.DIPSURL, "--method", "fail", "--args", `["x"]`, "-n", "5", "--json")
	assert.Equal(t, exitFail, r.code)
	out = benchResult{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.Equal(t, map[string]int{"service_error": 5}, out.ErrorKinds)
	r = runInProcess(t, ctxT(t), h.Env, "bench", h.DIPSURL, "--method", "fail", "--args", `["x"]`, "-n", "5")
	assert.Contains(t, r.stdout, "by kind: service_error 5")
}

// Coordinated omission: a server that stalls delays the calls scheduled
// behind it, and their latencies say so.
func TestBenchRateCountsFromIntendedTime(t *testing.T) {
	// The 20 ms are the simulated service time, not a synchronisation.
	slow := callerFunc(func(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
		time.Sleep(20 * time.Millisecond)
		return &diracrpc.Result{}, nil
	})
	r := bench(ctxT(t), slow, benchSpec{method: "x", n: 20, conc: 1, rate: 1000, timeout: time.Second})
	require.Equal(t, 20, r.Calls)
	// One caller at 20 ms a call, scheduled every 1 ms: the last call was
	// due at 19 ms and ended near 400 ms.
	assert.Greater(t, r.MaxMS, 200.0)
	assert.Less(t, r.MinMS, 100.0)
}

type callerFunc func(ctx context.Context, method string, args ...any) (*diracrpc.Result, error)

func (f callerFunc) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	return f(ctx, method, args...)
}

// call -v shows where the time went, httpstat-style, on stderr; the value
// stays alone on stdout.
func TestCallVerboseTiming(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		r := runInProcess(t, ctxT(t), h.Env, "call", u, "add", "2", "3", "-v")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "5\n", r.stdout)
		for _, s := range []string{"DNS lookup", "TCP connect", "TLS handshake", "server", "transfer", "total", "new connection"} {
			assert.Contains(t, r.stderr, s, u)
		}
		if u == h.HTTPSURL {
			assert.NotContains(t, r.stderr, "proposal")
		} else {
			assert.Contains(t, r.stderr, "proposal")
		}
		r = runInProcess(t, ctxT(t), h.Env, "call", "-v", "--json", u, "add", "2", "3")
		require.Equal(t, exitOK, r.code, r.stderr)
		var out callResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		require.NotNil(t, out.Timing)
		assert.Positive(t, out.Timing.Total)
		assert.Positive(t, out.Timing.TLS)
		assert.Empty(t, r.stderr, "--json keeps stderr quiet")
	}
}

// The progress line is for terminals only: never in a pipe, never with --json.
func TestBenchProgressOnTerminalOnly(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	benchOn := func(terminal bool, args ...string) (string, string) {
		var out, errb strings.Builder
		code := run(ctxT(t), append([]string{"bench", h.DIPURL, "--duration", "600ms"}, args...), &env{
			stdin: strings.NewReader(""), stdout: &out, stderr: &errb, isTerminal: terminal,
			getenv: func(k string) string { return h.Env[k] }})
		require.Equal(t, exitOK, code, errb.String())
		return out.String(), errb.String()
	}
	_, stderr := benchOn(true)
	assert.Contains(t, stderr, "\r\033[K")
	assert.Contains(t, stderr, "calls")
	_, stderr = benchOn(false)
	assert.Empty(t, stderr)
	_, stderr = benchOn(true, "--json")
	assert.Empty(t, stderr)
}
