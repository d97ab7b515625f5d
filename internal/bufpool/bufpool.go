// Package bufpool is the encoders' Marshal: encode into a recycled buffer,
// then copy the result out. Growing a fresh buffer costs more than the
// encoding itself on large payloads.
package bufpool

import "sync"

// pool holds the scratch buffers; only buffers up to maxPooled are put
// back, so that one huge message does not stay pinned.
var pool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooled = 4 << 20

// Marshal returns a copy of what appendTo appends to an empty recycled
// buffer, or appendTo's error (and no bytes).
func Marshal(v any, appendTo func(dst []byte, v any) ([]byte, error)) ([]byte, error) {
	bp := pool.Get().(*[]byte)
	buf, err := appendTo((*bp)[:0], v)
	var out []byte
	if err == nil {
		out = make([]byte, len(buf))
		copy(out, buf)
	}
	if cap(buf) <= maxPooled {
		*bp = buf[:0]
		pool.Put(bp)
	}
	return out, err
}
