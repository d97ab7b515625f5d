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
