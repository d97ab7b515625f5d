package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

// benchResult is the outcome of a benchmark (the --json output).
type benchResult struct {
	Endpoint    string  `json:"endpoint"`
	Protocol    string  `json:"protocol"`
	Method      string  `json:"method"`
	Calls       int     `json:"calls"`
	Concurrency int     `json:"concurrency"`
	Errors      int     `json:"errors"`
	SErrors     int     `json:"s_errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ElapsedMS   float64 `json:"elapsed_ms"`
	CallsPerSec float64 `json:"calls_per_sec"`
	P50MS       float64 `json:"p50_ms"`
	P90MS       float64 `json:"p90_ms"`
	P99MS       float64 `json:"p99_ms"`
	MaxMS       float64 `json:"max_ms"`
}

// bench makes n calls with conc workers and measures them; per-call
// timeouts are bounded by timeout.
func bench(ctx context.Context, cl diracrpc.Caller, method string, args []any, n, conc int, timeout time.Duration) benchResult {
	r := benchResult{Method: method, Calls: n, Concurrency: conc}
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				_, err := cl.Call(cctx, method, args...)
				d := time.Since(t0)
				cancel()
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					var se *diracrpc.Error
					if errors.As(err, &se) {
						r.SErrors++
					} else {
						r.Errors++
					}
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for range n {
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	r.Calls = len(lat)
	r.ElapsedMS = millis(elapsed)
	if elapsed > 0 {
		r.CallsPerSec = float64(len(lat)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p*float64(len(lat))+0.5) - 1
		i = max(0, min(i, len(lat)-1))
		return millis(lat[i])
	}
	r.P50MS, r.P90MS, r.P99MS = pct(0.50), pct(0.90), pct(0.99)
	if len(lat) > 0 {
		r.MaxMS = millis(lat[len(lat)-1])
	}
	return r
}

func (r benchResult) text() string {
	s := fmt.Sprintf("%s %s over %s: %d calls, concurrency %d, in %.0f ms: %.1f calls/s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
		r.Endpoint, r.Method, r.Protocol, r.Calls, r.Concurrency, r.ElapsedMS, r.CallsPerSec, r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
	if r.Errors+r.SErrors > 0 {
		s += fmt.Sprintf("; %d failed calls, %d S_ERRORs (first: %s)", r.Errors, r.SErrors, r.FirstError)
	}
	return s
}

func runBench(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "bench")
	method := fs.String("method", "ping", "method to call")
	argsJSON := fs.String("args", "[]", "the arguments, as one JSON list (DIRAC JSON forms allowed)")
	n := fs.Int("n", 200, "number of calls")
	conc := fs.Int("c", 4, "concurrent callers")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one ENDPOINT")
	}
	if *n <= 0 || *conc <= 0 {
		return usageErr("-n and -c must be positive")
	}
	// More callers than calls would wait for nothing: report what ran.
	*conc = min(*conc, *n)
	av, err := jencode.Decode([]byte(*argsJSON))
	if err != nil {
		return usageErr("--args is not JSON: %v", err)
	}
	callArgs, ok := av.([]any)
	if !ok {
		return usageErr("--args must be a JSON list, e.g. '[2, 3]'")
	}
	ts, err := c.resolveTargets(ctx, pos[0])
	if err != nil {
		return err
	}
	cl, err := c.caller(e, ts[0])
	if err != nil {
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	// One call first: a service that cannot be reached is reported as such,
	// not as N failures.
	out, _, err := doCallWith(ctx, &c, cl, ts[0], pos[0], *method, callArgs)
	if err != nil {
		if c.json {
			_ = writeJSON(e.stdout, out)
			return jsonExit(err)
		}
		return err
	}
	r := bench(ctx, cl, *method, callArgs, *n, *conc, c.timeout)
	r.Endpoint, r.Protocol = pos[0], string(ts[0].protocol)
	if c.json {
		err = writeJSON(e.stdout, r)
	} else {
		_, err = fmt.Fprintln(e.stdout, r.text())
	}
	if err != nil {
		return err
	}
	if r.Errors+r.SErrors > 0 {
		return silentExit(exitFail)
	}
	return nil
}
