package value

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Emitter receives a value as a stream of events. Both DIRAC encoders
// implement it, so that one reflection walk (Walk) serves DEncode and JSON
// alike: Go's ordinary types, the types of this package and the generic
// model all go through the same path.
//
// Containers are announced with their length; the walker then emits exactly
// that many items (for dicts: key then value, for each entry) and calls End.
type Emitter interface {
	Nil() error
	Bool(b bool) error
	Int(i int64) error
	Uint(u uint64) error
	BigInt(i *big.Int) error
	Float(f float64) error
	String(s string) error
	Bytes(b []byte) error
	BeginList(n int) error
	BeginTuple(n int) error
	BeginDict(n int) error
	End() error
	Time(t time.Time) error
	Date(d Date) error
	TimeOfDay(t TimeOfDay) error
	// Object is called for a *Object; the walker then emits its Attrs as a dict.
	Object(class, module string) error
}

// KeyEmitter is an optional extension of Emitter for the field names of
// structs, which repeat for every value of a type: Walk asks EncodeKey once
// per field for the bytes String would write for the name in key position,
// caches them per KeyDialect, and then writes them with RawKey instead of
// calling String.
type KeyEmitter interface {
	Emitter
	// KeyDialect names the encoding EncodeKey produces; emitters whose
	// prepared keys are interchangeable return the same name.
	KeyDialect() string
	// EncodeKey returns what String(name) writes in key position (without
	// the separators that depend on the position in the dict).
	EncodeKey(name string) []byte
	// RawKey writes a key prepared by EncodeKey, in key position.
	RawKey(encoded []byte) error
}

// MaxDepth bounds the nesting of containers that Walk follows and that the
// decoders accept. DIRAC's Python peers cannot go much deeper either: their
// recursion limit is about 1000 frames. It also turns a self-referential Go
// value into an error instead of a stack overflow.
const MaxDepth = 1000

// ErrUnsupported is wrapped by the errors Walk returns for Go values that have
// no DIRAC counterpart (channels, functions, complex numbers, sets...).
var ErrUnsupported = errors.New("not representable as a DIRAC value")

// ErrTooDeep is wrapped by the errors returned when a value nests deeper than
// MaxDepth, when encoding (often a cyclic value) or decoding.
var ErrTooDeep = fmt.Errorf("nesting deeper than %d levels", MaxDepth)

// Marshaler is implemented by types that convert themselves to a value Walk
// accepts (typically the generic model) before being encoded.
type Marshaler interface {
	DiracValue() (any, error)
}

// EncodeError reports a value Walk could not turn into DIRAC events.
type EncodeError struct {
	// Path locates the value inside the top-level one: "[2].Jobs" is field
	// (or string key) Jobs of item 2. Empty at top level.
	Path string
	// Type is the Go type that cannot be encoded; nil when the Emitter refused
	// the value (Err then says why).
	Type reflect.Type
	// Err is the cause: ErrUnsupported, ErrTooDeep, or the Emitter's error.
	Err error
}

func (e *EncodeError) Error() string {
	var b strings.Builder
	b.WriteString("value: ")
	if e.Type != nil {
		b.WriteString("cannot encode ")
		b.WriteString(e.Type.String())
		if e.Path != "" {
			b.WriteString(" at ")
			b.WriteString(strings.TrimPrefix(e.Path, "."))
		}
		if e.Err != nil && e.Err != ErrUnsupported {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
		return b.String()
	}
	if e.Path != "" {
		b.WriteString("at ")
		b.WriteString(strings.TrimPrefix(e.Path, "."))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *EncodeError) Unwrap() error { return e.Err }

// atPath prefixes the path of err with seg (built while unwinding, so the
// success path pays nothing for it).
func atPath(err error, seg string) error {
	if ee, ok := err.(*EncodeError); ok {
		ee.Path = seg + ee.Path
		return ee
	}
	return &EncodeError{Path: seg, Err: err}
}

func indexSeg(i int) string { return "[" + strconv.Itoa(i) + "]" }

func keySeg(k any) string {
	if s, ok := k.(string); ok {
		return "." + s
	}
	return fmt.Sprintf("[%v]", k)
}

func unsupported(t reflect.Type, why error) error {
	return &EncodeError{Type: t, Err: why}
}

// Walk emits v to e as a stream of events. It accepts the generic model (nil,
// bool, int64, *big.Int, float64, string, []byte, []any, Tuple, *Dict or Dict,
// time.Time, Date, TimeOfDay, *Object), types implementing Marshaler, and Go's
// ordinary types:
//
//   - every int and uint kind (Int and Uint events), float64, and float32
//     (converted through its shortest decimal form, so float32(0.1) is sent as
//     0.1, as a user who wrote 0.1 expects);
//   - string kinds; []byte and other byte slices (Bytes events);
//   - slices and arrays (lists); nil slices and nil maps are empty lists and
//     dicts: Python has no nil container, and a peer handed None where it
//     expects a container usually fails;
//   - maps (dicts) with string, integer, float, bool, time.Time, Date or
//     TimeOfDay keys, or interface keys holding such values. Go maps have no
//     order, so keys are emitted sorted: strings byte-wise, numbers
//     numerically, and for interface keys by kind first (None, bool, numbers,
//     strings, dates/times). Use *Dict when the order matters. Maps whose values
//     are struct{} (Go's sets) are refused, as DIRAC refuses Python sets;
//   - structs (dicts with string keys): exported fields, named by a
//     `dirac:"name"` tag or else the field name; `dirac:"-"` skips a field;
//     the options omitempty (false, 0, "", nil, empty containers) and omitzero
//     (the zero value, or IsZero() true) drop a field. Embedded structs are
//     flattened with encoding/json's rules (the shallowest field wins, then a
//     tagged one; ambiguous names are dropped);
//   - pointers and interfaces (nil gives Nil); time.Time (Time events, in UTC
//     whatever its location: DIRAC datetimes are naive UTC).
//
// Everything else (channels, functions, complex numbers, unsafe pointers) makes
// Walk fail with an *EncodeError naming the Go type and its path. Nesting
// deeper than MaxDepth (including any cyclic value) fails with ErrTooDeep.
// Errors returned by e are wrapped in an *EncodeError with their path too.
func Walk(v any, e Emitter) error {
	w := walker{e: e}
	w.ke, _ = e.(KeyEmitter)
	if in, ok := v.(*encodingOf); ok {
		w.within, v = in, in.x.v // an Encoded's first encoding
	}
	err := w.value(v, 0)
	if _, ok := err.(*EncodeError); err != nil && !ok {
		err = &EncodeError{Err: err}
	}
	return err
}

type walker struct {
	e  Emitter
	ke KeyEmitter // e, when it prepares struct keys; else nil
	// within: the Encoded values whose first encodings this walk is part of.
	within *encodingOf
}

// value handles the model types without reflection: this is the hot path for
// decoded values being sent again.
func (w walker) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		return w.e.Nil()
	case string:
		return w.e.String(x)
	case int64:
		return w.e.Int(x)
	case int:
		return w.e.Int(int64(x))
	case bool:
		return w.e.Bool(x)
	case float64:
		return w.e.Float(x)
	case *Dict:
		if x == nil {
			return w.e.Nil()
		}
		return w.dict(x, depth)
	case []any:
		return w.list(x, false, depth)
	case Tuple:
		return w.list(x, true, depth)
	case map[string]any:
		return w.stringMap(x, depth)
	case []byte:
		return w.e.Bytes(x)
	case time.Time:
		return w.e.Time(x.UTC())
	case *big.Int:
		if x == nil {
			return w.e.Nil()
		}
		return w.e.BigInt(x)
	case Date:
		return w.e.Date(x)
	case TimeOfDay:
		return w.e.TimeOfDay(x)
	case *Object:
		return w.object(x, depth)
	case int32:
		return w.e.Int(int64(x))
	case uint64:
		return w.e.Uint(x)
	case []string:
		if err := w.enter(depth); err != nil {
			return err
		}
		if err := w.e.BeginList(len(x)); err != nil {
			return err
		}
		for i, s := range x {
			if err := w.e.String(s); err != nil {
				return atPath(err, indexSeg(i))
			}
		}
		return w.e.End()
	case Dict:
		return w.dict(&x, depth)
	case *Encoded:
		return w.encoded(x, depth)
	}
	rv := reflect.ValueOf(v)
	return typeEncoder(rv.Type())(w, rv, depth)
}

func (w walker) enter(depth int) error {
	if depth >= MaxDepth {
		return &EncodeError{Err: ErrTooDeep}
	}
	return nil
}

func (w walker) list(l []any, tuple bool, depth int) error {
	if err := w.enter(depth); err != nil {
		return err
	}
	var err error
	if tuple {
		err = w.e.BeginTuple(len(l))
	} else {
		err = w.e.BeginList(len(l))
	}
	if err != nil {
		return err
	}
	for i, item := range l {
		if err := w.value(item, depth+1); err != nil {
			return atPath(err, indexSeg(i))
		}
	}
	return w.e.End()
}

func (w walker) dict(d *Dict, depth int) error {
	if err := w.enter(depth); err != nil {
		return err
	}
	if err := w.e.BeginDict(d.Len()); err != nil {
		return err
	}
	for _, en := range d.Entries() {
		if !Hashable(en.Key) {
			return &EncodeError{Path: keySeg(en.Key) + "(key)", Type: reflect.TypeOf(en.Key),
				Err: errors.New("unhashable dict key (Python raises TypeError)")}
		}
		if err := w.value(en.Key, depth+1); err != nil {
			return atPath(err, keySeg(en.Key)+"(key)")
		}
		if err := w.value(en.Value, depth+1); err != nil {
			return atPath(err, keySeg(en.Key))
		}
	}
	return w.e.End()
}

func (w walker) object(o *Object, depth int) error {
	if o == nil {
		return w.e.Nil()
	}
	if err := w.e.Object(o.Class, o.Module); err != nil {
		return err
	}
	attrs := o.Attrs
	if attrs == nil {
		attrs = &Dict{}
	}
	return w.dict(attrs, depth)
}

func (w walker) stringMap(m map[string]any, depth int) error {
	if err := w.enter(depth); err != nil {
		return err
	}
	// Small maps (the usual record) are sorted on the stack.
	type kv struct {
		k string
		v any
	}
	var small [16]kv
	pairs := small[:0]
	if len(m) > len(small) {
		pairs = make([]kv, 0, len(m))
	}
	for k, v := range m {
		pairs = append(pairs, kv{k, v})
	}
	slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	if err := w.e.BeginDict(len(pairs)); err != nil {
		return err
	}
	for _, p := range pairs {
		if err := w.e.String(p.k); err != nil {
			return atPath(err, keySeg(p.k))
		}
		if err := w.value(p.v, depth+1); err != nil {
			return atPath(err, keySeg(p.k))
		}
	}
	return w.e.End()
}
