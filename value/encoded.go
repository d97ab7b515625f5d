package value

import "sync"

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
// encoders, MaxDepth counts from the Encoded: it is encoded on its own.
type Encoded struct {
	v     any
	forms sync.Map // dialect -> func() (string, error), from sync.OnceValues
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
func (x *Encoded) form(ee EncodedEmitter) (string, error) {
	d := ee.EncodedDialect()
	f, ok := x.forms.Load(d)
	if !ok {
		f, _ = x.forms.LoadOrStore(d, sync.OnceValues(func() (string, error) {
			b, err := ee.EncodeValue(x.v)
			return string(b), err
		}))
	}
	return f.(func() (string, error))()
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
	// position. It must not use the emitter's state: the bytes are kept
	// for every emitter of the dialect, and may be made on behalf of one
	// while another is in use.
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
	text, err := x.form(ee)
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
