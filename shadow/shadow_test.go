package shadow_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/gateway"
	"github.com/diracgo/diracrpc/shadow"
	"github.com/diracgo/diracrpc/value"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake answers every attempt with answer (blocking while it does).
type fake struct {
	answer func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error)
	calls  atomic.Int64
}

func (f *fake) Attempt(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	f.calls.Add(1)
	return f.answer(ctx, a)
}

func (f *fake) Close() error { return nil }

func (f *fake) client(t *testing.T) *diracrpc.Client {
	c, err := diracrpc.NewClient([]string{"https://candidate.invalid:8443/Framework/Test"},
		diracrpc.Options{Attempts: 1, Logger: quiet, Breaker: diracrpc.BreakerSettings{Disabled: true}},
		func(*diracrpc.TransportConfig) (diracrpc.Transport, error) { return f, nil })
	require.NoError(t, err)
	return c
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// call is a forwarded call whose primary answered v, made again (the
// baseline) by again.
func call(t *testing.T, method string, cand *fake, again func() any) gateway.Call {
	c := cand.client(t)
	return gateway.Call{Service: "Framework/Test", Method: method, Args: []any{int64(1)},
		Again: func(ctx context.Context) (*diracrpc.Result, error) { return &diracrpc.Result{Value: again()}, nil },
		Dial:  func(ctx context.Context, _ string) (*diracrpc.Client, error) { return c, nil }}
}

func ok(v any) gateway.Outcome { return gateway.Outcome{Result: &diracrpc.Result{Value: v}} }

func newShadow(t *testing.T, cfg shadow.Config) *shadow.Shadow {
	cfg.Candidates = map[string]string{"Framework/Test": "https://candidate.invalid:8443/Framework/Test"}
	cfg.Logger = quiet
	s, err := shadow.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func drain(t *testing.T, s *shadow.Shadow) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Drain(ctx))
}

// TestMirrorNeverBlocks: a candidate that never answers holds the workers;
// Mirror still returns at once, drops what does not fit and counts it.
func TestMirrorNeverBlocks(t *testing.T) {
	hang := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"get"}, Workers: 2, Queue: 3, Timeout: time.Hour})
	c := call(t, "get", hang, func() any { return int64(1) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			s.Mirror(c, ok(int64(1)))
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Mirror blocked behind a hanging candidate")
	}
	r := s.Report().Methods[0]
	assert.Equal(t, 100, r.Calls)
	assert.LessOrEqual(t, r.Mirrored, 5, "2 running + 3 queued")
	assert.Equal(t, 100-r.Mirrored, r.Dropped)
	require.NoError(t, s.Close()) // cancels the hanging calls
	assert.Equal(t, r.Mirrored, s.Report().Methods[0].CandidateErrors)
}

// TestWritesNeverMirrored: only read-only methods and opted-in writes reach
// the candidate; Methods and Rate restrict sampling further.
func TestWritesNeverMirrored(t *testing.T) {
	echo := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		return &diracrpc.Result{Value: a.Args[0]}, nil
	}}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"get", "Framework/Test/list", "Other/Service/put"},
		MirrorWrites: []string{"setOptIn"}})
	for _, m := range []string{"get", "list", "put", "set", "setOptIn"} {
		s.Mirror(call(t, m, echo, func() any { return int64(1) }), ok(int64(1)))
	}
	drain(t, s)
	assert.EqualValues(t, 3, echo.calls.Load(), "get, list, setOptIn")
	for _, m := range s.Report().Methods {
		switch m.Method {
		case "put", "set":
			assert.Equal(t, 1, m.NotMirrored, m.Method)
			assert.Zero(t, m.Mirrored, m.Method)
		default:
			assert.Equal(t, 1, m.Identical, m.Method)
		}
	}

	sampled := newShadow(t, shadow.Config{ReadOnly: []string{"get"}, Rate: 0.5, Rand: func() float64 { return 0.7 }})
	sampled.Mirror(call(t, "get", echo, func() any { return int64(1) }), ok(int64(1)))
	drain(t, sampled)
	assert.Zero(t, sampled.Report().Methods[0].Mirrored, "not drawn")
}

// TestNoiseLearning: a counter differs between two answers of the primary:
// the baseline learns its path (list indices generalised) and explains the
// candidate's differences there; a value that differs only on the
// candidate is a divergence with both values; compat's protocol
// differences are counted apart.
func TestNoiseLearning(t *testing.T) {
	var n atomic.Int64
	answer := func(extra int64) any {
		return value.NewDict("jobs", []any{value.NewDict("id", int64(1), "seen", n.Add(1)),
			value.NewDict("id", int64(2), "seen", n.Add(1))}, "total", int64(2)+extra)
	}
	cand := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		switch a.Method {
		case "broken":
			return &diracrpc.Result{Value: answer(1)}, nil
		case "tuple":
			return &diracrpc.Result{Value: []any{int64(1), int64(2)}}, nil
		}
		return &diracrpc.Result{Value: answer(0)}, nil
	}}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"jobs", "broken", "tuple"}})
	for range 3 {
		s.Mirror(call(t, "jobs", cand, func() any { return answer(0) }), ok(answer(0)))
	}
	s.Mirror(call(t, "broken", cand, func() any { return answer(0) }), ok(answer(0)))
	tuple := value.Tuple{int64(1), int64(2)}
	s.Mirror(call(t, "tuple", cand, func() any { return tuple }), ok(tuple))
	drain(t, s)
	byName := map[string]shadow.MethodReport{}
	for _, m := range s.Report().Methods {
		byName[m.Method] = m
	}
	jobs := byName["jobs"]
	assert.Equal(t, 3, jobs.NoiseOnly, "%+v", jobs)
	assert.Equal(t, []string{"value-mismatch $['jobs'][*]['seen']"}, jobs.Noise)
	broken := byName["broken"]
	assert.Equal(t, 1, broken.Divergent)
	require.Len(t, broken.Examples, 1)
	assert.Equal(t, shadow.Example{Kind: "value-mismatch", Path: "$['total']", Args: "[1]", Primary: "2", Candidate: "3"},
		broken.Examples[0])
	assert.Equal(t, 1, byName["tuple"].ExpectedOnly)

	noBaseline := newShadow(t, shadow.Config{ReadOnly: []string{"jobs"}, NoBaseline: true})
	noBaseline.Mirror(call(t, "jobs", cand, func() any { panic("no baseline call expected") }), ok(answer(0)))
	drain(t, noBaseline)
	assert.Equal(t, 1, noBaseline.Report().Methods[0].Divergent)

	// Exports.
	var j, x bytes.Buffer
	require.NoError(t, s.Report().WriteJSON(&j))
	assert.Contains(t, j.String(), `"noiseOnly": 3`)
	require.NoError(t, s.Report().WriteJUnit(&x))
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(x.Bytes(), &doc))
	assert.Equal(t, 3, doc.Suites[0].Tests)
	assert.Equal(t, 1, doc.Suites[0].Failures)
}

// TestNoiseThatMovedOnlyForTheCandidate: a clock that ticks between the
// baseline and the candidate is still noise, learned from the primary asked
// once more after the candidate; a value the primary keeps is still a
// divergence, and an opted-in write is never run a third time.
func TestNoiseThatMovedOnlyForTheCandidate(t *testing.T) {
	var again atomic.Int64
	clock := func() any { return min(again.Add(1)-1, 1) } // the baseline sees 0, later calls 1
	cand := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		return &diracrpc.Result{Value: int64(1)}, nil
	}}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"now", "get"}, MirrorWrites: []string{"set"}})
	s.Mirror(call(t, "now", cand, clock), ok(int64(0)))
	drain(t, s)
	now := s.Report().Methods[0]
	assert.Equal(t, 1, now.NoiseOnly, "%+v", now)
	assert.Zero(t, now.Divergent)
	assert.Equal(t, []string{"value-mismatch $"}, now.Noise)
	assert.EqualValues(t, 2, again.Load(), "the baseline, then once more")

	var gets, sets atomic.Int64
	s.Mirror(call(t, "get", cand, func() any { gets.Add(1); return int64(0) }), ok(int64(0)))
	s.Mirror(call(t, "set", cand, func() any { sets.Add(1); return int64(0) }), ok(int64(0)))
	drain(t, s)
	for _, m := range s.Report().Methods {
		if m.Method != "now" {
			assert.Equal(t, 1, m.Divergent, m.Method)
		}
	}
	assert.EqualValues(t, 2, gets.Load(), "a read-only call asked once more")
	assert.EqualValues(t, 1, sets.Load(), "a write only run for the baseline")
}

// TestCandidateErrors: a candidate that cannot be called is counted apart,
// with the primary's answer and the error.
func TestCandidateErrors(t *testing.T) {
	down := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		return nil, &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: a.URL, Code: diracrpc.CodeUnreachable,
			Err: errors.New("connection refused")}
	}}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"get"}})
	s.Mirror(call(t, "get", down, func() any { return "x" }), ok("x"))
	drain(t, s)
	m := s.Report().Methods[0]
	assert.Equal(t, 1, m.CandidateErrors)
	assert.Zero(t, m.Compared)
	require.Len(t, m.Examples, 1)
	assert.Contains(t, m.Examples[0].Candidate, "connection refused")
	assert.Equal(t, "'x'", m.Examples[0].Primary)
}

func TestNewRefusesNothingToMirror(t *testing.T) {
	_, err := shadow.New(shadow.Config{ReadOnly: []string{"x"}})
	assert.Error(t, err)
	_, err = shadow.New(shadow.Config{Candidates: map[string]string{"A/B": "https://x/A/B"}})
	assert.Error(t, err)
	_ = fmt.Sprint()
}

// TestUndecodedResults: a primary's answer got WithRawResult (Undecoded,
// the S_OK in Raw) is compared by its value, not as None.
func TestUndecodedResults(t *testing.T) {
	echo := &fake{answer: func(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
		return &diracrpc.Result{Value: a.Args[0]}, nil
	}}
	raw := func() *diracrpc.Result {
		return &diracrpc.Result{Raw: []byte(`{"OK": true, "Value": 1}`), Undecoded: true}
	}
	s := newShadow(t, shadow.Config{ReadOnly: []string{"get"}})
	c := call(t, "get", echo, nil)
	c.Again = func(context.Context) (*diracrpc.Result, error) { return raw(), nil }
	s.Mirror(c, gateway.Outcome{Result: raw()})
	drain(t, s)
	m := s.Report().Methods[0]
	assert.Equal(t, 1, m.Identical, "%+v", m)
	assert.Zero(t, m.Divergent, "%+v", m)
}
