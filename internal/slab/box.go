package slab

import (
	"time"
	"unsafe"
)

// Boxable lists the types Boxes can put in an interface: none of them is
// pointer-shaped, so an interface holding one points to a copy of the value,
// which is what Box builds by hand.
type Boxable interface {
	int64 | float64 | string | time.Time | ~[]any
}

// Boxes makes interface values whose data lives in batches, where any(v)
// would allocate one small object per value. A decoder building a tree of
// thousands of ints, strings and times pays for a few batches instead, and the
// garbage collector has a few objects to trace instead of thousands.
//
// A value boxed here keeps its whole batch (at most Max items) alive, and the
// batch is never written again once a value in it has been handed out: values
// in interfaces are immutable, and so are these. Set Min and Max as for Slab.
type Boxes[T Boxable] struct {
	Slab[T]
	typ unsafe.Pointer // T's type word, set by the first Box
}

// eface is the runtime's layout of an empty interface: the type word, then a
// pointer to the value (for types that are not pointer-shaped). It has been
// the layout of every Go release; TestBoxMatchesConversion checks it.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// Box returns v in an interface, as any(v) would, with v's copy in a batch.
func (b *Boxes[T]) Box(v T) any {
	if b.typ == nil {
		// T's type word, from an ordinary conversion (once per Boxes).
		var typed any = v
		b.typ = (*eface)(unsafe.Pointer(&typed)).typ
	}
	p := b.One()
	*p = v
	var out any
	e := (*eface)(unsafe.Pointer(&out))
	e.typ, e.data = b.typ, unsafe.Pointer(p)
	return out
}

// Bytes cuts byte slices out of batches and turns them into strings without a
// copy each, for the same reason as Boxes. Strings made here are never written
// again.
type Bytes struct {
	Slab[byte]
}

// String returns a string holding a copy of b.
func (s *Bytes) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > s.Max/4 {
		// As Take would, an allocation of its own; string(b) spares the
		// zeroing of memory that make([]byte) does before the copy.
		return string(b)
	}
	dst := s.Take(len(b))
	copy(dst, b)
	return unsafe.String(&dst[0], len(dst))
}
