// Package slab cuts small slices out of larger batches, so that a decoder
// building thousands of small containers pays for a few allocations instead
// of one each.
package slab

// Slab hands out slices of T cut from batches. The zero value is not usable:
// set Min and Max (in items).
type Slab[T any] struct {
	// Min is the first batch's size; batches double from there.
	Min int
	// Max bounds a batch. Requests over a quarter of it get an allocation
	// of their own, so that one large container does not waste a batch.
	Max int

	buf []T
}

// Take returns n zeroed items, with capacity n so that appending to them
// never writes into a neighbour.
func (s *Slab[T]) Take(n int) []T {
	if n > s.Max/4 {
		return make([]T, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]T, 0, max(min(max(2*cap(s.buf), s.Min), s.Max), n))
	}
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l+n : l+n]
}

// One returns a pointer to one zeroed item.
func (s *Slab[T]) One() *T { return &s.Take(1)[0] }

// Drop forgets the current batch: what was cut from it stays reachable from
// the slab (and from whatever holds the slab, such as a pooled decoder) for
// as long as the batch is current.
func (s *Slab[T]) Drop() { s.buf = nil }
