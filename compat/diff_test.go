package compat

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/value"
)

var (
	t0     = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	t0sec  = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	big70  = new(big.Int).Lsh(big.NewInt(1), 70)
	big70b = new(big.Int).Lsh(big.NewInt(1), 70)
)

func kinds(ds []Difference) []Kind {
	out := []Kind{}
	for _, d := range ds {
		out = append(out, d.Kind)
	}
	return out
}

func paths(ds []Difference) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Path)
	}
	return out
}

func TestDiffTable(t *testing.T) {
	d := value.NewDict
	tests := []struct {
		name  string
		a, b  any
		kinds []Kind
		paths []string
	}{
		{"equal scalars", int64(5), int64(5), nil, nil},
		{"int kinds are the same int", 5, int64(5), nil, nil},
		{"big ints", big70, big70b, nil, nil},
		{"nan equals nan", math.NaN(), math.NaN(), nil, nil},
		{"none", nil, nil, nil, nil},
		{"equal nested", d("a", []any{int64(1), value.Tuple{"x"}}), d("a", []any{int64(1), value.Tuple{"x"}}), nil, nil},
		{"tuple became list", value.Tuple{int64(3), int64(4)}, []any{int64(3), int64(4)},
			[]Kind{TupleBecameList}, []string{"$"}},
		{"list became tuple (either side)", []any{int64(3)}, value.Tuple{int64(3)},
			[]Kind{TupleBecameList}, []string{"$"}},
		{"tuple became list with an inner difference", value.Tuple{int64(3), "x"}, []any{int64(3), "y"},
			[]Kind{TupleBecameList, ValueMismatch}, []string{"$", "$[1]"}},
		{"int key became string", d(int64(1), "x"), d("1", "x"),
			[]Kind{KeyBecameString}, []string{"$[1]"}},
		{"string key became int (either side)", d("1", "x"), d(int64(1), "x"),
			[]Kind{KeyBecameString}, []string{"$['1']"}},
		{"float key", d(2.5, "b"), d("2.5", "b"), []Kind{KeyBecameString}, []string{"$[2.5]"}},
		{"bool key", d(true, "b"), d("true", "b"), []Kind{KeyBecameString}, []string{"$[True]"}},
		{"none key", d(nil, "d"), d("null", "d"), []Kind{KeyBecameString}, []string{"$[None]"}},
		{"big key", d(big70, "d"), d("1180591620717411303424", "d"), []Kind{KeyBecameString}, nil},
		{"int key with a value difference below", d(int64(1), value.Tuple{int64(1)}), d("1", []any{int64(1)}),
			[]Kind{KeyBecameString, TupleBecameList}, []string{"$[1]", "$[1]"}},
		{"keys collided", d(int64(1), "a", "1", "b"), d("1", "b"),
			[]Kind{KeysCollided}, []string{"$[1]"}},
		// JSON keeps the last value at the first key's position.
		{"keys collided, string key first", d("0", d(int64(0), "0"), int64(0), int64(0)), d("0", int64(0)),
			[]Kind{KeysCollided}, []string{"$[0]"}},
		{"keys collided, then a real difference", d("0", "x", int64(0), int64(0)), d("0", int64(1)),
			[]Kind{KeysCollided, ValueMismatch}, []string{"$[0]", "$['0']"}},
		{"microseconds dropped", t0, t0sec, []Kind{MicrosecondsDropped}, []string{"$"}},
		{"microseconds dropped (either side)", t0sec, t0, []Kind{MicrosecondsDropped}, nil},
		{"different datetimes", t0, t0.Add(time.Hour), []Kind{ValueMismatch}, nil},
		{"different microseconds", t0, t0.Add(time.Microsecond), []Kind{ValueMismatch}, nil},
		{"bytes became str", []byte("\x00\xff"), "\x00\xff", []Kind{BytesBecameStr}, nil},
		{"str became bytes", "abc", []byte("abc"), []Kind{BytesBecameStr}, nil},
		{"str vs bytes with other content", "abc", []byte("abd"), []Kind{ValueMismatch}, nil},
		{"int vs float", int64(1), 1.0, []Kind{TypeMismatch}, nil},
		{"bool vs int", true, int64(1), []Kind{TypeMismatch}, nil},
		{"str vs int", "1", int64(1), []Kind{TypeMismatch}, nil},
		{"none vs value", nil, int64(0), []Kind{TypeMismatch}, nil},
		{"date vs datetime", value.DateOf(t0), t0sec, []Kind{TypeMismatch}, nil},
		{"dict vs list", d(), []any{}, []Kind{TypeMismatch}, nil},
		{"different ints", int64(1), int64(2), []Kind{ValueMismatch}, nil},
		{"different floats", 2.5, 2.25, []Kind{ValueMismatch}, nil},
		{"zero signs differ", 0.0, math.Copysign(0, -1), []Kind{ValueMismatch}, nil},
		{"different strings", "a", "b", []Kind{ValueMismatch}, nil},
		{"length", []any{int64(1), int64(2)}, []any{int64(1)}, []Kind{LengthMismatch}, []string{"$"}},
		{"length and item", []any{int64(1), int64(2)}, []any{int64(9)},
			[]Kind{LengthMismatch, ValueMismatch}, []string{"$", "$[0]"}},
		{"missing key", d("a", int64(1), "b", int64(2)), d("a", int64(1)), []Kind{MissingKey}, []string{"$['b']"}},
		{"extra key", d("a", int64(1)), d("a", int64(1), "c", int64(3)), []Kind{ExtraKey}, []string{"$['c']"}},
		{"key order", d("a", int64(1), "b", int64(2)), d("b", int64(2), "a", int64(1)), []Kind{KeyOrder}, []string{"$"}},
		{"nested path", d("x", []any{d("y", int64(1))}), d("x", []any{d("y", int64(2))}),
			[]Kind{ValueMismatch}, []string{"$['x'][0]['y']"}},
		{"time of day", value.TimeOfDay{Hour: 1}, value.TimeOfDay{Hour: 2}, []Kind{ValueMismatch}, nil},
		{"objects equal", &value.Object{Class: "C", Module: "m", Attrs: d("a", int64(1))},
			&value.Object{Class: "C", Module: "m", Attrs: d("a", int64(1))}, nil, nil},
		{"objects of other classes", &value.Object{Class: "C", Module: "m"}, &value.Object{Class: "D", Module: "m"},
			[]Kind{ValueMismatch}, nil},
		{"object attributes", &value.Object{Class: "C", Module: "m", Attrs: d("a", int64(1))},
			&value.Object{Class: "C", Module: "m", Attrs: d("a", int64(2))}, []Kind{ValueMismatch}, []string{"$['a']"}},
		{"object vs dict", &value.Object{Class: "C", Module: "m"}, d(), []Kind{TypeMismatch}, nil},
		{"the capture's echoAny (DEncode vs JSON)",
			d("s", "café", "i", int64(-7), "f", 2.5, "n", nil, "b", true, "l", []any{int64(1), int64(2)},
				"t", value.Tuple{int64(3), int64(4)}, "k", d(int64(1), "x")),
			d("s", "café", "i", int64(-7), "f", 2.5, "n", nil, "b", true, "l", []any{int64(1), int64(2)},
				"t", []any{int64(3), int64(4)}, "k", d("1", "x")),
			[]Kind{TupleBecameList, KeyBecameString}, []string{"$['t']", "$['k'][1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ToModel(tc.a)
			require.NoError(t, err)
			b, err := ToModel(tc.b)
			require.NoError(t, err)
			got := Diff(a, b)
			want := tc.kinds
			if want == nil {
				want = []Kind{}
			}
			assert.Equal(t, want, kinds(got), "%+v", got)
			if tc.paths != nil {
				assert.Equal(t, tc.paths, paths(got))
			}
			if len(got) == 0 {
				assert.True(t, value.Equal(a, b), "no difference must mean Equal")
			}
		})
	}
}

// Every value, normalised as DIRAC's JSON would, differs from itself only by
// expected kinds: NormalizeJSON and the classification agree.
func TestDiffAgreesWithNormalizeJSON(t *testing.T) {
	d := value.NewDict
	values := []any{
		value.Tuple{int64(1), value.Tuple{"a", d(int64(2), t0)}},
		d(int64(1), "one", 2.5, []any{value.Tuple{}}, nil, t0, true, "x", big70, int64(1)),
		d("k", d(false, value.Tuple{t0})),
		[]any{t0, value.DateOf(t0), []byte("b"), "s", math.Inf(1)},
		d(int64(1), "a", "1", "b"),
	}
	for _, v := range values {
		n, err := value.NormalizeJSON(v)
		require.NoError(t, err)
		diffs := Diff(v, n)
		for _, df := range diffs {
			assert.True(t, df.Kind.Expected(), "%s: %+v", Repr(v), df)
		}
		again, err := value.NormalizeJSON(n)
		require.NoError(t, err)
		assert.Empty(t, Diff(n, again))
	}
}

func TestKindsAreExhaustiveAndParse(t *testing.T) {
	seen := map[Kind]bool{}
	for _, k := range Kinds() {
		assert.False(t, seen[k], "duplicate %s", k)
		seen[k] = true
		p, ok := ParseKind(string(k))
		assert.True(t, ok)
		assert.Equal(t, k, p)
	}
	_, ok := ParseKind("nope")
	assert.False(t, ok)
	assert.True(t, TupleBecameList.Expected())
	assert.False(t, TypeMismatch.Expected())
}

func TestRepr(t *testing.T) {
	d := value.NewDict
	tests := []struct {
		v    any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{int64(-7), "-7"},
		{2.5, "2.5"},
		{1.0, "1.0"},
		{math.NaN(), "nan"},
		{math.Inf(-1), "-inf"},
		{"café", "'café'"},
		{"it's", `"it's"`},
		{"a\nb", `'a\nb'`},
		{[]byte("\x00\xffA"), `b'\x00\xffA'`},
		{value.Tuple{int64(1)}, "(1,)"},
		{value.Tuple{int64(1), "a"}, "(1, 'a')"},
		{[]any{}, "[]"},
		{d(int64(1), "x", "k", nil), "{1: 'x', 'k': None}"},
		{t0, "datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)"},
		{t0sec, "datetime.datetime(2024, 1, 2, 3, 4, 5)"},
		{value.DateOf(t0), "datetime.date(2024, 1, 2)"},
		{value.TimeOfDay{Hour: 1, Minute: 2, Second: 3}, "datetime.time(1, 2, 3)"},
		{big70, "1180591620717411303424"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Repr(tc.v))
	}
}

func TestToModel(t *testing.T) {
	type S struct {
		A int `dirac:"a"`
		B []string
	}
	v, err := ToModel(map[string]any{"x": []int{1, 2}, "s": S{A: 1, B: []string{"q"}}, "u": uint64(math.MaxUint64)})
	require.NoError(t, err)
	want := value.NewDict(
		"s", value.NewDict("a", int64(1), "B", []any{"q"}),
		"u", new(big.Int).SetUint64(math.MaxUint64),
		"x", []any{int64(1), int64(2)})
	assert.True(t, value.Equal(want, v), Repr(v))

	obj := &value.Object{Class: "C", Module: "m", Attrs: value.NewDict("a", []any{value.NewDict("b", int64(1))})}
	v, err = ToModel([]any{obj, value.Tuple{obj}})
	require.NoError(t, err)
	assert.True(t, value.Equal([]any{obj, value.Tuple{obj}}, v), Repr(v))

	_, err = ToModel(make(chan int))
	assert.Error(t, err)
}

func TestLabelsAreCutOnRuneBoundaries(t *testing.T) {
	c := Call{Method: "echoAny", Args: []any{strings.Repeat("é", 200)}}
	l := c.Label()
	assert.True(t, utf8.ValidString(l))
	assert.LessOrEqual(t, len(l), 120+len("…"))
	assert.True(t, strings.HasSuffix(l, "…"))
}
