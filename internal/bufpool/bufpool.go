// Package bufpool recycles the byte buffers that messages are encoded into,
// in power-of-two size classes, so that encoding a large answer (a 10 MB
// configuration or job listing) costs neither the allocations of a growing
// buffer nor the garbage collections they trigger, which scan every live
// value, the one being encoded included.
//
// Pooled buffers are held by sync.Pools, which let go of what two garbage
// collections in a row found unused: a server that answered one large
// message does not keep its buffer for long.
package bufpool

import (
	"math/bits"
	"net"
	"sync"
	"unsafe"
)

// Size classes: 1<<minClass to 1<<maxClass bytes. Smaller requests get a
// buffer of the smallest class; larger buffers are not kept.
const (
	minClass = 12 // 4 KiB
	maxClass = 26 // 64 MiB
)

var pools [maxClass + 1]sync.Pool // of *[]byte, by class

// classOf returns the smallest class holding n bytes.
func classOf(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

// probeClasses is how many classes above its own Get looks into: a buffer
// growing from a small one reaches that of the last large message in a few
// steps, and a small message never takes a buffer more than 16 times its
// size.
const probeClasses = 4

// Get returns an empty buffer of capacity at least n: a recycled one if a
// pool holds one that is large enough (up to 16 times larger: a message
// growing from a small buffer soon reaches the buffer of the last large
// one), else a new one of n's class.
func Get(n int) *[]byte {
	c := classOf(n)
	for k := c; k <= min(c+probeClasses, maxClass); k++ {
		if bp, _ := pools[k].Get().(*[]byte); bp != nil {
			return bp
		}
	}
	if c > maxClass {
		b := make([]byte, 0, n)
		return &b
	}
	b := make([]byte, 0, 1<<c)
	return &b
}

// Put recycles the memory of *bp (by its capacity) and bp itself; neither
// may be used afterwards. Buffers smaller than the smallest class or larger
// than the largest are left to the garbage collector.
func Put(bp *[]byte) {
	n := cap(*bp)
	if n < 1<<minClass || n >= 1<<(maxClass+1) {
		return
	}
	*bp = (*bp)[:0]
	pools[bits.Len(uint(n))-1].Put(bp)
}

// Release recycles a buffer taken with Get and the buffer an encoder
// returned after starting from it, which may be the same memory (the
// encoder did not grow it) or a larger one (see Grow).
func Release(bp *[]byte, out []byte) {
	if unsafe.SliceData(out) != unsafe.SliceData(*bp) {
		Put(&out)
	}
	Put(bp)
}

// Grow returns b with room for at least n more bytes, as slices.Grow does,
// but doubling (append grows large slices by a quarter, copying a 10 MB
// message a dozen times over) and from the pools. With owned, b came from
// Grow or Get and is recycled; otherwise it is the caller's, and left alone.
func Grow(b []byte, n int, owned bool) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nbp := Get(max(2*cap(b), len(b)+n))
	nb := append((*nbp)[:0], b...)
	if owned {
		Put(&b)
	}
	return nb
}

// Marshal returns a copy of what appendTo appends to an empty recycled
// buffer, or appendTo's error (and no bytes).
func Marshal(v any, appendTo func(dst []byte, v any) ([]byte, error)) ([]byte, error) {
	bp := Get(4096)
	buf, err := appendTo(*bp, v)
	var out []byte
	if err == nil {
		out = make([]byte, len(buf))
		copy(out, buf)
	}
	Release(bp, buf)
	return out, err
}

// Writer is an io.Writer appending to B, grown as Grow grows buffers. Start
// it with a buffer from Get and give both to Release when done.
type Writer struct {
	B     []byte
	owned bool
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if cap(w.B)-len(w.B) < len(p) {
		w.B = Grow(w.B, len(p), w.owned)
		w.owned = true
	}
	w.B = append(w.B, p...)
	return len(p), nil
}

// LongString is the length from which a message's strings are sent from
// their own memory rather than copied into the message first (see Refs):
// below it, a copy costs less than a write of its own.
const LongString = 64 << 10

// Refs records the long strings an encoder leaves out of the text it
// writes, to be sent from their own memory (see Pieces): a 10 MB answer is
// then not copied into a buffer before it goes out. The zero value is empty.
type Refs struct {
	at   []int    // where each string goes in the text
	strs []string // the strings, in the order of at
}

// Add records that s goes at offset at of the text, after what Add
// recorded before.
func (r *Refs) Add(at int, s string) {
	r.at = append(r.at, at)
	r.strs = append(r.strs, s)
}

// Reset forgets every string (a pooled encoder must not keep a message's
// strings alive).
func (r *Refs) Reset() {
	clear(r.strs)
	r.at, r.strs = r.at[:0], r.strs[:0]
}

// Pieces returns the whole message, text with the recorded strings put back
// in, as pieces to write one after the other; nil when no string was left
// out (text is the whole message). The pieces that are strings share their
// memory: they must never be written to.
func (r *Refs) Pieces(text []byte) net.Buffers {
	if len(r.at) == 0 {
		return nil
	}
	pieces := make(net.Buffers, 0, 2*len(r.at)+1)
	last := 0
	for i, at := range r.at {
		pieces = append(pieces, text[last:at], unsafe.Slice(unsafe.StringData(r.strs[i]), len(r.strs[i])))
		last = at
	}
	return append(pieces, text[last:])
}
