package value

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Encoded is a value encoded once per encoding and then written as those
// bytes wherever it appears as a value (not as a dict key: JSON refuses it
// there): an answer that many calls send unchanged (a configuration dump,
// a cached listing) costs its encoding once rather than on every call.
// Make one with NewEncoded; it is safe for concurrent use.
//
// Emitters that implement EncodedEmitter (the JSON and DEncode encoders)
// write the stored bytes; every other consumer of Walk sees the value
// itself (Encoded is a Marshaler). The bytes are exactly what encoding the
// value in place would write; an encoding that fails fails the same way on
// every use. The value must not change once an Encoded holds it. For the
// encoders, MaxDepth counts from the Encoded: it is encoded on its own. A
// value that holds its own Encoded, directly or through other Encoded
// values, fails to encode with ErrEncodedCycle rather than waiting for its
// own first encoding, from any number of goroutines.
type Encoded struct {
	v     any
	forms sync.Map // dialect -> *form
}

// form is an Encoded's text in one dialect.
type form struct {
	text func() (string, error) // sync.OnceValues
	// started and done bracket the first encoding (see Encoded.form).
	started, done atomic.Bool
}

// NewEncoded returns v, to be encoded once per encoding when it is first
// written.
func NewEncoded(v any) *Encoded { return &Encoded{v: v} }

// DiracValue implements Marshaler: the value itself.
func (x *Encoded) DiracValue() (any, error) { return x.v, nil }

// form returns x encoded by ee, encoding it on first use of ee's dialect.
// sync.OnceValues keeps the outcome: an encoding error is returned on
// every use (the value does not change, nor does the error), and a panic
// (a Marshaler's) is raised again on every use rather than leaving an empty
// text to be written as the value.
//
// within is the chain of Encoded values whose first encodings are under way
// on this path: x's own encoding walks its value with x added to it, and
// meeting x again there is a cycle (see walker.encoded). A path inside
// another first encoding never waits for x's first encoding under way on
// another goroutine: that one may be waiting for this path's, through a
// cycle that neither chain shows. It encodes x itself (the same text, not
// kept). Of the goroutines of such a cycle, the last to look sees the
// others' encodings started, so one at least does not wait and the cycle
// is found.
func (x *Encoded) form(ee EncodedEmitter, within *encodingOf) (string, error) {
	d := ee.EncodedDialect()
	v, ok := x.forms.Load(d)
	if !ok {
		f := &form{}
		f.text = sync.OnceValues(func() (string, error) {
			f.started.Store(true)
			defer f.done.Store(true)
			return x.encode(ee, within)
		})
		v, _ = x.forms.LoadOrStore(d, f)
	}
	f := v.(*form)
	if within != nil && f.started.Load() && !f.done.Load() {
		return x.encode(ee, within)
	}
	return f.text()
}

func (x *Encoded) encode(ee EncodedEmitter, within *encodingOf) (string, error) {
	b, err := ee.EncodeValue(&encodingOf{x: x, within: within})
	return string(b), err
}

// ErrEncodedCycle: an Encoded's value holds the Encoded itself.
var ErrEncodedCycle = errors.New("value.Encoded holds itself")

// encodingOf is what form hands EncodeValue in place of x's value: Walk
// walks x.v, knowing the chain, so that meeting an Encoded of the chain is
// an error rather than a wait for itself (sync.OnceValues).
type encodingOf struct {
	x      *Encoded
	within *encodingOf
}

// holds reports whether x's first encoding is under way on this path.
func (in *encodingOf) holds(x *Encoded) bool {
	for ; in != nil; in = in.within {
		if in.x == x {
			return true
		}
	}
	return false
}

// EncodedEmitter is an optional extension of Emitter for *Encoded values:
// Walk asks EncodeValue once per dialect for the value's bytes, keeps them
// in the Encoded, and then writes them with Encoded.
type EncodedEmitter interface {
	Emitter
	// EncodedDialect names the encoding EncodeValue produces; emitters
	// whose encoded values are interchangeable return the same name.
	EncodedDialect() string
	// EncodeValue returns v encoded on its own, as it is written in value
	// position, by Walk (v is opaque: it is not the value, and must be
	// handed to Walk as it is). It must not use the emitter's state: the
	// bytes are kept for every emitter of the dialect, and may be made on
	// behalf of one while another is in use.
	EncodeValue(v any) ([]byte, error)
	// Encoded writes text made by EncodeValue, in value position. text is
	// never modified: it may be written from its own memory.
	Encoded(text string) error
}

func (w walker) encoded(x *Encoded, depth int) error {
	if x == nil {
		return w.e.Nil()
	}
	ee, ok := w.e.(EncodedEmitter)
	if !ok {
		return w.value(x.v, depth)
	}
	if w.within.holds(x) {
		return ErrEncodedCycle
	}
	text, err := x.form(ee, w.within)
	if err != nil {
		if e, ok := err.(*EncodeError); ok {
			// The kept error is shared: the walker's unwinding prefixes the
			// path of the copy (atPath writes to it), never of the original.
			c := *e
			return &c
		}
		return err
	}
	return ee.Encoded(text)
}
