package compat

// Kind names one kind of difference between the two answers to a call.
type Kind string

// Expected kinds: documented consequences of DIRAC's encodings and of the
// two protocols reporting the same thing in their own way.
const (
	// TupleBecameList: one side has a tuple where the other has a list (JSON
	// has no tuples).
	TupleBecameList Kind = "tuple-became-list"
	// KeyBecameString: a dict key that is an int, float, bool or None on one
	// side is its JSON spelling ("1", "2.5", "true", "null") on the other.
	KeyBecameString Kind = "key-became-string"
	// KeysCollided: two keys became the same string in JSON ({1: a, "1": b}),
	// so one entry is missing on the JSON side, as json.dumps leaves it.
	KeysCollided Kind = "keys-collided"
	// MicrosecondsDropped: the same datetime, with microseconds on one side
	// only (JSON datetimes have whole seconds).
	MicrosecondsDropped Kind = "microseconds-dropped"
	// BytesBecameStr: the same bytes, as bytes on one side and str on the
	// other (DEncode has no bytes type: bytes arrive as str).
	BytesBecameStr Kind = "bytes-became-str"
	// NotImplementedForm: an unknown method, reported by DISET as
	// "Unknown method <m>" and by HTTPS as ENOSYS (38, HTTP 501).
	NotImplementedForm Kind = "not-implemented-form"
	// UnauthorizedForm: a refused call, reported by DISET as ENOAUTH (1111)
	// and by HTTPS as EACCES (13, HTTP 401/403).
	UnauthorizedForm Kind = "unauthorized-form"
	// ExceptionForm: the handler raised; DISET answers "Server error while
	// serving <m>: ...", HTTPS answers HTTP 500 without details. Also DISET's
	// argument checks ("Function <m> expects at least", "Type mismatch in
	// parameter") against HTTPS's 500: Tornado lets the handler raise.
	ExceptionForm Kind = "exception-form"
)

// Divergent kinds: differences no protocol explains.
const (
	// TypeMismatch: values of different types (int vs float, str vs list...).
	TypeMismatch Kind = "type-mismatch"
	// ValueMismatch: values of the same type that differ.
	ValueMismatch Kind = "value-mismatch"
	// LengthMismatch: lists or tuples of different lengths.
	LengthMismatch Kind = "length-mismatch"
	// MissingKey: a dict key present on side A only.
	MissingKey Kind = "missing-key"
	// ExtraKey: a dict key present on side B only.
	ExtraKey Kind = "extra-key"
	// KeyOrder: the same keys in a different order (both encodings keep the
	// order of Python dicts).
	KeyOrder Kind = "key-order"
	// OutcomeMismatch: S_OK on one side, S_ERROR on the other.
	OutcomeMismatch Kind = "outcome-mismatch"
	// ErrnoMismatch: both S_ERROR, different Errno.
	ErrnoMismatch Kind = "errno-mismatch"
	// MessageMismatch: both S_ERROR, different Message.
	MessageMismatch Kind = "message-mismatch"
	// CallFailed: one side could not be called (network, TLS, credentials,
	// protocol error) while the other answered.
	CallFailed Kind = "call-failed"
	// ExpectationFailed: an answer does not match the call's expectation.
	ExpectationFailed Kind = "expectation-failed"
)

// Expected reports whether k is a documented protocol difference.
func (k Kind) Expected() bool {
	switch k {
	case TupleBecameList, KeyBecameString, KeysCollided, MicrosecondsDropped, BytesBecameStr,
		NotImplementedForm, UnauthorizedForm, ExceptionForm:
		return true
	}
	return false
}

// Kinds lists every kind, expected ones first.
func Kinds() []Kind {
	return []Kind{
		TupleBecameList, KeyBecameString, KeysCollided, MicrosecondsDropped, BytesBecameStr,
		NotImplementedForm, UnauthorizedForm, ExceptionForm,
		TypeMismatch, ValueMismatch, LengthMismatch, MissingKey, ExtraKey, KeyOrder,
		OutcomeMismatch, ErrnoMismatch, MessageMismatch, CallFailed, ExpectationFailed,
	}
}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds() {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Difference is one difference, found at Path: "$" is the value itself,
// then ["key"], [1] (an int key or an index) as Python would subscript it.
// A and B describe the two sides in Python's repr (possibly shortened).
type Difference struct {
	Path   string `json:"path"`
	Kind   Kind   `json:"kind"`
	A      string `json:"a,omitempty"`
	B      string `json:"b,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Accepted is set by Judge: the difference is expected, or allowed by the
	// options or the call's expectation, so it does not make the call
	// divergent.
	Accepted bool `json:"accepted"`
}

// Expected reports whether the difference is a documented protocol difference.
func (d Difference) Expected() bool { return d.Kind.Expected() }
