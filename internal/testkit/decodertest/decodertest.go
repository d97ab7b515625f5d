// Package decodertest checks, for the tests of both DIRAC codecs, what their
// pooled decoders guarantee: values already returned never change, and a
// pooled decoder keeps no tree it decoded alive.
package decodertest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/value"
)

// Codec is the encoding under test.
type Codec struct {
	Marshal   func(v any) ([]byte, error)
	Unmarshal func(data []byte, v any) error
}

// ValuesStayUnchanged: decoded trees share batches with the decodes before
// and after them; no later decode, on this goroutine or another, may change a
// value already returned.
func ValuesStayUnchanged(t *testing.T, c Codec) {
	t.Helper()
	var inputs [][]byte
	for _, v := range []any{
		value.NewDict("OK", true, "Value", "hello"),
		[]any{int64(-5), int64(300), 2.5, "a string longer than the string caches keep",
			time.Date(2024, 10, 17, 13, 41, 46, 0, time.UTC), value.Tuple{"x", int64(999999)}},
		benchdata.Generic(),
	} {
		in, err := c.Marshal(v)
		require.NoError(t, err)
		inputs = append(inputs, in)
	}
	type kept struct {
		in []byte
		v  any
	}
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			var all []kept
			for i := range 120 {
				in := inputs[(i+g)%len(inputs)]
				if i%7 == 0 {
					var err error
					if in, err = c.Marshal([]any{fmt.Sprint(i), int64(1000 + i)}); err != nil {
						t.Error(err)
						return
					}
				}
				var v any
				if err := c.Unmarshal(in, &v); err != nil {
					t.Error(err)
					return
				}
				all = append(all, kept{in, v})
			}
			runtime.GC()
			for _, k := range all {
				var fresh any
				if err := c.Unmarshal(k.in, &fresh); err != nil {
					t.Error(err)
					return
				}
				if !value.Equal(fresh, k.v) {
					t.Errorf("value decoded from %.40q changed", k.in)
					return
				}
			}
		})
	}
	wg.Wait()
}

// PooledDecoderKeepsLittle: after many decodes of distinct payloads whose
// results are all dropped, little of them may remain reachable (the string
// caches hold at most a few thousand short strings of their own).
func PooledDecoderKeepsLittle(t *testing.T, c Codec) {
	t.Helper()
	payload := func(p int) []byte {
		items := make([]any, 0, 2000)
		for i := range 2000 {
			s := fmt.Sprintf("%d-%d", p, i)
			items = append(items, value.NewDict("name", s, "again", s, "n", int64(1000+i)))
		}
		b, err := c.Marshal(items)
		require.NoError(t, err)
		return b
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for p := range 100 {
		var v any
		require.NoError(t, c.Unmarshal(payload(p), &v))
	}
	runtime.GC() // the pool keeps its decoders through one collection
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d bytes still reachable", kept)
	assert.Less(t, kept, int64(1<<20), "bytes still reachable after 100 decodes of ~90 KB each")
}
