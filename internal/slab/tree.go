package slab

import (
	"time"
	"unsafe"

	"github.com/diracgo/diracrpc/value"
)

// Tree is where a decoder builds one tree of values of the generic model:
// its lists, dicts and dict entries, and the boxed ints, floats, strings and
// datetimes, are cut from batches instead of being allocated one by one.
// Both DIRAC decoders use it. The zero value is ready for Start.
type Tree struct {
	anys    Slab[any]
	entries Slab[value.Entry]
	dicts   Slab[value.Dict]
	strs    Boxes[string]
	times   Boxes[time.Time]
	lists   Boxes[[]any]
	tuples  Boxes[value.Tuple]
	// Pointer-free batches: nothing in them can keep a tree alive, so a
	// Tree that is reused keeps them from one tree to the next.
	ints   Boxes[int64]
	floats Boxes[float64]
	bytes  Bytes
	// plain: the input is short, and its few values are boxed one by one
	// (batches would cost more than they save).
	plain bool
	// shared: the input, when its owner handed it over (see Share).
	shared []byte
}

// plainInput is the longest input whose values are boxed one by one.
const plainInput = 512

// treeMax bounds a batch (in items): 32 KiB of dict entries, the largest of
// Go's small-object size classes. Larger chunks would be fresh memory from
// the OS each time, whose page faults cost more than the batching saves.
// Containers over a quarter of it get their own allocation.
const treeMax = 1024

// Start prepares t for a tree decoded from inputLen bytes of input: a short
// reply gets small batches (it needs few items), a long one starts at larger
// ones, which then double up to the limit as they fill.
func (t *Tree) Start(inputLen int) {
	t.plain = inputLen <= plainInput
	n := min(max(inputLen/32, 2), 32)
	t.anys.Min, t.anys.Max = n, treeMax
	t.entries.Min, t.entries.Max = n, treeMax
	t.dicts.Min, t.dicts.Max = n, treeMax/4
	t.strs.Min, t.strs.Max = n, treeMax
	t.times.Min, t.times.Max = n, treeMax
	t.lists.Min, t.lists.Max = n, treeMax
	t.tuples.Min, t.tuples.Max = n, treeMax/4
	t.ints.Min, t.ints.Max = n, treeMax
	t.floats.Min, t.floats.Max = n, treeMax
	t.bytes.Min, t.bytes.Max = min(max(inputLen/8, 16), 4*treeMax), 4*treeMax
}

// Finish forgets the batches that hold pointers, so that a Tree kept for the
// next decode (in a pool) holds no pointer into the tree it built: a single
// item left in one (the header of a reply's top-level list, say) would keep
// the whole tree alive as long as the Tree lives, and the garbage collector
// would trace it over and over.
func (t *Tree) Finish() {
	t.shared = nil
	t.anys.Drop()
	t.entries.Drop()
	t.dicts.Drop()
	t.strs.Drop()
	t.times.Drop()
	t.lists.Drop()
	t.tuples.Drop()
}

// Items returns n zeroed list items.
func (t *Tree) Items(n int) []any { return t.anys.Take(n) }

// Entries returns n zeroed dict entries.
func (t *Tree) Entries(n int) []value.Entry { return t.entries.Take(n) }

// Dict returns an empty dict.
func (t *Tree) Dict() *value.Dict { return t.dicts.One() }

// Int boxes v.
func (t *Tree) Int(v int64) any {
	if t.plain || v >= 0 && v < 256 { // the runtime boxes 0..255 without an allocation
		return v
	}
	return t.ints.Box(v)
}

// Float boxes f.
func (t *Tree) Float(f float64) any {
	if t.plain {
		return f
	}
	return t.floats.Box(f)
}

// Share tells t that the input of the tree being built will never be
// modified again: Str may then return a string that points into it instead
// of a copy, for strings of at least half of it (a 10 MB configuration is
// then held once, not twice). Smaller strings are still copied, so that a
// short string kept by the caller never holds a large input alive.
func (t *Tree) Share(input []byte) { t.shared = input }

// Str boxes b as a string: a copy, or b's own bytes when they are most of a
// shared input (see Share).
func (t *Tree) Str(b []byte) any {
	if len(b) == 0 {
		return "" // boxed without an allocation
	}
	if s := t.shared; 2*len(b) >= len(s) && within(b, s) {
		return unsafe.String(&b[0], len(b))
	}
	if t.plain {
		return string(b)
	}
	return t.strs.Box(t.bytes.String(b))
}

// Time boxes v.
func (t *Tree) Time(v time.Time) any {
	if t.plain {
		return v
	}
	return t.times.Box(v)
}

// List boxes items as a list.
func (t *Tree) List(items []any) any {
	if t.plain {
		return items
	}
	return t.lists.Box(items)
}

// Tuple boxes items as a tuple.
func (t *Tree) Tuple(items []any) any {
	if t.plain {
		return value.Tuple(items)
	}
	return t.tuples.Box(value.Tuple(items))
}

// within reports whether b lies inside s (and not, say, in a decoder's
// scratch buffer for unescaped text).
func within(b, s []byte) bool {
	if len(s) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(s))
}
