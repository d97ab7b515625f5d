package bufpool

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetSizes(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 3 << 20} {
		bp := Get(n)
		assert.Zero(t, len(*bp))
		assert.GreaterOrEqual(t, cap(*bp), n)
		Put(bp)
	}
	// Beyond the largest class: exactly the size asked, never kept.
	bp := Get(1<<(maxClass+1) + 1)
	assert.Equal(t, 1<<(maxClass+1)+1, cap(*bp))
}

func TestGrowDoublesAndKeepsTheCallersBuffer(t *testing.T) {
	mine := make([]byte, 10, 16)
	copy(mine, "0123456789")
	b := Grow(mine, 100, false)
	assert.Equal(t, "0123456789", string(b))
	assert.GreaterOrEqual(t, cap(b)-len(b), 100)
	assert.Equal(t, "0123456789", string(mine), "the caller's buffer is not recycled")
	b2 := Grow(b, cap(b), true)
	assert.GreaterOrEqual(t, cap(b2), 2*cap(b))
	assert.Equal(t, "0123456789", string(b2))
	same := Grow(b2, 1, true)
	assert.Same(t, unsafe.SliceData(b2), unsafe.SliceData(same), "room enough: no new buffer")
}

func TestReleaseRecyclesBoth(t *testing.T) {
	bp := Get(8192)
	start := unsafe.SliceData(*bp)
	out := Grow(*bp, cap(*bp)+1, false)
	require.NotSame(t, start, unsafe.SliceData(out))
	Release(bp, out) // both go back, each once
	Release(Get(8192), nil)
}

func TestWriter(t *testing.T) {
	bp := Get(0)
	w := &Writer{B: *bp}
	for range 3000 {
		_, err := w.Write([]byte("abcd"))
		require.NoError(t, err)
	}
	assert.Len(t, w.B, 12000)
	assert.Equal(t, "abcdabcd", string(w.B[:8]))
	Release(bp, w.B)
}

func TestMarshalCopiesOut(t *testing.T) {
	out, err := Marshal("x", func(dst []byte, v any) ([]byte, error) { return append(dst, v.(string)...), nil })
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), out)
	assert.Equal(t, 1, cap(out))
}
