package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

// benchSpec is what a benchmark runs.
type benchSpec struct {
	method string
	args   []any
	// n is the number of calls (0: no limit, the duration or Ctrl-C ends
	// the run); conc the most calls in flight.
	n, conc int
	// duration bounds the run (0: none): no call starts after it; calls in
	// flight finish, each within timeout.
	duration time.Duration
	// rate is the calls started per second (0: as fast as conc callers
	// go). Calls are scheduled at fixed times and each latency is counted
	// from its scheduled time, so a slow server that delays the next sends
	// shows in the latencies (coordinated omission accounted for).
	rate float64
	// timeout bounds each call.
	timeout time.Duration
	// progress, if set, is called about four times a second while running.
	progress func(done, failed int64, elapsed time.Duration)
}

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

	// TargetRate is --rate (0: unpaced); DurationMS is --duration.
	TargetRate float64 `json:"target_rate,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	// LatencyFrom says where latencies start: "send" (unpaced) or
	// "intended_send" (--rate: the scheduled time).
	LatencyFrom string             `json:"latency_from"`
	MinMS       float64            `json:"min_ms"`
	MeanMS      float64            `json:"mean_ms"`
	StdDevMS    float64            `json:"stddev_ms"`
	Percentiles map[string]float64 `json:"percentiles_ms"`
	Histogram   []histBucket       `json:"histogram"`
	// ErrorKinds counts failed calls by diracrpc.CodeOf (S_ERRORs are
	// service_error, unauthorized...).
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	// Interrupted: Ctrl-C ended the run; Cancelled calls were cut short by
	// it and count neither as calls nor as failures.
	Interrupted bool `json:"interrupted,omitempty"`
	Cancelled   int  `json:"cancelled,omitempty"`
}

// histBucket counts the calls with a latency in (previous LE, LE].
type histBucket struct {
	LEMS  float64 `json:"le_ms"`
	Count int     `json:"count"`
}

// benchRateConcurrency is -c's default with --rate.
const benchRateConcurrency = 64

var benchPercentiles = []struct {
	name string
	p    float64
}{{"p50", 0.50}, {"p75", 0.75}, {"p90", 0.90}, {"p95", 0.95}, {"p99", 0.99}, {"p99.9", 0.999}}

// bench runs spec against cl. ctx ending (Ctrl-C) stops it: calls in flight
// are cancelled and left out, the rest is reported.
func bench(ctx context.Context, cl diracrpc.Caller, spec benchSpec) benchResult {
	r := benchResult{Method: spec.method, Concurrency: spec.conc, TargetRate: spec.rate,
		DurationMS: millis(spec.duration), LatencyFrom: "send", ErrorKinds: map[string]int{}}
	if spec.rate > 0 {
		r.LatencyFrom = "intended_send"
	}
	var (
		mu        sync.Mutex
		lat       []time.Duration
		done, bad atomic.Int64
		wg        sync.WaitGroup
	)
	// Each job is the call's intended send time (zero: now).
	jobs := make(chan time.Time, spec.conc)
	start := time.Now()
	for range spec.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for intended := range jobs {
				cctx, cancel := context.WithTimeout(ctx, spec.timeout)
				t0 := time.Now()
				if intended.IsZero() {
					intended = t0
				}
				_, err := cl.Call(cctx, spec.method, spec.args...)
				d := time.Since(intended)
				cancel()
				mu.Lock()
				switch {
				case err != nil && ctx.Err() != nil:
					r.Cancelled++ // cut short by Ctrl-C: no measurement
				case err != nil:
					lat = append(lat, d)
					bad.Add(1)
					var se *diracrpc.Error
					if errors.As(err, &se) {
						r.SErrors++
					} else {
						r.Errors++
					}
					r.ErrorKinds[diracrpc.CodeOf(err).String()]++
					if r.FirstError == "" {
						r.FirstError = err.Error()
					}
				default:
					lat = append(lat, d)
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	stopProgress := func() {}
	if spec.progress != nil {
		tick := time.NewTicker(250 * time.Millisecond)
		quit := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for {
				select {
				case <-tick.C:
					spec.progress(done.Load(), bad.Load(), time.Since(start))
				case <-quit:
					return
				}
			}
		}()
		stopProgress = func() { tick.Stop(); close(quit); <-finished }
	}
	// The run ends duration after start, the origin of the paced schedule,
	// not after the setup above.
	stop := start.Add(spec.duration)
	var end <-chan time.Time
	if spec.duration > 0 {
		t := time.NewTimer(time.Until(stop))
		defer t.Stop()
		end = t.C
	}
	var pace *time.Timer
	if spec.rate > 0 {
		pace = time.NewTimer(0)
		defer pace.Stop()
	}
feed:
	for i := 0; spec.n == 0 || i < spec.n; i++ {
		var intended time.Time
		if pace != nil {
			intended = start.Add(time.Duration(float64(i) / spec.rate * float64(time.Second)))
			if spec.duration > 0 && !intended.Before(stop) {
				// Due at or after the end: never started, whichever of the
				// two timers a select would see first.
				break feed
			}
			pace.Reset(time.Until(intended))
			select {
			case <-pace.C:
			case <-end:
				break feed
			case <-ctx.Done():
				break feed
			}
		}
		// A send blocked on busy callers keeps its intended time: the wait
		// is part of its latency.
		select {
		case jobs <- intended:
		case <-end:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)
	r.Interrupted = ctx.Err() != nil
	r.Calls = len(lat)
	r.ElapsedMS = millis(elapsed)
	if elapsed > 0 {
		r.CallsPerSec = float64(len(lat)) / elapsed.Seconds()
	}
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	r.summarise(lat)
	return r
}

// summarise fills the latency statistics from lat.
func (r *benchResult) summarise(lat []time.Duration) {
	r.Percentiles = map[string]float64{}
	r.Histogram = []histBucket{}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return millis(lat[max(0, min(i, len(lat)-1))])
	}
	for _, bp := range benchPercentiles {
		r.Percentiles[bp.name] = pct(bp.p)
	}
	r.P50MS, r.P90MS, r.P99MS = pct(0.50), pct(0.90), pct(0.99)
	r.MinMS, r.MaxMS = millis(lat[0]), millis(lat[len(lat)-1])
	var sum, sq float64
	for _, d := range lat {
		ms := millis(d)
		sum += ms
		sq += ms * ms
	}
	n := float64(len(lat))
	r.MeanMS = sum / n
	r.StdDevMS = math.Sqrt(max(0, sq/n-r.MeanMS*r.MeanMS))
	// Buckets on the 1-2-5 series from the fastest call to the slowest.
	bound := 0.001 // ms
	for bound*2 < r.MinMS {
		bound = next125(bound)
	}
	i := 0
	for {
		b := histBucket{LEMS: bound}
		for i < len(lat) && millis(lat[i]) <= bound {
			b.Count++
			i++
		}
		if b.Count > 0 || len(r.Histogram) > 0 {
			r.Histogram = append(r.Histogram, b)
		}
		if i == len(lat) {
			return
		}
		bound = next125(bound)
	}
}

// next125 is the next value of the 1-2-5 series.
func next125(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)+1e-9))
	switch m := math.Round(v / e); {
	case m < 2:
		return 2 * e
	case m < 5:
		return 5 * e
	}
	return 10 * e
}

func (r benchResult) text() string {
	var b strings.Builder
	how := fmt.Sprintf("concurrency %d", r.Concurrency)
	if r.TargetRate > 0 {
		how += fmt.Sprintf(", target rate %g/s", r.TargetRate)
	}
	fmt.Fprintf(&b, "%s %s over %s: %d calls, %s, in %.0f ms: %.1f calls/s", r.Endpoint, r.Method, r.Protocol,
		r.Calls, how, r.ElapsedMS, r.CallsPerSec)
	if r.Interrupted {
		fmt.Fprintf(&b, " (interrupted; %d calls cut short left out)", r.Cancelled)
	}
	if r.TargetRate > 0 && r.CallsPerSec < 0.9*r.TargetRate {
		fmt.Fprintf(&b, "\n(the target rate was not reached: with -c %d calls in flight, the server is the limit; the calls it held up count from when they were due)", r.Concurrency)
	}
	from := "send"
	if r.LatencyFrom == "intended_send" {
		from = "intended send time"
	}
	fmt.Fprintf(&b, "\nlatency from each call's %s: min %.2f ms, mean %.2f ms, stddev %.2f ms, max %.2f ms\n  ", from, r.MinMS, r.MeanMS, r.StdDevMS, r.MaxMS)
	for i, bp := range benchPercentiles {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.2f ms", bp.name, r.Percentiles[bp.name])
	}
	b.WriteString("\n")
	writeHistogram(&b, r.Histogram)
	if r.Errors+r.SErrors > 0 {
		kinds := make([]string, 0, len(r.ErrorKinds))
		for k, n := range r.ErrorKinds {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(kinds)
		fmt.Fprintf(&b, "%d failed calls, %d S_ERRORs; by kind: %s\n  first: %s\n", r.Errors, r.SErrors,
			strings.Join(kinds, ", "), r.FirstError)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// writeHistogram draws one bar per bucket, 40 columns for the largest.
func writeHistogram(w io.Writer, h []histBucket) {
	top := 0
	for _, b := range h {
		top = max(top, b.Count)
	}
	if top == 0 {
		return
	}
	fmt.Fprintln(w, "histogram:")
	for _, b := range h {
		bar := strings.Repeat("■", (b.Count*40+top-1)/top)
		fmt.Fprintf(w, "  ≤ %8s ms |%-40s %d\n", fmt.Sprintf("%g", b.LEMS), bar, b.Count)
	}
}

func runBench(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "bench")
	method := fs.String("method", "ping", "method to call")
	argsJSON := fs.String("args", "[]", "the arguments, as one JSON list (DIRAC JSON forms allowed)")
	n := fs.Int("n", 200, "number of calls (0 with --duration: as many as fit)")
	conc := fs.Int("c", 4, fmt.Sprintf("most calls in flight (concurrent callers; %d with --rate)", benchRateConcurrency))
	duration := fs.Duration("duration", 0, "run for this long (with -n: whichever ends first); --timeout bounds each call")
	rate := fs.Float64("rate", 0, "start this many calls per second, latency counted from each call's scheduled time (0: as fast as -c allows)")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one ENDPOINT")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *rate > 0 && !set["c"] {
		// An open-loop rate needs room for the calls a slow answer holds
		// up; -c still caps it.
		*conc = benchRateConcurrency
	}
	switch {
	case *duration < 0 || *rate < 0:
		return usageErr("--duration and --rate cannot be negative")
	case *duration > 0 && !set["n"]:
		*n = 0 // the duration ends the run
	case *n <= 0:
		return usageErr("-n must be positive (or give --duration)")
	}
	if *conc <= 0 {
		return usageErr("-c must be positive")
	}
	if *n > 0 {
		// More callers than calls would wait for nothing: report what ran.
		*conc = min(*conc, *n)
	}
	av, err := jencode.Decode([]byte(*argsJSON))
	if err != nil {
		return usageErr("--args is not JSON: %v", err)
	}
	callArgs, ok := av.([]any)
	if !ok {
		return usageErr("--args must be a JSON list, e.g. '[2, 3]'")
	}
	t, err := c.resolveTarget(ctx, e, pos[0])
	if err != nil {
		return err
	}
	cl, err := c.caller(e, t)
	if err != nil {
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	defer cl.Close()
	// One call first: a service that cannot be reached is reported as such,
	// not as N failures. An answer, even an S_ERROR, is benchmarked.
	out, _, err := doCallWith(ctx, &c, e, cl, t, pos[0], *method, callArgs)
	var se *diracrpc.Error
	if err != nil && !errors.As(err, &se) {
		if c.json {
			_ = writeJSON(e.stdout, out)
			return jsonExit(err)
		}
		return err
	}
	spec := benchSpec{method: *method, args: callArgs, n: *n, conc: *conc, duration: *duration, rate: *rate, timeout: c.timeout}
	if e.isTerminal && !c.json {
		spec.progress = func(done, failed int64, elapsed time.Duration) {
			fmt.Fprintf(e.stderr, "\r\033[K%6.1fs  %d calls  %.0f/s  %d failed", elapsed.Seconds(), done,
				float64(done)/elapsed.Seconds(), failed)
		}
	}
	r := bench(ctx, cl, spec)
	if spec.progress != nil {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	r.Endpoint, r.Protocol = pos[0], string(t.protocol)
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
