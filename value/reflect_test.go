package value

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trace records events as compact text: lists [..], tuples (..), dicts {k:v,..}.
type trace struct {
	b strings.Builder
}

func (t *trace) item(s string) error {
	t.b.WriteString(s)
	t.b.WriteString(" ")
	return nil
}
func (t *trace) Nil() error              { return t.item("None") }
func (t *trace) Bool(b bool) error       { return t.item(fmt.Sprint(b)) }
func (t *trace) Int(i int64) error       { return t.item(fmt.Sprintf("i%d", i)) }
func (t *trace) Uint(u uint64) error     { return t.item(fmt.Sprintf("u%d", u)) }
func (t *trace) BigInt(i *big.Int) error { return t.item("I" + i.String()) }
func (t *trace) Float(f float64) error   { return t.item("f" + FormatFloat(f)) }
func (t *trace) String(s string) error   { return t.item(fmt.Sprintf("%q", s)) }
func (t *trace) Bytes(b []byte) error    { return t.item(fmt.Sprintf("b%q", b)) }
func (t *trace) BeginList(n int) error   { return t.item(fmt.Sprintf("[%d", n)) }
func (t *trace) BeginTuple(n int) error  { return t.item(fmt.Sprintf("(%d", n)) }
func (t *trace) BeginDict(n int) error   { return t.item(fmt.Sprintf("{%d", n)) }
func (t *trace) End() error              { return t.item("end") }
func (t *trace) Time(tm time.Time) error { return t.item("T" + tm.Format(time.RFC3339Nano)) }
func (t *trace) Date(d Date) error       { return t.item("D" + d.String()) }
func (t *trace) TimeOfDay(x TimeOfDay) error {
	return t.item("t" + x.String())
}
func (t *trace) Object(class, module string) error { return t.item("O" + module + "." + class) }

func walkTrace(t *testing.T, v any) string {
	t.Helper()
	var tr trace
	require.NoError(t, Walk(v, &tr))
	return strings.TrimSpace(tr.b.String())
}

type inner struct {
	A int `dirac:"a"`
	B string
}

type Outer struct {
	inner
	Name  string `dirac:"name"`
	Skip  int    `dirac:"-"`
	Empty string `dirac:",omitempty"`
	Ptr   *int   `dirac:"ptr"`
	When  time.Time
	//lint:ignore U1000 unexported on purpose: the encoder must skip it
	private int
}

type recursive struct {
	Next *recursive
}

type marsh struct{ n int }

func (m marsh) DiracValue() (any, error) { return Tuple{int64(m.n), "x"}, nil }

func TestWalkModelAndGoTypes(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600))
	cases := []struct {
		in   any
		want string
	}{
		{nil, "None"},
		{int64(5), "i5"},
		{uint8(7), "u7"},
		{float32(0.1), "f0.1"},
		{"s", `"s"`},
		{[]byte("ab"), `b"ab"`},
		{[]any{int64(1), Tuple{true}}, "[2 i1 (1 true end end"},
		{NewDict(int64(1), "x", nil, 2.5), `{2 i1 "x" None f2.5 end`},
		{map[string]int{"b": 2, "a": 1}, `{2 "a" i1 "b" i2 end`},
		{map[int]bool{10: true, -2: false, 3: true}, `{3 i-2 false i3 true i10 true end`},
		{map[any]int{"x": 1, int64(2): 2, nil: 0, 1.5: 3, true: 4}, `{5 None i0 true i4 f1.5 i3 i2 i2 "x" i1 end`},
		{[2]int{1, 2}, "[2 i1 i2 end"},
		{[]int(nil), "[0 end"},
		{map[string]int(nil), "{0 end"},
		{map[string]any(nil), "{0 end"},
		{(*int)(nil), "None"},
		{when, "T2024-01-02T02:04:05.000006Z"},
		{Date{2024, 2, 29}, "D2024-02-29"},
		{TimeOfDay{1, 2, 3, 4}, "t01:02:03.000004"},
		{big.NewInt(3), "I3"},
		{&Object{Class: "P", Module: "m", Attrs: NewDict("x", int64(1))}, `Om.P {1 "x" i1 end`},
		{marsh{3}, `(2 i3 "x" end`},
		{Outer{inner: inner{A: 1, B: "b"}, Name: "n", Skip: 9}, `{5 "a" i1 "B" "b" "name" "n" "ptr" None "When" T0001-01-01T00:00:00Z end`},
		{map[string]any{"k": []string{"a"}}, `{1 "k" [1 "a" end end`},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, walkTrace(t, c.in), "%#v", c.in)
	}
}

func TestWalkErrors(t *testing.T) {
	type job struct{ Jobs complex128 }
	err := Walk([]any{1, 2, job{}}, &trace{})
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "value: cannot encode complex128 at [2].Jobs", err.Error())
	assert.ErrorIs(t, err, ErrUnsupported)

	err = Walk(map[string]any{"c": make(chan int)}, &trace{})
	assert.ErrorContains(t, err, "cannot encode chan int at c")
	err = Walk(map[[2]int]int{{1, 2}: 1}, &trace{})
	assert.ErrorContains(t, err, "map key type [2]int")
	err = Walk(map[string]struct{}{"a": {}}, &trace{})
	assert.ErrorContains(t, err, "set")
	err = Walk(map[any]int{struct{ A int }{1}: 1}, &trace{})
	assert.ErrorContains(t, err, "not a DIRAC dict key type")

	// Cycles hit the depth limit instead of overflowing the stack.
	r := &recursive{}
	r.Next = r
	err = Walk(r, &trace{})
	assert.ErrorIs(t, err, ErrTooDeep)
	l := []any{nil}
	l[0] = l
	assert.ErrorIs(t, Walk(l, &trace{}), ErrTooDeep)
	d := NewDict()
	d.Set("self", d)
	assert.ErrorIs(t, Walk(d, &trace{}), ErrTooDeep)

	// Emitter errors get a path.
	err = Walk([]any{"a", []any{"b"}}, failOn{"b"})
	assert.EqualError(t, err, "value: at [1][0]: no b")
}

type failOn struct{ s string }

func (f failOn) Nil() error                  { return nil }
func (f failOn) Bool(bool) error             { return nil }
func (f failOn) Int(int64) error             { return nil }
func (f failOn) Uint(uint64) error           { return nil }
func (f failOn) BigInt(*big.Int) error       { return nil }
func (f failOn) Float(float64) error         { return nil }
func (f failOn) Bytes([]byte) error          { return nil }
func (f failOn) BeginList(int) error         { return nil }
func (f failOn) BeginTuple(int) error        { return nil }
func (f failOn) BeginDict(int) error         { return nil }
func (f failOn) End() error                  { return nil }
func (f failOn) Time(time.Time) error        { return nil }
func (f failOn) Date(Date) error             { return nil }
func (f failOn) TimeOfDay(TimeOfDay) error   { return nil }
func (f failOn) Object(string, string) error { return nil }
func (f failOn) String(s string) error {
	if s == f.s {
		return errors.New("no " + s)
	}
	return nil
}

func TestHashable(t *testing.T) {
	for _, k := range []any{"s", int64(1), nil, true, 1.5, big.NewInt(1), []byte("b"), time.Time{}, Date{}, TimeOfDay{},
		Tuple{int64(1), Tuple{"x"}}, uint8(3), ptrTo(5), marsh{1}} {
		assert.True(t, Hashable(k), "%#v", k)
	}
	for _, k := range []any{[]any{}, NewDict(), Tuple{[]any{}}, map[string]any{}, &Object{}, []int{1},
		map[int]int{}, [2]int{}, struct{ A int }{}, ptrTo([]int{1})} {
		assert.False(t, Hashable(k), "%#v", k)
	}
}

func ptrTo[T any](v T) *T { return &v }

type Base struct {
	ID   int
	Name string `dirac:"name"`
}

type Other struct {
	ID    int
	Label string
}

type withEmbedded struct {
	Base
	*Other                // ID is ambiguous with Base.ID at the same depth: dropped
	Name   string         // shallower than Base.name: wins
	Skip   time.Time      `dirac:",omitzero"`
	Opt    []int          `dirac:",omitempty"`
	M      map[string]int `dirac:"m,omitempty"`
}

func TestWalkEmbeddedAndOmit(t *testing.T) {
	v := withEmbedded{Base: Base{ID: 1, Name: "base"}, Name: "top"}
	assert.Equal(t, `{2 "name" "base" "Name" "top" end`, walkTrace(t, v))
	v.Other = &Other{ID: 2, Label: "l"}
	v.Skip = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v.M = map[string]int{"k": 1}
	assert.Equal(t, `{5 "name" "base" "Label" "l" "Name" "top" "Skip" T2024-01-01T00:00:00Z "m" {1 "k" i1 end end`, walkTrace(t, v))

	var back withEmbedded
	require.NoError(t, Assign(&back, NewDict("Label", "x", "name", "n", "skip", time.Time{})))
	require.NotNil(t, back.Other, "embedded pointer allocated")
	assert.Equal(t, "x", back.Label)
	assert.Equal(t, "n", back.Base.Name)
}

type failing struct{}

func (failing) DiracValue() (any, error) { return nil, errors.New("nope") }

func TestWalkKeysAndMarshalerErrors(t *testing.T) {
	d1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, `{3 false i1 D2023-01-01 i2 T2024-01-01T00:00:00Z i1 end`,
		walkTrace(t, map[any]int{d1: 1, Date{2023, 1, 1}: 2, false: 1}))
	assert.Equal(t, `{4 i-1 None u2 f1.5 f2.5 None u7 None end`,
		walkTrace(t, map[any]any{uint(2): 1.5, int8(-1): nil, 2.5: nil, uint64(7): nil}))
	err := Walk([]any{failing{}}, &trace{})
	var ee *EncodeError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "[0]", ee.Path)
	assert.ErrorContains(t, err, "nope")
	assert.Equal(t, "None", walkTrace(t, (*marshPtr)(nil)))
}

type marshPtr struct{}

func (*marshPtr) DiracValue() (any, error) { return "x", nil }

// keyTrace is a trace whose struct keys come prepared (KeyEmitter), to
// check that Walk emits the same events either way.
type keyTrace struct {
	trace
	dialect  string
	prepared int // EncodeKey calls
}

func (k *keyTrace) KeyDialect() string { return k.dialect }
func (k *keyTrace) EncodeKey(name string) []byte {
	k.prepared++
	return fmt.Appendf(nil, "%q", name)
}
func (k *keyTrace) RawKey(b []byte) error { return k.item(string(b)) }

type kinds struct {
	S  string
	I  int16
	U  uint8
	B  bool
	F  float64
	F3 float32
	T  time.Time
	L  []string
	D  Date
	A  any
}

// freshDialect numbers the dialects TestWalkPreparedKeys makes up.
var freshDialect atomic.Int64

func TestWalkPreparedKeys(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	values := []any{
		kinds{S: "s", I: -3, U: 7, B: true, F: 1.5, F3: 0.1, T: when, L: []string{"a"}, D: Date{2024, 1, 2}, A: 1},
		[]kinds{{S: "a"}, {S: "b"}},
		withEmbedded{Base: Base{ID: 1, Name: "base"}, Name: "top", Other: &Other{ID: 2, Label: "l"}},
		Outer{inner: inner{A: 1, B: "b"}, Name: "n"},
	}
	for _, dialect := range []string{"one", "two"} {
		for _, v := range values {
			kt := &keyTrace{dialect: dialect}
			require.NoError(t, Walk(v, kt))
			assert.Equal(t, walkTrace(t, v), strings.TrimSpace(kt.b.String()))
		}
	}
	// Keys are prepared once per type and dialect: a dialect new to the
	// process (the cache outlives a test run with -count).
	kt := &keyTrace{dialect: fmt.Sprintf("three-%d", freshDialect.Add(1))}
	require.NoError(t, Walk([]kinds{{}, {}, {}}, kt))
	assert.Equal(t, 10, kt.prepared)
}
