package dencode

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/internal/testkit/decodertest"
	"github.com/diracgo/diracrpc/internal/testkit/encodertest"
	"github.com/diracgo/diracrpc/value"
)

func decodeString(t *testing.T, s string) any {
	t.Helper()
	v, n, err := Decode([]byte(s))
	require.NoError(t, err, "%q", s)
	require.Equal(t, len(s), n, "%q", s)
	return v
}

func TestLenientNumbersAsPythonInt(t *testing.T) {
	ints := map[string]int64{
		"i+5e": 5, "i 12 e": 12, "i007e": 7, "i-0e": 0, "i1_000e": 1000, "I-5e": -5,
		"i\t3\ne": 3, "i-9223372036854775808e": math.MinInt64, "i0_0e": 0,
	}
	for in, want := range ints {
		assert.Equal(t, want, decodeString(t, in), in)
	}
	huge := decodeString(t, "i-99999999999999999999e")
	assert.Equal(t, "-99999999999999999999", huge.(*big.Int).String())
	for _, bad := range []string{"ie", "i-e", "i+e", "i_1e", "i1_e", "i1__0e", "i1 2e", "i0x10e", "i1.0e", "i- 1e", "i١e"} {
		_, _, err := Decode([]byte(bad))
		assert.ErrorIs(t, err, ErrSyntax, "%q", bad)
	}
	// CPython refuses int() of more than 4300 digits.
	_, _, err := Decode([]byte("i" + strings.Repeat("9", 4301) + "e"))
	assert.ErrorIs(t, err, ErrSyntax)
	assert.IsType(t, &big.Int{}, decodeString(t, "i"+strings.Repeat("9", 4300)+"e"))
}

func TestFloatForms(t *testing.T) {
	floats := map[string]float64{
		"f1e+20e": 1e20, "f1.5e-05e": 1.5e-05, "f1E5e": 1e5, "f1_0.5e": 10.5, "f3e": 3,
		"f.5e": 0.5, "f5.e": 5, "f-1.25e-3e": -0.00125, "f 2.5 e": 2.5, "f+1.0e": 1,
		"f5e-324e": 5e-324, "f1e-400e": 0, "f1.7976931348623157e+308e": math.MaxFloat64,
		"finfinitye": math.Inf(1), "f-Infe": math.Inf(-1), "f1E400e": math.Inf(1), "f9.9e+308e": math.Inf(1),
	}
	for in, want := range floats {
		assert.Equal(t, want, decodeString(t, in), in)
	}
	assert.True(t, math.IsNaN(decodeString(t, "fnane").(float64)))
	assert.True(t, math.IsNaN(decodeString(t, "fNaNe").(float64)))
	for _, bad := range []string{"fe", "f.e", "f1.5.5e", "f0x1p3e", "f1_e", "f_1e", "f1e+e", "f1e+400e", "f1e+1_0_0_0e", "fxyze", "f1,5e"} {
		_, _, err := Decode([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
	// 10**309 does not fit a float: Python raises even for a zero mantissa.
	_, _, err := Decode([]byte("f0e+309e"))
	assert.ErrorIs(t, err, ErrSyntax)
}

func TestDecodeQuirks(t *testing.T) {
	assert.Equal(t, true, decodeString(t, "bx"))
	assert.Equal(t, false, decodeString(t, "b0"))
	assert.Equal(t, "abc", decodeString(t, "u3:abc"))
	assert.Equal(t, "\xff\xfe\xfd", decodeString(t, "s3:\xff\xfe\xfd"), "bytes kept exactly")
	assert.Equal(t, "abc", decodeString(t, "s 03:abc"))
	assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), decodeString(t, "zali2024ei1ei2ei3ei4ei5ee"))
	assert.Equal(t, value.TimeOfDay{}, decodeString(t, "ztte"))
	assert.Equal(t, value.Date{Year: 2024, Month: 2, Day: 29}, decodeString(t, "zdli2024ei2ei29ee"))
	// Duplicate keys: the later value wins, in the first position (1 == True).
	d := decodeString(t, "di1es1:as1:bs1:bb1s1:ce").(*value.Dict)
	assert.True(t, value.Equal(value.NewDict(int64(1), "c", "b", "b"), d))
	assert.True(t, value.Equal(value.NewDict(value.Tuple{int64(1)}, nil), decodeString(t, "dti1eene")))

	// DIRAC's decode ignores what follows the value; Decode reports where it
	// stopped, Unmarshal refuses the extra bytes.
	v, n, err := Decode([]byte("null"))
	require.NoError(t, err)
	assert.Nil(t, v)
	assert.Equal(t, 1, n)
	var x any
	assert.ErrorIs(t, Unmarshal([]byte("i1eXYZ"), &x), ErrTrailingData)
}

func TestDecodeErrors(t *testing.T) {
	cases := map[string]error{
		"":                                 ErrEmpty,
		"s5:ab":                            ErrTruncated, // DIRAC silently returns "ab"
		"ls10:abce":                        ErrTruncated,
		"b":                                ErrTruncated,
		"i5":                               ErrTruncated,
		"s3":                               ErrTruncated,
		"l":                                ErrTruncated,
		"za":                               ErrTruncated,
		"x":                                ErrSyntax,
		"d1:a":                             ErrSyntax,
		"ds1:ae":                           ErrSyntax,
		"dlei1ee":                          ErrSyntax, // list key: TypeError in Python
		"ddei1ee":                          ErrSyntax,
		"dtleei1ee":                        ErrSyntax, // tuple holding a list is unhashable
		"s-1:":                             ErrSyntax,
		"zxti1ee":                          ErrSyntax,
		"zati2024ei13ei1ee":                ErrSyntax,
		"zati2024ee":                       ErrSyntax,
		"zati2023ei2ei29ee":                ErrSyntax,
		"zati2024ei1ei1ei24ee":             ErrSyntax,
		"zati2024ei1ei1ei0ei0ei0ei0ei0ee":  ErrSyntax, // tzinfo must be None
		"zas3:abc":                         ErrSyntax,
		"zdti2024ei1ei1enee":               ErrSyntax,
		"ztti1ei2ei3ei4ei5ee":              ErrSyntax,
		"zati2024ei1ei1ef1.0ee":            ErrSyntax,
		"zati99999999999999999999ei1ei1ee": ErrSyntax,
	}
	for in, want := range cases {
		_, _, err := Decode([]byte(in))
		assert.ErrorIs(t, err, want, "%q", in)
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, "%q", in)
	}
	// Every strict prefix of a container is truncated.
	full, err := Marshal(value.NewDict("a", []any{int64(1), value.Tuple{"x", 2.5}}, "t", time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)))
	require.NoError(t, err)
	for i := 1; i < len(full); i++ {
		_, _, err := Decode(full[:i])
		assert.Error(t, err, "%q", full[:i])
	}
}

func TestDepthLimit(t *testing.T) {
	for _, open := range []string{"l", "t", "ds1:k", "zal"} {
		in := strings.Repeat(open, 100000)
		_, _, err := Decode([]byte(in))
		assert.ErrorIs(t, err, value.ErrTooDeep, open)
	}
	ok := strings.Repeat("l", value.MaxDepth) + strings.Repeat("e", value.MaxDepth)
	decodeString(t, ok)
	_, _, err := Decode([]byte("l" + ok + "e"))
	assert.ErrorIs(t, err, value.ErrTooDeep)
	assert.ErrorContains(t, err, "nested deeper than 1000")
}

// Python builds dicts with a hash table; so must we, whatever the keys.
func TestManyNonStringKeysInLinearTime(t *testing.T) {
	var b strings.Builder
	b.WriteString("d")
	for i := range 50000 {
		fmt.Fprintf(&b, "ti%deen", i)
	}
	b.WriteString("e")
	start := time.Now()
	v := decodeString(t, b.String())
	assert.Equal(t, 50000, v.(*value.Dict).Len())
	assert.Less(t, time.Since(start), 5*time.Second)
}

// A 20-byte input declaring a 900 MB string allocates next to nothing.
func TestNoAllocationFromDeclaredLength(t *testing.T) {
	for _, in := range []string{"s900000000:0123456789", "ls900000000:0123456789", "u99999999999999999999:x"} {
		data := []byte(in)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 100 {
			_, _, err := Decode(data)
			require.Error(t, err)
		}
		runtime.ReadMemStats(&after)
		perCall := (after.TotalAlloc - before.TotalAlloc) / 100
		assert.Less(t, perCall, uint64(2048), "%q allocated %d bytes per decode", in, perCall)
	}
}

func TestMarshalGoTypes(t *testing.T) {
	type rec struct {
		ID    int       `dirac:"JobID"`
		Skip  string    `dirac:"-"`
		When  time.Time `dirac:"when"`
		Ratio float32
		Tags  []string `dirac:",omitempty"`
	}
	paris := time.FixedZone("CET", 3600)
	got, err := Marshal(rec{ID: 7, When: time.Date(2024, 1, 2, 4, 4, 5, 123456789, paris), Ratio: 0.1})
	require.NoError(t, err)
	assert.Equal(t, "ds5:JobIDi7es4:whenzati2024ei1ei2ei3ei4ei5ei123456enes5:Ratiof0.1ee", string(got))

	got, err = Marshal(map[int]any{2: []byte{0, 0xff}, -1: uint64(math.MaxUint64), 1: nil})
	require.NoError(t, err)
	assert.Equal(t, "di-1ei18446744073709551615ei1eni2es2:\x00\xffe", string(got))

	got, err = Marshal(value.NewDict(value.Tuple{int64(1), "a"}, value.Date{Year: 2024, Month: 1, Day: 2}, nil, value.TimeOfDay{Hour: 1}))
	require.NoError(t, err)
	assert.Equal(t, "dti1es1:aezdti2024ei1ei2eenztti1ei0ei0ei0enee", string(got))

	buf := []byte("prefix:")
	buf, err = AppendMarshal(buf, []any{int64(1)})
	require.NoError(t, err)
	assert.Equal(t, "prefix:li1ee", string(buf))
}

func TestMarshalRefuses(t *testing.T) {
	for _, v := range []any{
		complex(1, 2),
		[]any{1, make(chan int)},
		map[int]struct{}{1: {}}, // a Go set, like Python's set
		&value.Object{Class: "P", Module: "m"},
		value.NewDict([]any{int64(1)}, "list key"),
		value.NewDict(value.NewDict(), "dict key"),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		value.Date{},
		value.TimeOfDay{Hour: 24},
		func() {},
	} {
		_, err := Marshal(v)
		assert.Error(t, err, "%#v", v)
	}
	_, err := Marshal([]any{1, 2, struct{ Jobs complex128 }{}})
	assert.EqualError(t, err, "dencode: value: cannot encode complex128 at [2].Jobs")
	_, err = Marshal(&value.Object{Class: "P", Module: "m"})
	assert.ErrorIs(t, err, ErrObject)
	buf := []byte("keep")
	out, err := AppendMarshal(buf, []any{1, complex(1, 1)})
	assert.Error(t, err)
	assert.Equal(t, "keep", string(out))
}

func TestUnmarshalTyped(t *testing.T) {
	type job struct {
		JobID  int
		Status string
		When   time.Time `dirac:"LastUpdateTime"`
		Tags   []string
	}
	in := "ds2:OKb1s5:Valuelds5:JobIDi7es6:Statuss4:Dones14:LastUpdateTimezati2024ei1ei2ei3ei4ei5ei0enes4:Tagsls1:aeeee"
	var res struct {
		OK    bool
		Value []job
	}
	require.NoError(t, Unmarshal([]byte(in), &res))
	assert.True(t, res.OK)
	assert.Equal(t, []job{{JobID: 7, Status: "Done", When: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Tags: []string{"a"}}}, res.Value)

	var m map[int]string
	require.NoError(t, Unmarshal([]byte("di1es1:ae"), &m))
	assert.Equal(t, map[int]string{1: "a"}, m)

	var n int8
	err := Unmarshal([]byte("i300e"), &n)
	var ae *value.AssignError
	assert.ErrorAs(t, err, &ae)
	assert.Error(t, Unmarshal([]byte("i1e"), nil))
	assert.True(t, errors.Is(Unmarshal([]byte("l"), &n), ErrTruncated))
}

func TestCivilMatchesTimePackage(t *testing.T) {
	check := func(u int64) {
		tm := time.Unix(u, 0).UTC()
		y, m, d, hh, mm, ss := civil(u)
		require.Equal(t, [6]int{tm.Year(), int(tm.Month()), tm.Day(), tm.Hour(), tm.Minute(), tm.Second()},
			[6]int{y, m, d, hh, mm, ss}, "unix %d (%s)", u, tm)
	}
	first := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	last := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for _, u := range []int64{0, -1, 1, 86399, 86400, -86400, -86401, first, first - 1, last, last + 1, 951782400, 4107542399} {
		check(u)
	}
	for u := first; u <= last; u += 86400*37 + 3607 { // about 27000 dates across the range
		check(u)
	}
}

// Structs (field names prepared once per type, value.KeyEmitter) encode to
// exactly the bytes of the same data as ordered dicts.
func TestStructEqualsGeneric(t *testing.T) {
	typed, err := Marshal(benchdata.Typed())
	require.NoError(t, err)
	generic, err := Marshal(benchdata.Generic())
	require.NoError(t, err)
	require.Equal(t, string(generic), string(typed))
	// Twice: the second run uses the prepared keys.
	again, err := Marshal(benchdata.Typed())
	require.NoError(t, err)
	require.Equal(t, string(generic), string(again))
}

// utcTime must build exactly what time.Date builds, over the whole range
// Python's datetime can hold, leap days and century years included.
func TestUTCTimeMatchesTimeDate(t *testing.T) {
	check := func(f [7]int64) {
		want := time.Date(int(f[0]), time.Month(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6])*1000, time.UTC)
		if got := utcTime(f); got != want {
			t.Fatalf("%v: utcTime gives %v, time.Date %v", f, got, want)
		}
	}
	for y := int64(1); y <= 9999; y++ {
		for m := int64(1); m <= 12; m++ {
			check([7]int64{y, m, 1, 0, 0, 0, 0})
			check([7]int64{y, m, int64(daysIn(y, m)), 23, 59, 59, 999999})
		}
	}
	check([7]int64{2000, 2, 29, 12, 30, 45, 123456})
	check([7]int64{1900, 2, 28, 1, 2, 3, 4})
}

func TestDecodedValuesStayUnchanged(t *testing.T) {
	decodertest.ValuesStayUnchanged(t, decodertest.Codec{Marshal: Marshal, Unmarshal: Unmarshal})
}

func TestPooledDecoderKeepsLittle(t *testing.T) {
	decodertest.PooledDecoderKeepsLittle(t, decodertest.Codec{Marshal: Marshal, Unmarshal: Unmarshal})
}

// The generic model written without the events gives the bytes and errors
// of the general way (encodertest).
func TestModelShortcutMatchesEvents(t *testing.T) {
	encodertest.ShortcutMatchesEvents(t, appendMarshal)
	encodertest.PiecesAfterTheShortcutGivesUp(t, appendMarshal)
}
