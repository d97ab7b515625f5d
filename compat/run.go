package compat

import (
	"context"
	"time"

	"github.com/diracgo/diracrpc"
)

// Options tunes Run. The zero value works.
type Options struct {
	// NameA and NameB label the sides in reports; default "A" and "B".
	NameA, NameB string
	// URLA and URLB are shown in reports when set.
	URLA, URLB string
	// Timeout bounds each call on each side; default 30 s.
	Timeout time.Duration
	// Strict makes every difference a divergence, for every call.
	Strict bool
	// Allow lists kinds accepted for every call, in addition to each call's
	// own Expect.Allow.
	Allow []Kind
}

// DefaultTimeout bounds each call when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Run makes each call on a, then on b, and compares the answers. It stops
// early only when ctx ends (the remaining calls are reported Failed).
func Run(ctx context.Context, a, b diracrpc.Caller, calls []Call, opts Options) *Report {
	rep := &Report{
		A:       Side{Name: orDefault(opts.NameA, "A"), URL: opts.URLA},
		B:       Side{Name: orDefault(opts.NameB, "B"), URL: opts.URLB},
		Started: time.Now(),
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	for _, c := range calls {
		oa := invoke(ctx, a, c, timeout)
		ob := invoke(ctx, b, c, timeout)
		rep.Cases = append(rep.Cases, Judge(c, oa, ob, opts))
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func invoke(ctx context.Context, c diracrpc.Caller, call Call, timeout time.Duration) Outcome {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := c.Call(ctx, call.Method, call.Args...)
	elapsed := time.Since(start)
	if err == nil && res != nil {
		// ctx is the caller's: it may ask for results undecoded.
		res, err = res.Decoded()
	}
	o := Outcome{Err: err, Elapsed: elapsed}
	if err == nil && res != nil {
		o.Value, o.Protocol, o.URL = res.Value, res.Protocol, res.URL
	}
	return o
}

// Judge compares two answers to call c and gives the verdict, applying the
// call's expectation and opts (Strict, Allow).
func Judge(c Call, a, b Outcome, opts Options) Case {
	cs := Case{Call: c, A: a, B: b}
	strict := opts.Strict || (c.Expect != nil && c.Expect.Strict)
	status := Identical
	worsen := func(s Status) {
		if s.rank() > status.rank() {
			status = s
		}
	}
	for _, d := range CompareOutcomes(a, b) {
		d.Accepted = accepted(d.Kind, c.Expect, strict) || containsKind(opts.Allow, d.Kind)
		switch {
		case d.Kind == CallFailed:
			worsen(Failed)
		case d.Accepted:
			worsen(Expected)
		default:
			worsen(Divergent)
		}
		cs.Differences = append(cs.Differences, d)
	}
	if c.Expect != nil {
		for _, side := range []struct {
			name string
			o    Outcome
		}{{"A", a}, {"B", b}} {
			for _, d := range checkExpect(side.name, side.o, c.Expect) {
				worsen(Divergent)
				cs.Differences = append(cs.Differences, d)
			}
		}
	}
	cs.Status = status
	return cs
}

func containsKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}
