// Package encodertest checks, for the tests of both DIRAC codecs, that an
// encoder's shortcut for the generic model writes what its general way
// (value.Walk's events) writes.
package encodertest

import (
	"bytes"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/value"
)

// AppendMarshal is the codec's internal appendMarshal, which both codecs
// share: dst and v as for their AppendMarshal, general to go without the
// shortcut, minRef as for AppendMarshalBuffers (0: nothing left out).
type AppendMarshal func(dst []byte, v any, general bool, minRef int) ([]byte, net.Buffers, error)

// ShortcutMatchesEvents: the generic model written without the events
// gives the bytes and errors of the general way, including values it hands
// over to it (other types, non-string keys, values one codec or the other
// refuses, the depth limit), after the buffer grew or not.
func ShortcutMatchesEvents(t *testing.T, appendMarshal AppendMarshal) {
	t.Helper()
	deep := func(n int) any {
		var v any = "x"
		for range n {
			v = []any{v}
		}
		return v
	}
	long := strings.Repeat("long \"text\" é \x01 ", 5000)
	for i, v := range []any{
		nil, true, int64(-3), 7, 1.5, math.Inf(-1), "a\nb", "short", "é", "\x7f", []byte("hi"), value.Tuple{1, "a"},
		value.NewDict("OK", true, "Value", []any{int64(1), nil, value.NewDict()}),
		*value.NewDict("a", 1), (*value.Dict)(nil),
		time.Date(2024, 10, 17, 13, 41, 46, 5, time.FixedZone("x", 3600)),
		value.Date{Year: 2024, Month: 2, Day: 29},
		[]any{long, value.NewDict("k", long), []byte(long)}, []string{}, []string{"a", long},
		// Handed over: other types, other keys, refused values.
		[]any{"a", map[string]any{"b": 1}}, value.NewDict("a", value.NewDict(int64(1), "one")),
		[]any{1, &value.Object{Class: "C", Module: "m", Attrs: value.NewDict("x", nil, "y", 2)}},
		[]any{long, struct{ A int }{1}},
		[]any{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, value.Date{Year: 2023, Month: 2, Day: 29},
		deep(value.MaxDepth - 1), deep(value.MaxDepth), deep(value.MaxDepth + 1),
		[]any{value.TimeOfDay{Hour: 1}}, value.NewDict(1.5, []any{long}),
	} {
		for _, dst := range [][]byte{nil, []byte("prefix:"), make([]byte, 3, 1<<20)} {
			dst2 := append([]byte(nil), dst...)
			got, _, err := appendMarshal(dst, v, false, 0)
			want, _, werr := appendMarshal(dst2, v, true, 0)
			if werr != nil {
				require.Error(t, err, "%d", i)
				assert.Equal(t, werr.Error(), err.Error(), "%d", i)
				continue
			}
			require.NoError(t, err, "%d", i)
			assert.Equal(t, string(want), string(got), "%d", i)
		}
	}
}

// PiecesAfterTheShortcutGivesUp: a long string the shortcut left out before
// meeting a type it does not write is left out once, by the general way,
// not twice.
func PiecesAfterTheShortcutGivesUp(t *testing.T, appendMarshal AppendMarshal) {
	t.Helper()
	long := strings.Repeat("p", 100)
	v := []any{long, int32(5), long}
	want, _, err := appendMarshal(nil, v, false, 0)
	require.NoError(t, err)
	text, pieces, err := appendMarshal(nil, v, false, 50)
	require.NoError(t, err)
	require.Len(t, pieces, 5, "both strings left out of %q", text)
	assert.Equal(t, string(want), string(bytes.Join(pieces, nil)))
}
