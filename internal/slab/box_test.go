package slab

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tuple []any

// A boxed value must be indistinguishable from the ordinary conversion: same
// dynamic type, ==, type switches, reflection and formatting.
func TestBoxMatchesConversion(t *testing.T) {
	check := func(got, want any) {
		t.Helper()
		assert.Equal(t, reflect.TypeOf(want), reflect.TypeOf(got))
		assert.Equal(t, fmt.Sprintf("%#v", want), fmt.Sprintf("%#v", got))
		assert.True(t, reflect.DeepEqual(want, got))
		if reflect.TypeOf(want).Comparable() {
			assert.True(t, got == want, "%#v", got)
		}
	}
	ints := Boxes[int64]{Slab: Slab[int64]{Min: 2, Max: 8}}
	for _, v := range []int64{0, 1, 255, 256, -1, math.MaxInt64, math.MinInt64} {
		check(ints.Box(v), any(v))
	}
	floats := Boxes[float64]{Slab: Slab[float64]{Min: 2, Max: 8}}
	for _, v := range []float64{0, -0.5, math.Inf(1), 1e300} {
		check(floats.Box(v), any(v))
	}
	var bytes Bytes
	bytes.Min, bytes.Max = 4, 16
	strs := Boxes[string]{Slab: Slab[string]{Min: 2, Max: 8}}
	for _, v := range []string{"", "a", "hello", "a longer string than one batch holds"} {
		check(strs.Box(bytes.String([]byte(v))), any(v))
	}
	times := Boxes[time.Time]{Slab: Slab[time.Time]{Min: 2, Max: 8}}
	now := time.Date(2024, 10, 17, 13, 41, 46, 123456000, time.UTC)
	check(times.Box(now), any(now))
	lists := Boxes[[]any]{Slab: Slab[[]any]{Min: 2, Max: 8}}
	check(lists.Box([]any{int64(1), "x"}), any([]any{int64(1), "x"}))
	tuples := Boxes[tuple]{Slab: Slab[tuple]{Min: 2, Max: 8}}
	v := tuples.Box(tuple{"a"})
	_, isTuple := v.(tuple)
	assert.True(t, isTuple)
	_, isList := v.([]any)
	assert.False(t, isList, "a tuple must not pass for a list")
}

// The batches hold the only copies of the values: they must survive garbage
// collections, including what they point to (string bytes, slice items).
func TestBoxedValuesSurviveGC(t *testing.T) {
	strs := Boxes[string]{Slab: Slab[string]{Min: 4, Max: 64}}
	lists := Boxes[[]any]{Slab: Slab[[]any]{Min: 4, Max: 64}}
	var bytes Bytes
	bytes.Min, bytes.Max = 16, 256
	var kept []any
	for i := range 1000 {
		s := strs.Box(bytes.String(fmt.Appendf(nil, "value-%d", i)))
		kept = append(kept, lists.Box([]any{s, int64(i)}))
	}
	strs.Drop()
	lists.Drop()
	bytes.Drop()
	for range 3 {
		runtime.GC()
	}
	for i, v := range kept {
		l, ok := v.([]any)
		require.True(t, ok)
		require.Equal(t, []any{fmt.Sprintf("value-%d", i), int64(i)}, l)
	}
}

func TestDropStartsANewBatch(t *testing.T) {
	s := Slab[int]{Min: 8, Max: 64}
	a := s.Take(2)
	next := uintptr(unsafe.Pointer(&a[0])) + 2*unsafe.Sizeof(a[0])
	b := s.Take(1)
	assert.Equal(t, next, uintptr(unsafe.Pointer(&b[0])), "cut from the same batch")
	s.Drop()
	c := s.Take(1)
	assert.NotEqual(t, next+unsafe.Sizeof(a[0]), uintptr(unsafe.Pointer(&c[0])))
}
