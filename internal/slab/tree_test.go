package slab

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/diracgo/diracrpc/value"
)

// Whatever the input size, the boxed values are the ordinary ones.
func TestTreeBoxesLikeConversions(t *testing.T) {
	now := time.Date(2024, 10, 17, 13, 41, 46, 0, time.UTC)
	for _, inputLen := range []int{10, 100_000} {
		var tr Tree
		tr.Start(inputLen)
		assert.Equal(t, inputLen <= plainInput, tr.plain)
		assert.Equal(t, any(int64(7)), tr.Int(7))
		assert.Equal(t, any(int64(-70000)), tr.Int(-70000))
		assert.Equal(t, any(2.5), tr.Float(2.5))
		assert.Equal(t, any("abc"), tr.Str([]byte("abc")))
		assert.Equal(t, any(""), tr.Str(nil))
		assert.Equal(t, any(now), tr.Time(now))
		assert.Equal(t, any([]any{"x"}), tr.List([]any{"x"}))
		assert.Equal(t, any(value.Tuple{"x"}), tr.Tuple([]any{"x"}))
		assert.Len(t, tr.Items(3), 3)
		assert.Len(t, tr.Entries(2), 2)
		assert.Zero(t, tr.Dict().Len())
		tr.Finish()
	}
}

// Finish drops the batches that hold pointers and keeps the others.
func TestTreeFinishKeepsOnlyPointerFreeBatches(t *testing.T) {
	var tr Tree
	tr.Start(100_000)
	tr.Int(1000)
	tr.Str([]byte("hello"))
	tr.Items(1)
	tr.Finish()
	assert.Nil(t, tr.anys.buf)
	assert.Nil(t, tr.strs.buf)
	assert.NotNil(t, tr.ints.buf)
	assert.NotNil(t, tr.bytes.buf)
}

// A string is cached the second time it is seen, in an allocation of its
// own (not in the tree's batches); long strings are never cached.
func TestStringCacheCachesOnSecondSighting(t *testing.T) {
	var c StringCache
	var tr Tree
	tr.Start(100_000)
	data := func(v any) uintptr { return uintptr((*eface)(unsafe.Pointer(&v)).data) }
	first := c.Box([]byte("Running"), &tr)
	second := c.Box([]byte("Running"), &tr)
	third := c.Box([]byte("Running"), &tr)
	assert.Equal(t, any("Running"), first)
	assert.NotEqual(t, data(first), data(second), "the first sighting comes from the batches")
	assert.Equal(t, data(second), data(third), "from the second on, the cached value")
	long := []byte("a string longer than the cache keeps, by far")
	assert.NotEqual(t, data(c.Box(long, &tr)), data(c.Box(long, &tr)))
	assert.NotEqual(t, data(c.Box(long, &tr)), data(c.Box(long, &tr)))
}

// With a shared input, a string that is most of it points into it; shorter
// strings, and bytes from elsewhere (a scratch buffer), are copied; Finish
// forgets the input.
func TestTreeShare(t *testing.T) {
	input := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	inside := func(s string, b []byte) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&b[0]))
		return p >= start && p < start+uintptr(len(b))
	}
	var tr Tree
	tr.Start(len(input))
	long := input[1:1001]
	assert.False(t, inside(tr.Str(long).(string), input), "copied unless shared")

	tr.Share(input)
	s := tr.Str(long).(string)
	assert.Equal(t, string(long), s)
	assert.True(t, inside(s, input), "most of a shared input is not copied")
	assert.False(t, inside(tr.Str(input[1:100]).(string), input), "a short string is copied")
	scratch := []byte(strings.Repeat("x", 1000))
	assert.False(t, inside(tr.Str(scratch).(string), scratch), "bytes outside the input are copied")

	tr.Finish()
	assert.Nil(t, tr.shared)
	tr.Start(len(input))
	assert.False(t, inside(tr.Str(long).(string), input), "the next tree shares nothing by default")
}
