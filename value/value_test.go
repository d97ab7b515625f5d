package value

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/python_float_repr.txt holds "<IEEE-754 hex> <repr(x)>" lines written
// by CPython 3.11 for edge cases and random doubles.
func TestFormatFloatMatchesPythonRepr(t *testing.T) {
	f, err := os.Open("testdata/python_float_repr.txt")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		bitsHex, want, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok)
		raw, err := hex.DecodeString(bitsHex)
		require.NoError(t, err)
		x := math.Float64frombits(binary.BigEndian.Uint64(raw))
		assert.Equal(t, want, FormatFloat(x), "bits %s", bitsHex)
		n++
	}
	require.NoError(t, sc.Err())
	require.Greater(t, n, 500)
	assert.Equal(t, "nan", FormatFloat(math.NaN()))
	assert.Equal(t, "inf", FormatFloat(math.Inf(1)))
	assert.Equal(t, "-inf", FormatFloat(math.Inf(-1)))
}

func TestDictKeepsOrderAndPythonKeyEquality(t *testing.T) {
	d := NewDict("b", 1, "a", 2, int64(1), "one", nil, "none", Tuple{int64(1), int64(2)}, "t")
	assert.Equal(t, []any{"b", "a", int64(1), nil, Tuple{int64(1), int64(2)}}, d.Keys())
	d.Set(1.0, "float one") // Python: 1.0 == 1
	d.Set(true, "true")     // and True == 1
	v, ok := d.Get(int64(1))
	require.True(t, ok)
	assert.Equal(t, "true", v)
	assert.Equal(t, 5, d.Len())
	v, ok = d.Get(Tuple{int64(1), int64(2)})
	require.True(t, ok)
	assert.Equal(t, "t", v)
	d.Delete("a")
	assert.Equal(t, []any{"b", int64(1), nil, Tuple{int64(1), int64(2)}}, d.Keys())
	assert.Equal(t, map[string]any{"b": 1}, d.StringMap())

	big := &Dict{}
	for i := range 100 {
		big.Set(int64(i), i)
	}
	big.Set(float64(50), "x")
	v, _ = big.Get(int64(50))
	assert.Equal(t, "x", v)
	assert.Equal(t, 100, big.Len())
	// Distinct int64 keys beyond 2**53 stay distinct.
	big.Set(int64(1<<60), "a")
	big.Set(int64(1<<60+1), "b")
	v, _ = big.Get(int64(1<<60 + 1))
	assert.Equal(t, "b", v)
}

func TestEqual(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 678000, time.UTC)
	cases := []struct {
		a, b any
		want bool
	}{
		{nil, nil, true},
		{int64(1), 1, true},
		{int64(1), 1.0, false},
		{int64(1), true, false},
		{new(big.Int).Lsh(big.NewInt(1), 70), new(big.Int).Lsh(big.NewInt(1), 70), true},
		{math.NaN(), math.NaN(), true},
		{0.0, math.Copysign(0, -1), false},
		{"a", []byte("a"), false},
		{[]any{int64(1)}, Tuple{int64(1)}, false},
		{NewDict("a", 1, "b", 2), NewDict("a", 1, "b", 2), true},
		{NewDict("a", 1, "b", 2), NewDict("b", 2, "a", 1), false},
		{when, when.In(time.FixedZone("x", 3600)), true},
		{Date{2024, 2, 29}, Date{2024, 2, 29}, true},
		{TimeOfDay{1, 2, 3, 4}, TimeOfDay{1, 2, 3, 5}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Equal(c.a, c.b), "%#v vs %#v", c.a, c.b)
	}
}

func TestNormalizeJSON(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 678000, time.UTC)
	in := NewDict(
		int64(1), Tuple{int64(2), Tuple{int64(3)}},
		2.5, when,
		nil, true,
		false, []byte{0, 0xff},
		"1", "duplicate of the int key",
	)
	got, err := NormalizeJSON(in)
	require.NoError(t, err)
	want := NewDict(
		"1", "duplicate of the int key",
		"2.5", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"null", true,
		"false", []byte{0, 0xff},
	)
	// The later "1" overwrote the converted int key in place.
	want.Set("1", "duplicate of the int key")
	assert.True(t, Equal(want, got), "got %#v", got)

	_, err = NormalizeJSON(TimeOfDay{1, 2, 3, 0})
	require.Error(t, err)
	_, err = NormalizeJSON(NewDict(Tuple{int64(1)}, "x"))
	require.Error(t, err)
}

func TestDictCompositeKeysAreIndexed(t *testing.T) {
	d := &Dict{}
	for i := range 2000 {
		d.Set(Tuple{int64(i), "x"}, i)
	}
	v, ok := d.Get(Tuple{float64(1999), "x"}) // Python: (1999.0, "x") == (1999, "x")
	require.True(t, ok)
	assert.Equal(t, 1999, v)
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	d.Set(huge, "big")
	v, ok = d.Get(math.Ldexp(1, 70))
	require.True(t, ok)
	assert.Equal(t, "big", v)

	// NaN equals nothing, not even itself, as in Python.
	d.Set(math.NaN(), 1)
	d.Set(math.NaN(), 2)
	assert.Equal(t, 2003, d.Len())
	assert.False(t, d.Has(math.NaN()))
}
