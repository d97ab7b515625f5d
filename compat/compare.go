package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
)

// Status is the verdict on one call.
type Status string

// The verdicts, from best to worst.
const (
	// Identical: the same value, or the same S_ERROR (Errno and Message).
	Identical Status = "identical"
	// Expected: only expected (or explicitly allowed) differences.
	Expected Status = "expected"
	// Divergent: at least one difference no protocol explains, or a failed
	// expectation.
	Divergent Status = "divergent"
	// Failed: a side could not be called at all (network, TLS, credentials,
	// protocol error), so the answers could not be compared.
	Failed Status = "failed"
)

func (s Status) rank() int {
	return slices.Index([]Status{Identical, Expected, Failed, Divergent}, s)
}

// Call is one call to make on both sides.
type Call struct {
	// Name labels the call in reports; default: the call in Python syntax.
	Name string
	// Method and Args are the call; Args hold the generic model or Go values.
	Method string
	Args   []any
	// Expect, when set, is checked against both answers.
	Expect *Expect
}

// Label returns Name, or method(args...) in Python syntax.
func (c Call) Label() string {
	if c.Name != "" {
		return c.Name
	}
	parts := make([]string, len(c.Args))
	for i, a := range c.Args {
		if m, err := ToModel(a); err == nil {
			a = m
		}
		parts[i] = Repr(a)
	}
	return cut(c.Method+"("+strings.Join(parts, ", ")+")", 120)
}

// Expect is what a call must answer on each side. Zero fields check nothing.
type Expect struct {
	// OK, when set, requires S_OK (true) or S_ERROR (false).
	OK *bool
	// Value, when HasValue, is the S_OK value; it is compared with Diff, so
	// the expected protocol differences pass unless Strict.
	Value    any
	HasValue bool
	// Errno, when set, is the S_ERROR's Errno.
	Errno *int
	// Message is the exact S_ERROR message; MessageContains a part of it.
	Message         string
	MessageContains string
	// Allow lists further kinds accepted for this call (for example
	// key-order, or value-mismatch for a method answering the time).
	Allow []Kind
	// Strict makes every difference between the sides a divergence, the
	// expected protocol differences included.
	Strict bool
}

// Outcome is one side's answer to a call.
type Outcome struct {
	// Value is the S_OK value (generic model); Err the error otherwise.
	Value any
	Err   error
	// Elapsed is the time the call took.
	Elapsed time.Duration
	// Protocol and URL are where the call was served, when known.
	Protocol diracrpc.Protocol
	URL      string
}

// SError returns the S_ERROR the side answered, if it answered one.
func (o Outcome) SError() (*diracrpc.Error, bool) {
	var e *diracrpc.Error
	if o.Err != nil && errors.As(o.Err, &e) {
		return e, true
	}
	return nil, false
}

// form is the protocol-independent meaning of a failure.
type form int

const (
	formNone form = iota
	formNotImplemented
	formUnauthorized
	formException
)

// failureForm reads a failure the same way for both protocols (CodeOf),
// plus the forms DIRAC's own Python client gives the same failures in
// recorded outcomes: its HTTPS client's "No access to" (Errno 13) and
// "500 Server Error" texts.
func failureForm(err error) form {
	if err == nil {
		return formNone
	}
	var e *diracrpc.Error
	isErr := errors.As(err, &e)
	switch code := diracrpc.CodeOf(err); {
	case code == diracrpc.CodeNotImplemented:
		return formNotImplemented
	case code == diracrpc.CodeUnauthorized,
		isErr && e.Errno == diracrpc.EACCES && strings.Contains(e.Message, "No access to"):
		return formUnauthorized
	case code == diracrpc.CodeServerFailure,
		isErr && strings.HasPrefix(e.Message, "500 Server Error"):
		return formException
	}
	return formNone
}

// argumentCheck tells DISET's argument checks (DIRAC's RequestHandler,
// and the Go server's) by their messages.
func argumentCheck(msg string) bool {
	return strings.HasPrefix(msg, "Type mismatch in parameter ") ||
		strings.HasPrefix(msg, "Function ") && strings.Contains(msg, " expects at least ")
}

var formKinds = map[form]Kind{
	formNotImplemented: NotImplementedForm,
	formUnauthorized:   UnauthorizedForm,
	formException:      ExceptionForm,
}

// CompareOutcomes classifies the differences between two answers to the same
// call. Failures that are not S_ERRORs (network, TLS...) and cannot be
// matched with the other side's answer give a CallFailed difference.
func CompareOutcomes(a, b Outcome) []Difference {
	ea, aIsS := a.SError()
	eb, bIsS := b.SError()
	switch {
	case a.Err == nil && b.Err == nil:
		va, errA := ToModel(a.Value)
		vb, errB := ToModel(b.Value)
		if errA != nil || errB != nil {
			return []Difference{{Path: "$", Kind: ValueMismatch, Detail: fmt.Sprintf("not DIRAC values: %v %v", errA, errB)}}
		}
		return Diff(va, vb)
	case a.Err == nil || b.Err == nil:
		failed, side := b, "B"
		if a.Err != nil {
			failed, side = a, "A"
		}
		if _, isS := failed.SError(); isS || failureForm(failed.Err) != formNone {
			return []Difference{{Path: "$", Kind: OutcomeMismatch, A: outcomeRepr(a), B: outcomeRepr(b),
				Detail: "S_OK on one side, S_ERROR on the other"}}
		}
		return []Difference{{Path: "$", Kind: CallFailed, A: outcomeRepr(a), B: outcomeRepr(b),
			Detail: "side " + side + " could not be called: " + failed.Err.Error()}}
	}
	// Both failed.
	if aIsS && bIsS && ea.Errno == eb.Errno && ea.Message == eb.Message {
		return nil
	}
	fa, fb := failureForm(a.Err), failureForm(b.Err)
	// Two refusals with the same Errno are one protocol's answers (say a
	// handler's own S_ERROR(1111, ...)): their messages must agree.
	sameRefusal := fa == formUnauthorized && aIsS && bIsS && ea.Errno == eb.Errno
	if fa != formNone && fa == fb && !sameRefusal {
		return []Difference{{Path: "$", Kind: formKinds[fa], A: outcomeRepr(a), B: outcomeRepr(b)}}
	}
	if (fa == formException) != (fb == formException) {
		// One side's handler raised (an HTTPS 500), the other answered an
		// S_ERROR. DISET's framework checks the arguments before the
		// handler runs, where Tornado's lets the handler raise: an
		// argument check's S_ERROR against a 500 is the protocols'
		// difference. Any other S_ERROR is a divergence: both sides
		// answered, differently.
		se, sIsS := ea, aIsS
		if fa == formException {
			se, sIsS = eb, bIsS
		}
		if sIsS {
			if argumentCheck(se.Message) {
				return []Difference{{Path: "$", Kind: ExceptionForm, A: outcomeRepr(a), B: outcomeRepr(b),
					Detail: "DISET checked the arguments, HTTPS's handler raised"}}
			}
			return []Difference{{Path: "$", Kind: MessageMismatch, A: outcomeRepr(a), B: outcomeRepr(b),
				Detail: "a handler failure on one side, an S_ERROR on the other"}}
		}
	}
	var out []Difference
	if !aIsS || !bIsS {
		if !aIsS {
			out = append(out, Difference{Path: "$", Kind: CallFailed, A: outcomeRepr(a), B: outcomeRepr(b),
				Detail: "side A could not be called: " + a.Err.Error()})
		}
		if !bIsS {
			out = append(out, Difference{Path: "$", Kind: CallFailed, A: outcomeRepr(a), B: outcomeRepr(b),
				Detail: "side B could not be called: " + b.Err.Error()})
		}
		return out
	}
	if ea.Errno != eb.Errno {
		out = append(out, Difference{Path: "Errno", Kind: ErrnoMismatch,
			A: fmt.Sprint(ea.Errno), B: fmt.Sprint(eb.Errno)})
	}
	if ea.Message != eb.Message {
		out = append(out, Difference{Path: "Message", Kind: MessageMismatch,
			A: shortRepr(ea.Message), B: shortRepr(eb.Message)})
	}
	return out
}

// outcomeRepr describes an answer in a line.
func outcomeRepr(o Outcome) string {
	if o.Err == nil {
		v, err := ToModel(o.Value)
		if err != nil {
			v = o.Value
		}
		return "S_OK(" + shortRepr(v) + ")"
	}
	if e, ok := o.SError(); ok {
		return fmt.Sprintf("S_ERROR(%d, %s)", e.Errno, shortRepr(e.Message))
	}
	return "failed: " + o.Err.Error()
}

// checkExpect returns the ways o misses x, as ExpectationFailed differences.
func checkExpect(side string, o Outcome, x *Expect) []Difference {
	var out []Difference
	fail := func(path, detail, want, got string) {
		out = append(out, Difference{Path: path, Kind: ExpectationFailed, A: want, B: got,
			Detail: "side " + side + ": " + detail})
	}
	e, isS := o.SError()
	if o.Err != nil && !isS {
		return nil // no answer to check: the case is Failed already
	}
	if x.OK != nil && *x.OK != (o.Err == nil) {
		want := "S_OK"
		if !*x.OK {
			want = "S_ERROR"
		}
		fail("OK", "wrong outcome", want, outcomeRepr(o))
		return out
	}
	if x.HasValue {
		if o.Err != nil {
			fail("$", "expected a value", shortRepr(x.Value), outcomeRepr(o))
		} else {
			want, err1 := ToModel(x.Value)
			got, err2 := ToModel(o.Value)
			if err1 != nil || err2 != nil {
				fail("$", fmt.Sprintf("not DIRAC values: %v %v", err1, err2), shortRepr(x.Value), outcomeRepr(o))
			}
			for _, d := range Diff(want, got) {
				if !accepted(d.Kind, x, x.Strict) {
					fail(d.Path, string(d.Kind)+" (expected value vs answer)", d.A, d.B)
				}
			}
		}
	}
	if isS {
		if x.Errno != nil && e.Errno != *x.Errno {
			fail("Errno", "wrong Errno", fmt.Sprint(*x.Errno), fmt.Sprint(e.Errno))
		}
		if x.Message != "" && e.Message != x.Message {
			fail("Message", "wrong Message", shortRepr(x.Message), shortRepr(e.Message))
		}
		if x.MessageContains != "" && !strings.Contains(e.Message, x.MessageContains) {
			fail("Message", "Message lacks the expected text", shortRepr(x.MessageContains), shortRepr(e.Message))
		}
	} else if x.Errno != nil || x.Message != "" || x.MessageContains != "" {
		fail("OK", "expected an S_ERROR", "S_ERROR", outcomeRepr(o))
	}
	return out
}

func accepted(k Kind, x *Expect, strict bool) bool {
	if x != nil && slices.Contains(x.Allow, k) {
		return true
	}
	return !strict && k.Expected()
}
