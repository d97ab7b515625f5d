package mixed

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/value"
)

// counted counts how often it is encoded.
type counted struct {
	v any
	n *atomic.Int32
}

func (c counted) DiracValue() (any, error) { c.n.Add(1); return c.v, nil }

func encodedCases() map[string]any {
	rows := make([]any, 50)
	for i := range rows {
		rows[i] = []any{int64(i), "Done", 1.5, time.Date(2026, 12, 3, 10, 0, i, 0, time.UTC), nil, value.Tuple{"a", true}}
	}
	return map[string]any{
		"string":      "hello",
		"nil":         nil,
		"rows":        rows,
		"dict":        value.NewDict("JobID", int64(37), "Status", "Waiting", "Sites", []any{"LCG.CERN.cern"}),
		"long string": strings.Repeat("x", bufpool.LongString+1),
		"long rows":   []any{strings.Repeat("y", bufpool.LongString), rows},
	}
}

// An Encoded value is written as exactly the bytes the value itself gives,
// in both encodings, whole or in pieces, wherever it sits.
func TestEncodedWritesTheValuesOwnBytes(t *testing.T) {
	for name, v := range encodedCases() {
		for _, enc := range []Encoding{JSON, DEncode} {
			t.Run(name+"/"+enc.String(), func(t *testing.T) {
				x := value.NewEncoded(v)
				for _, wrap := range []func(any) any{
					func(v any) any { return v },
					func(v any) any { return value.NewDict("OK", true, "Value", v) },
					func(v any) any { return []any{v, "after", v} },
					func(v any) any { return &value.Object{Class: "C", Module: "m", Attrs: value.NewDict("a", v, "b", 1)} },
				} {
					want, err := Marshal(wrap(v), enc)
					if err != nil {
						// DEncode refuses an Object: so must the Encoded.
						_, err2 := Marshal(wrap(x), enc)
						require.Error(t, err2)
						continue
					}
					for range 2 { // the second time from the stored bytes
						got, err := Marshal(wrap(x), enc)
						require.NoError(t, err)
						assert.Equal(t, string(want), string(got))
						text, pieces, err := AppendMarshalBuffers(nil, wrap(x), enc, bufpool.LongString)
						require.NoError(t, err)
						if pieces != nil {
							text = bytes.Join(pieces, nil)
						}
						assert.Equal(t, string(want), string(text))
					}
				}
			})
		}
	}
}

// listing holds Encoded values where Walk goes by reflection: a struct
// field, a typed map and slice.
type listing struct {
	Jobs  *value.Encoded            `dirac:"Jobs"`
	ByVO  map[string]*value.Encoded `dirac:"ByVO"`
	Pages []*value.Encoded          `dirac:"Pages"`
	None  *value.Encoded            `dirac:"None"`
}

// An Encoded in a struct field or a typed container is written from its
// stored bytes too, not encoded again on every write.
func TestEncodedInTypedPlaces(t *testing.T) {
	var n atomic.Int32
	x := value.NewEncoded(counted{v: []any{"a", int64(1)}, n: &n})
	l := listing{Jobs: x, ByVO: map[string]*value.Encoded{"lhcb": x}, Pages: []*value.Encoded{x, x}}
	for _, enc := range []Encoding{JSON, DEncode} {
		want, err := Marshal(value.NewDict("Jobs", []any{"a", int64(1)}, "ByVO", value.NewDict("lhcb", []any{"a", int64(1)}),
			"Pages", []any{[]any{"a", int64(1)}, []any{"a", int64(1)}}, "None", nil), enc)
		require.NoError(t, err)
		for range 3 {
			got, err := Marshal(l, enc)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		}
	}
	assert.Equal(t, int32(2), n.Load(), "once per encoding")
}

// The value is encoded once per encoding, however many times and
// goroutines write it.
func TestEncodedEncodesOncePerEncoding(t *testing.T) {
	var n atomic.Int32
	x := value.NewEncoded(counted{v: []any{"a", int64(1)}, n: &n})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, enc := range []Encoding{JSON, DEncode, JSON} {
				_, err := Marshal(value.NewDict("OK", true, "Value", x), enc)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(2), n.Load())
	v, err := x.DiracValue()
	require.NoError(t, err)
	assert.IsType(t, counted{}, v)
}

// A value that cannot be encoded fails every time, with the walker's error
// and the path where it sits each time, from any number of goroutines.
func TestEncodedKeepsTheEncodingError(t *testing.T) {
	x := value.NewEncoded([]any{"ok", make(chan int)})
	for _, enc := range []Encoding{JSON, DEncode} {
		want, err := Marshal(value.NewDict("OK", true, "Value", []any{"ok", make(chan int)}), enc)
		require.Error(t, err)
		require.Nil(t, want)
		for range 2 {
			_, err2 := Marshal(value.NewDict("OK", true, "Value", x), enc)
			var ee *value.EncodeError
			require.ErrorAs(t, err2, &ee, enc.String())
			assert.Equal(t, err.Error(), err2.Error())
			_, err2 = Marshal([]any{1, x}, enc)
			assert.Contains(t, err2.Error(), "chan int at [1][1]")
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err2 := Marshal(value.NewDict("OK", true, "Value", x), enc)
				assert.EqualError(t, err2, err.Error())
			})
		}
		wg.Wait()
	}
}

// panicky is a Marshaler that panics the first time it is encoded.
type panicky struct{ n *atomic.Int32 }

func (p panicky) DiracValue() (any, error) {
	if p.n.Add(1) == 1 {
		panic("first encoding fails")
	}
	return "fine", nil
}

// An encoding that panicked panics again on every use, in every encoding:
// it never leaves an empty text to be written as the value (a server that
// recovers the first panic would then answer malformed bytes for good).
func TestEncodedKeepsThePanic(t *testing.T) {
	for _, enc := range []Encoding{JSON, DEncode} {
		x := value.NewEncoded(panicky{n: new(atomic.Int32)})
		for range 2 {
			assert.PanicsWithValue(t, "first encoding fails", func() {
				b, err := Marshal(value.NewDict("OK", true, "Value", x), enc)
				t.Logf("%s: %q, %v", enc, b, err)
			}, enc.String())
		}
	}
}

// A value that holds its own Encoded, directly or through another Encoded,
// fails to encode at once rather than waiting for its own first encoding.
func TestEncodedCycleIsAnError(t *testing.T) {
	for _, enc := range []Encoding{JSON, DEncode} {
		self := []any{"a", nil}
		x := value.NewEncoded(self)
		self[1] = x
		other := []any{nil}
		y := value.NewEncoded(other)
		other[0] = value.NewEncoded([]any{"b", y})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2 { // the error is kept
				_, err := Marshal(value.NewDict("OK", true, "Value", x), enc)
				require.ErrorIs(t, err, value.ErrEncodedCycle, enc.String())
				assert.Contains(t, err.Error(), "at Value[1]: value.Encoded holds itself")
				_, err = Marshal(y, enc)
				require.ErrorIs(t, err, value.ErrEncodedCycle, enc.String())
			}
			// A value met twice, but not inside itself, is no cycle.
			twice := value.NewEncoded("t")
			_, err := Marshal(value.NewEncoded([]any{twice, []any{twice}}), enc)
			require.NoError(t, err)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the encoding waits for itself", enc)
		}
	}
}

// meet is a Marshaler that waits, when it is encoded, until its partner is
// being encoded too.
type meet struct {
	here, there chan struct{}
	once        *sync.Once
}

func (m meet) DiracValue() (any, error) {
	m.once.Do(func() { close(m.here) })
	select {
	case <-m.there:
	case <-time.After(10 * time.Second):
	}
	return "met", nil
}

// Two goroutines that start the first encodings of one cycle from two of
// its Encoded values at once both get the error: neither waits for the
// other's first encoding while its own is under way.
func TestEncodedCycleAcrossGoroutines(t *testing.T) {
	for _, enc := range []Encoding{JSON, DEncode} {
		inX, inY := make(chan struct{}), make(chan struct{})
		xv, yv := []any{meet{inX, inY, new(sync.Once)}, nil}, []any{meet{inY, inX, new(sync.Once)}, nil}
		x, y := value.NewEncoded(xv), value.NewEncoded(yv)
		xv[1], yv[1] = y, x
		errs := make(chan error, 2)
		for _, v := range []*value.Encoded{x, y} {
			go func() {
				_, err := Marshal(v, enc)
				errs <- err
			}()
		}
		for range 2 {
			select {
			case err := <-errs:
				require.ErrorIs(t, err, value.ErrEncodedCycle, enc.String())
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: the two first encodings wait for each other", enc)
			}
		}
	}
}
