package value

import (
	"math/big"
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
