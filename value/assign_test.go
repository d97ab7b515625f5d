package value

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type jobRec struct {
	ID     int64  `dirac:"JobID"`
	Status string `dirac:"Status"`
	Site   string
	Flags  []bool
	When   time.Time
	Day    Date
	Extra  *int
	Tags   map[string]int
	Pair   [2]string
	Any    any
	Raw    []byte
}

func TestAssignStruct(t *testing.T) {
	d := NewDict(
		"JobID", int64(7), "Status", "Done", "site", "CERN",
		"Flags", Tuple{true, false}, "When", time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC),
		"Day", time.Date(2024, 2, 29, 1, 0, 0, 0, time.UTC), "Extra", int64(3),
		"Tags", NewDict("a", int64(1)), "Pair", []any{"x"}, "Any", Tuple{int64(1)},
		"Raw", "bytes", int64(5), "ignored", "Unknown", "ignored",
	)
	var r jobRec
	require.NoError(t, Assign(&r, d))
	three := 3
	assert.Equal(t, jobRec{ID: 7, Status: "Done", Site: "CERN", Flags: []bool{true, false},
		When: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC), Day: Date{2024, 2, 29}, Extra: &three,
		Tags: map[string]int{"a": 1}, Pair: [2]string{"x", ""}, Any: Tuple{int64(1)}, Raw: []byte("bytes")}, r)
}

func TestAssignScalarsAndMaps(t *testing.T) {
	var a any
	require.NoError(t, Assign(&a, NewDict("k", int64(1))))
	assert.True(t, Equal(a, NewDict("k", int64(1))))

	var i8 int8
	err := Assign(&i8, int64(300))
	var ae *AssignError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "int", ae.ValueType)
	assert.EqualError(t, Assign(&i8, 1.0), "value: cannot assign float to Go int8")

	var u uint
	assert.Error(t, Assign(&u, int64(-1)))
	var f float64
	require.NoError(t, Assign(&f, int64(2)))
	assert.Equal(t, 2.0, f)
	var b big.Int
	require.NoError(t, Assign(&b, int64(5)))
	assert.Equal(t, "5", b.String())
	var pb *big.Int
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	require.NoError(t, Assign(&pb, huge))
	assert.Equal(t, huge, pb)

	// strToIntDict and JSON key spelling.
	var mi map[int]string
	require.NoError(t, Assign(&mi, NewDict("12", "a", int64(3), "b")))
	assert.Equal(t, map[int]string{12: "a", 3: "b"}, mi)
	var ms map[string]any
	require.NoError(t, Assign(&ms, NewDict(int64(1), "x", 2.5, nil, nil, true)))
	assert.Equal(t, map[string]any{"1": "x", "2.5": nil, "null": true}, ms)
	assert.Error(t, Assign(&ms, NewDict(Tuple{int64(1)}, "x")))

	var tod TimeOfDay
	require.NoError(t, Assign(&tod, TimeOfDay{1, 2, 3, 4}))
	var tm time.Time
	require.NoError(t, Assign(&tm, Date{2024, 1, 2}))
	assert.Equal(t, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), tm)

	var p *int
	require.NoError(t, Assign(&p, nil))
	assert.Nil(t, p)
	var s []string
	err = Assign(&s, []any{"a", int64(1)})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "[1]", ae.Path)
	assert.EqualError(t, err, "value: cannot assign int to Go string at [1]")

	var r jobRec
	err = Assign(&r, NewDict("Flags", []any{"no"}))
	assert.EqualError(t, err, "value: cannot assign str to Go bool at Flags[0]")
	assert.Error(t, Assign(r, NewDict()))
	assert.Error(t, Assign((*jobRec)(nil), NewDict()))
}

type custom struct{ got any }

func (c *custom) SetDiracValue(v any) error { c.got = v; return nil }

func TestAssignUnmarshalerAndObject(t *testing.T) {
	var c struct{ C custom }
	require.NoError(t, Assign(&c, NewDict("C", "x")))
	assert.Equal(t, "x", c.C.got)
	var pt struct{ X, Y int }
	require.NoError(t, Assign(&pt, &Object{Class: "P", Attrs: NewDict("x", int64(1), "y", int64(2))}))
	assert.Equal(t, 1, pt.X)
	assert.Equal(t, 2, pt.Y)
}

func TestDictFromEntriesMergesAsPython(t *testing.T) {
	nan := math.NaN()
	d := DictFromEntries([]Entry{
		{int64(1), "a"}, {"x", 1}, {1.0, "b"}, {true, "c"}, {Tuple{int64(1), "y"}, 1}, {Tuple{true, "y"}, 2},
		{nan, 1}, {nan, 2}, {big.NewInt(2), "two"}, {2.0, "TWO"}, {Date{2024, 1, 2}, 1}, {Date{2024, 1, 2}, 3},
	})
	require.Equal(t, 7, d.Len())
	v, _ := d.Get(int64(1))
	assert.Equal(t, "c", v)
	assert.IsType(t, int64(1), d.Keys()[0], "the first key stays")
	v, _ = d.Get(Tuple{int64(1), "y"})
	assert.Equal(t, 2, v)
	v, _ = d.Get(int64(2))
	assert.Equal(t, "TWO", v)

	// Linear time whatever the keys: 30000 distinct tuple keys.
	entries := make([]Entry, 30000)
	for i := range entries {
		entries[i] = Entry{Tuple{int64(i)}, nil}
	}
	start := time.Now()
	assert.Equal(t, len(entries), DictFromEntries(entries).Len())
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestCopyDictCopiesAndMerges(t *testing.T) {
	for n := range 7 {
		src := make([]Entry, n)
		want := NewDict()
		for i := range src {
			src[i] = Entry{Key: int64(i), Value: i}
			want.Set(int64(i), i)
		}
		d := CopyDict(src)
		require.True(t, Equal(want, d), "%d entries", n)
		if n > 0 {
			src[0].Value = "changed"
			v, _ := d.Get(int64(0))
			assert.Equal(t, 0, v, "the dict must not share the caller's slice")
		}
	}
	d := CopyDict([]Entry{{"a", 1}, {"b", 2}, {"a", 3}})
	assert.Equal(t, []any{"a", "b"}, d.Keys())
	v, _ := d.Get("a")
	assert.Equal(t, 3, v, "a later duplicate wins, in the first one's place")
}

type treeNode struct {
	Name     string
	Children []treeNode
	Next     *treeNode
}

// The plans of a recursive type are made once, by whichever goroutine
// first needs them.
func TestAssignRecursiveTypesConcurrently(t *testing.T) {
	v := NewDict("Name", "root", "Children", []any{
		NewDict("Name", "a", "Next", NewDict("Name", "b", "Next", NewDict("Name", "c"))),
		NewDict("Name", "d", "Children", []any{NewDict("Name", "e")}),
	})
	want := treeNode{Name: "root", Children: []treeNode{
		{Name: "a", Next: &treeNode{Name: "b", Next: &treeNode{Name: "c"}}},
		{Name: "d", Children: []treeNode{{Name: "e"}}},
	}}
	errs := make(chan error, 8)
	got := make([]treeNode, 8)
	for i := range got {
		go func() { errs <- Assign(&got[i], v) }()
	}
	for range got {
		require.NoError(t, <-errs)
	}
	for _, g := range got {
		assert.Equal(t, want, g)
	}
}

// Keys in the fields' order, in another order, and folded, fill the same
// fields; a later key wins, exact or folded.
func TestAssignKeysInAnyOrder(t *testing.T) {
	type abc struct{ A, B, C int }
	for _, c := range []struct {
		in   *Dict
		want abc
	}{
		{NewDict("A", int64(1), "B", int64(2), "C", int64(3)), abc{1, 2, 3}},
		{NewDict("C", int64(3), "B", int64(2), "A", int64(1)), abc{1, 2, 3}},
		{NewDict("b", int64(2), "A", int64(1), "c", int64(3)), abc{1, 2, 3}},
		{NewDict("A", int64(2), "a", int64(1)), abc{A: 1}},
		{NewDict("a", int64(1), "A", int64(2)), abc{A: 2}},
		{NewDict("A", int64(1), "x", int64(9), "C", int64(3)), abc{A: 1, C: 3}},
	} {
		var got abc
		require.NoError(t, Assign(&got, c.in))
		assert.Equal(t, c.want, got, "%v", c.in.Keys())
	}
	// The field next in order matches only exactly: "Name" is Name's key,
	// though the field before it answers to "name".
	type tagged struct {
		X    int `dirac:"name"`
		Name int
	}
	var got tagged
	require.NoError(t, Assign(&got, NewDict("Name", int64(1), "name", int64(2))))
	assert.Equal(t, tagged{X: 2, Name: 1}, got)
}
