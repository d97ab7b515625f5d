package diracrpc

import (
	"context"
	"fmt"

	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/value"
)

// Caller calls methods of one DIRAC service. A transport failure, a refused
// authorisation and a service's S_ERROR are all errors; an S_ERROR is an
// *Error (errors.As), the others match the sentinels of this package.
type Caller interface {
	Call(ctx context.Context, method string, args ...any) (*Result, error)
}

// Protocol names a wire protocol.
type Protocol string

// The protocols, named by their URL schemes.
const (
	DIPS  Protocol = "dips"
	DIP   Protocol = "dip"
	HTTPS Protocol = "https"
)

// Result is the outcome of a successful call (S_OK).
type Result struct {
	// Value is the S_OK value in the generic model of package value.
	Value any
	// Raw is the whole result payload as received (the DISET frame payload or
	// the HTTPS body), for tools that need the exact bytes. Read it, never
	// modify it: a large string of Value shares its memory (a 10 MB answer
	// is held once, not twice).
	Raw []byte
	// Protocol and URL say where the call was actually served.
	Protocol Protocol
	URL      string
	// Stub replays the call (see Stub); nil for file transfers.
	Stub *Stub
	// Extra holds the keys of the result dictionary besides OK and Value,
	// in their order, which some DIRAC services add to their S_OK
	// (JobManager's submitJob: JobID and requireProxyUpload); nil when
	// there are none.
	Extra *value.Dict

	// Undecoded says Value and Extra were left nil and Raw holds the
	// answer undecoded, as WithRawResult asks. Decode and Decoded decode it.
	Undecoded bool

	notModified bool // a transfer's ErrNotModified
}

// Decode stores the S_OK value into dst, a pointer, as encoding/json would:
// structs (dirac tags, then field names), maps, slices, time.Time... An
// Undecoded result is decoded from Raw first, on every call of Decode.
func (r *Result) Decode(dst any) error {
	d, err := r.Decoded()
	if err != nil {
		return err
	}
	return value.Assign(dst, d.Value)
}

// Decoded returns r with its Value and Extra: r itself, or, when r is
// Undecoded, a copy decoded from Raw (r is left as it is). Code that reads
// the Value or Extra of a Result it did not ask for undecoded itself, one
// got with a caller's ctx (which may carry WithRawResult) or handed to it,
// calls Decoded first, lest it take the undecoded answer for a nil value.
func (r *Result) Decoded() (*Result, error) {
	if !r.Undecoded {
		return r, nil
	}
	// Raw is never modified: strings may point into it.
	d, _, err := mixed.Decoder{ShareInput: true}.Decode(r.Raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	v, err := ParseResult(d)
	if err != nil {
		return nil, err
	}
	out := *r
	out.Value, out.Extra, out.Undecoded = v, ExtraKeys(d), false
	return &out, nil
}

// OK returns the S_OK dictionary {"OK": true, "Value": v}, keys in DIRAC's order.
func OK(v any) *value.Dict { return value.NewDict("OK", true, "Value", v) }

// Dict returns the S_ERROR dictionary for e, keys in DIRAC's order
// (OK, Errno, Message, CallStack). The CallStack is written only when
// withCallStack is true and there is one.
func (e *Error) Dict(withCallStack bool) *value.Dict {
	d := value.NewDict("OK", false, "Errno", int64(e.Errno), "Message", e.Message)
	if withCallStack && e.CallStack != nil {
		stack := make([]any, len(e.CallStack))
		for i, s := range e.CallStack {
			stack[i] = s
		}
		d.Set("CallStack", stack)
	}
	return d
}

// ParseResult interprets a decoded result dictionary as DIRAC's
// isReturnStructure does: OK true needs Value, OK false needs Message; Errno
// and CallStack are optional; other keys are ignored. It returns the S_OK
// value, or the S_ERROR as an *Error.
func ParseResult(v any) (any, error) {
	d, ok := v.(*value.Dict)
	if !ok {
		return nil, fmt.Errorf("%w: result is a %T, not a dict", ErrProtocol, v)
	}
	okv, found := d.Lookup("OK")
	if !found {
		return nil, fmt.Errorf("%w: result has no OK key", ErrProtocol)
	}
	if value.Truthy(okv) {
		val, found := d.Lookup("Value")
		if !found {
			return nil, fmt.Errorf("%w: S_OK result has no Value", ErrProtocol)
		}
		return val, nil
	}
	msg, found := d.Lookup("Message")
	if !found {
		return nil, fmt.Errorf("%w: S_ERROR result has no Message", ErrProtocol)
	}
	e := &Error{Message: text(msg)}
	if n, found := d.Lookup("Errno"); found {
		e.Errno = errnoOf(n)
	}
	if cs, found := d.Lookup("CallStack"); found {
		e.CallStack = stackOf(cs)
	}
	return nil, e
}

// ExtraKeys returns the keys of a result dictionary other than those
// ParseResult reads (OK, Value, Errno, Message, CallStack), in their order:
// Result.Extra. Nil when there are none or v is no dictionary.
func ExtraKeys(v any) *value.Dict {
	d, ok := v.(*value.Dict)
	if !ok || d.Len() <= 2 {
		return nil
	}
	var extra *value.Dict
	for _, e := range d.Entries() {
		switch e.Key {
		case "OK", "Value", "Errno", "Message", "CallStack":
			continue
		}
		if extra == nil {
			extra = value.NewDict()
		}
		extra.Set(e.Key, e.Value)
	}
	return extra
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}

func errnoOf(v any) int {
	switch v := v.(type) {
	case int64:
		return int(v)
	case float64:
		return int(v)
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func stackOf(v any) []string {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case value.Tuple:
		items = v
	case string:
		return []string{v}
	default:
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, text(it))
	}
	return out
}
