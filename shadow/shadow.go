// Package shadow compares a candidate service with the primary on live
// traffic: while the gateway (package gateway) serves every call from the
// primary, a sample of the calls to methods declared read-only is sent again
// to the candidate, and the two answers are compared with compat's
// classifier.
//
// Three guarantees:
//   - the primary's answer goes back first and unchanged: Mirror only queues
//     the call (a bounded queue, a fixed number of workers; when the queue is
//     full the copy is dropped and counted), so a candidate that hangs delays
//     nothing but its own comparisons;
//   - only methods declared read-only are copied (Config.ReadOnly); a write is
//     mirrored only with its own opt-in (Config.MirrorWrites), so nothing is
//     done twice by accident;
//   - noise is cancelled: each sampled call is also made a second time to the
//     primary (an A/A baseline); a path where two answers of the same service
//     differ (timestamps, counters) is learned per method, and a candidate's
//     difference there is counted as noise, not as a divergence. A
//     difference the baseline did not show sends a read-only call once more
//     to the primary, after the candidate answered, so that a value moving
//     with time is learned even when only the candidate saw it move.
//     compat's expected protocol differences (tuple-became-list...) are
//     counted separately.
//
// The Report lists per method the calls, the comparisons and their verdicts,
// with examples of each divergence (path, both values); it is served as a web
// page and JSON by Handler, and written as JSON or JUnit XML.
package shadow

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/gateway"
)

// Config configures a Shadow. Candidates and ReadOnly are required.
type Config struct {
	// Candidates maps a service ("System/Component") to its candidate: a
	// URL (https://host:8443/System/Component) or a service name the
	// gateway's selector resolves. Calls to other services are not mirrored.
	Candidates map[string]string
	// ReadOnly declares the methods safe to call twice: "method" (any
	// service) or "System/Component/method". Only these are mirrored.
	ReadOnly []string
	// MirrorWrites opts single non-read-only methods in (same forms as
	// ReadOnly): they are then run twice, on the primary and the candidate,
	// and once more for the baseline unless NoBaseline.
	MirrorWrites []string
	// Methods, when set, restricts sampling to these methods (same forms).
	Methods []string
	// Rate is the fraction of eligible calls mirrored, in (0, 1]; default 1.
	Rate float64
	// NoBaseline turns the A/A baseline off: every difference that is not
	// an expected protocol difference is then a divergence.
	NoBaseline bool
	// Workers bounds the mirrored calls running at once (default 4); Queue
	// the calls waiting (default 256). A call that finds the queue full is
	// dropped (counted in Dropped).
	Workers, Queue int
	// Timeout bounds each mirrored call (candidate or baseline); default 30 s.
	Timeout time.Duration
	// Examples is the number of divergences kept per method; default 5.
	Examples int
	// Logger receives divergences and candidate errors; nil: slog.Default().
	Logger *slog.Logger
	// Rand draws the sample; nil: math/rand/v2.
	Rand func() float64
}

// Shadow mirrors calls and keeps the report. It implements gateway.Mirror.
type Shadow struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	jobs    chan job
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc

	mu      sync.Mutex
	methods map[string]*methodStats
	closed  bool
}

type job struct {
	call    gateway.Call
	primary gateway.Outcome
	target  string
}

// New starts the workers of a Shadow; Close stops them.
func New(cfg Config) (*Shadow, error) {
	if len(cfg.Candidates) == 0 {
		return nil, errors.New("shadow: no candidate")
	}
	if len(cfg.ReadOnly) == 0 && len(cfg.MirrorWrites) == 0 {
		return nil, errors.New("shadow: no method declared read-only: nothing could be mirrored")
	}
	if cfg.Rate <= 0 || cfg.Rate > 1 {
		cfg.Rate = 1
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Examples <= 0 {
		cfg.Examples = 5
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	s := &Shadow{cfg: cfg, log: cfg.Logger, started: time.Now(), jobs: make(chan job, cfg.Queue),
		methods: make(map[string]*methodStats)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s, nil
}

// Close stops mirroring, cancels the mirrored calls in flight and waits for
// the workers. The report stays readable.
func (s *Shadow) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.jobs)
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Drain waits until every queued call has been compared or ctx ends (tests,
// the end of a replay).
func (s *Shadow) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		busy := 0
		for _, m := range s.methods {
			busy += m.pending
		}
		s.mu.Unlock()
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// matches reports whether service/method is named by one of list's entries.
func matches(list []string, service, method string) bool {
	for _, e := range list {
		if e == method || e == service+"/"+method {
			return true
		}
	}
	return false
}

// Mirror queues a copy of the call if it is eligible and sampled; it never
// blocks (gateway.Mirror).
func (s *Shadow) Mirror(call gateway.Call, primary gateway.Outcome) {
	target, ok := s.cfg.Candidates[call.Service]
	m := s.stats(call.Service, call.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	m.Calls++
	switch {
	case !ok || s.closed:
		return
	case !matches(s.cfg.ReadOnly, call.Service, call.Method) && !matches(s.cfg.MirrorWrites, call.Service, call.Method):
		m.NotMirrored++
		return
	case len(s.cfg.Methods) > 0 && !matches(s.cfg.Methods, call.Service, call.Method):
		return
	case s.cfg.Rate < 1 && s.cfg.Rand() >= s.cfg.Rate:
		return
	}
	select {
	case s.jobs <- job{call: call, primary: primary, target: target}:
		m.Mirrored++
		m.pending++
	default:
		m.Dropped++
	}
}

func (s *Shadow) work() {
	defer s.wg.Done()
	for j := range s.jobs {
		s.compare(j)
	}
}

// compare makes the candidate call and the baseline call, then classifies.
func (s *Shadow) compare(j job) {
	key := j.call.Service + "/" + j.call.Method
	defer func() {
		s.mu.Lock()
		s.methods[key].pending--
		s.mu.Unlock()
	}()
	a := outcome(j.primary.Result, j.primary.Err, j.primary.Elapsed)
	var wg sync.WaitGroup
	var b, a2 compat.Outcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		b = s.timed(func(ctx context.Context) (*diracrpc.Result, error) {
			c, err := j.call.Dial(ctx, j.target)
			if err != nil {
				return nil, err
			}
			return c.Call(ctx, j.call.Method, j.call.Args...)
		})
	}()
	if !s.cfg.NoBaseline {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a2 = s.timed(j.call.Again)
		}()
	}
	wg.Wait()
	var noise []compat.Difference
	if !s.cfg.NoBaseline && !failed(a2) {
		noise = compat.CompareOutcomes(a, a2)
	}
	diffs := compat.CompareOutcomes(a, b)
	if !s.cfg.NoBaseline && matches(s.cfg.ReadOnly, j.call.Service, j.call.Method) && s.unexplained(j, noise, diffs) {
		// The baseline ran beside the candidate, so a value that moves with
		// time (a clock, a proxy's seconds left) may have moved for one and
		// not yet for the other. The primary asked once more, now that the
		// candidate has answered, has had at least as long to move.
		if a3 := s.timed(j.call.Again); !failed(a3) {
			noise = append(noise, compat.CompareOutcomes(a, a3)...)
		}
	}
	s.record(j, a, b, noise, diffs)
}

// unexplained reports whether one of diffs is neither an expected protocol
// difference nor noise, learned before or in noise.
func (s *Shadow) unexplained(j job, noise, diffs []compat.Difference) bool {
	m := s.stats(j.call.Service, j.call.Method)
	fresh := make(map[string]bool, len(noise))
	for _, d := range noise {
		fresh[noiseKey(d)] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range diffs {
		k := noiseKey(d)
		if _, learned := m.noise[k]; !d.Kind.Expected() && !learned && !fresh[k] {
			return true
		}
	}
	return false
}

// failed: the call could not be made (not an S_ERROR, which is an answer).
func failed(o compat.Outcome) bool {
	if o.Err == nil {
		return false
	}
	_, isS := o.SError()
	return !isS
}

// candidateFailed: the candidate could not be called, and compat did not
// match its failure with the primary's answer (an HTTPS 500 against DISET's
// "Server error while serving" is an expected protocol difference, not a
// failure).
func candidateFailed(b compat.Outcome, diffs []compat.Difference) bool {
	if !failed(b) {
		return false
	}
	for _, d := range diffs {
		if d.Kind == compat.CallFailed {
			return true
		}
	}
	return len(diffs) == 0
}

// timed makes call within the shadow's timeout and returns its outcome and
// how long it took.
func (s *Shadow) timed(call func(context.Context) (*diracrpc.Result, error)) compat.Outcome {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	res, err := call(ctx)
	return outcome(res, err, time.Since(start))
}

func outcome(res *diracrpc.Result, err error, d time.Duration) compat.Outcome {
	o := compat.Outcome{Err: err, Elapsed: d}
	if res != nil {
		o.Value, o.Protocol, o.URL = res.Value, res.Protocol, res.URL
		if err == nil {
			// A Result handed to Mirror, or got by Again, may be undecoded.
			if dr, err := res.Decoded(); err != nil {
				o.Err = err
			} else {
				o.Value = dr.Value
			}
		}
	}
	return o
}

var index = regexp.MustCompile(`\[\d+\]`)

// noiseKey generalises list indices, so that a timestamp learned in one
// record of a list explains it in every record.
func noiseKey(d compat.Difference) string {
	return string(d.Kind) + " " + index.ReplaceAllString(d.Path, "[*]")
}

func (s *Shadow) record(j job, a, b compat.Outcome, noise, diffs []compat.Difference) {
	m := s.stats(j.call.Service, j.call.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range noise {
		k := noiseKey(d)
		if _, ok := m.noise[k]; !ok {
			m.noise[k] = struct{}{}
			m.Noise = append(m.Noise, k)
			sort.Strings(m.Noise)
		}
	}
	if candidateFailed(b, diffs) {
		m.CandidateErrors++
		m.addExample(s.cfg.Examples, Example{Kind: "candidate-error", Path: "$", Args: compat.Repr(j.call.Args),
			Primary: describe(a), Candidate: b.Err.Error()})
		s.log.Info("shadow: candidate call failed", "service", j.call.Service, "method", j.call.Method, "err", b.Err)
		return
	}
	m.Compared++
	var expected, explained, divergent int
	for _, d := range diffs {
		switch _, isNoise := m.noise[noiseKey(d)]; {
		case d.Kind.Expected():
			expected++
		case isNoise:
			explained++
		default:
			divergent++
			m.addExample(s.cfg.Examples, Example{Kind: string(d.Kind), Path: d.Path, Args: compat.Repr(j.call.Args),
				Primary: d.A, Candidate: d.B, Detail: d.Detail})
		}
	}
	switch {
	case divergent > 0:
		m.Divergent++
		s.log.Warn("shadow: divergence", "service", j.call.Service, "method", j.call.Method, "differences", divergent)
	case explained > 0:
		m.NoiseOnly++
	case expected > 0:
		m.ExpectedOnly++
	default:
		m.Identical++
	}
}

func describe(o compat.Outcome) string {
	if o.Err != nil {
		return o.Err.Error()
	}
	if v, err := compat.ToModel(o.Value); err == nil {
		return compat.Repr(v)
	}
	return ""
}

// methodStats is one method's line of the report.
type methodStats struct {
	MethodReport
	noise   map[string]struct{}
	pending int
}

func (s *Shadow) stats(service, method string) *methodStats {
	key := service + "/" + method
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.methods[key]
	if !ok {
		m = &methodStats{MethodReport: MethodReport{Service: service, Method: method, Noise: []string{}, Examples: []Example{}},
			noise: make(map[string]struct{})}
		s.methods[key] = m
	}
	return m
}

func (m *methodStats) addExample(max int, e Example) {
	if len(m.Examples) < max {
		m.Examples = append(m.Examples, e)
	}
}

// Report returns a snapshot of the report, methods sorted by name.
func (s *Shadow) Report() *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{Started: s.started, Elapsed: time.Since(s.started).Round(time.Millisecond).String(),
		Methods: make([]MethodReport, 0, len(s.methods))}
	for _, m := range s.methods {
		mr := m.MethodReport
		mr.Noise = append([]string{}, m.Noise...)
		mr.Examples = append([]Example{}, m.Examples...)
		r.Methods = append(r.Methods, mr)
		r.Totals.add(mr)
	}
	sort.Slice(r.Methods, func(i, j int) bool {
		return strings.Compare(r.Methods[i].Service+"/"+r.Methods[i].Method, r.Methods[j].Service+"/"+r.Methods[j].Method) < 0
	})
	return r
}
