package jencode

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
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

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	require.NoError(t, err, "input %q", s)
	return v
}

func TestMarshalGoTypes(t *testing.T) {
	type job struct {
		ID     int       `dirac:"JobID"`
		Status string    `dirac:"Status"`
		When   time.Time `dirac:"When"`
		Tags   []string
		Data   []byte
	}
	j := job{ID: 7, Status: "Done <&>", When: time.Date(2024, 1, 2, 3, 4, 5, 999, time.FixedZone("X", 3600)), Tags: []string{"a"}, Data: []byte{0, 0xff}}
	assert.Equal(t,
		`{"JobID": 7, "Status": "Done <&>", "When": {"__dCls": "dt", "obj": "2024-01-02 02:04:05"}, "Tags": ["a"], "Data": {"__dCls": "b64", "obj": "AP8="}}`,
		mustMarshal(t, j))
	assert.Equal(t, `{"1": "x", "2": "y"}`, mustMarshal(t, map[int]string{2: "y", 1: "x"}))
	assert.Equal(t, `[1.0, 1, 1e+16, NaN, -Infinity, 18446744073709551615]`,
		mustMarshal(t, []any{1.0, 1, 1e16, math.NaN(), math.Inf(-1), uint64(math.MaxUint64)}))
	assert.Equal(t, `{"__dCls": "date", "obj": "999-03-04"}`, mustMarshal(t, value.Date{Year: 999, Month: 3, Day: 4}))

	out, err := AppendMarshal([]byte("prefix:"), value.Tuple{int64(1), nil})
	require.NoError(t, err)
	assert.Equal(t, "prefix:[1, null]", string(out))
}

func TestMarshalKeysAsPython(t *testing.T) {
	d := value.NewDict(int64(3), "a", 2.5, "b", true, "c", nil, "d", math.Inf(1), "e", "s", "f",
		new(big.Int).Lsh(big.NewInt(1), 70), "g")
	assert.Equal(t, `{"3": "a", "2.5": "b", "true": "c", "null": "d", "Infinity": "e", "s": "f", "1180591620717411303424": "g"}`, mustMarshal(t, d))
	for _, k := range []any{value.Tuple{int64(1)}, []byte("x"), time.Unix(0, 0), value.Date{Year: 2000, Month: 1, Day: 1}} {
		_, err := Marshal(value.NewDict(k, 1))
		var ue *UnsupportedError
		require.ErrorAs(t, err, &ue, "key %#v", k)
		assert.True(t, ue.Key)
	}
}

func TestMarshalStrings(t *testing.T) {
	assert.Equal(t, `"a/b \"q\" \\ \u007f \u00e9 \ud83d\ude00 \u0001\b\f\n\r\t"`, mustMarshal(t, "a/b \"q\" \\ \x7f é 😀 \x01\b\f\n\r\t"))
	// Invalid UTF-8 is written as Python writes the surrogateescape'd str.
	assert.Equal(t, `"\udcff\udcfe\u00e9\udced\udca0\udc80"`, mustMarshal(t, "\xff\xfeé\xed\xa0\x80"))
	// and decodes back to the same bytes.
	assert.Equal(t, "\xff\xfeé\xed\xa0\x80", mustDecode(t, `"\udcff\udcfe\u00e9\udced\udca0\udc80"`))
}

func TestMarshalObject(t *testing.T) {
	o := &value.Object{Class: "Point", Module: "m", Attrs: value.NewDict("x", int64(1), "label", nil, "y", 2.5)}
	assert.Equal(t, `{"__dCls": "Point", "__dMod": "m", "x": 1, "y": 2.5}`, mustMarshal(t, o))
	assert.Equal(t, `[{"__dCls": "E", "__dMod": "m"}]`, mustMarshal(t, []any{&value.Object{Class: "E", Module: "m"}}))
	assert.Equal(t, o, withoutNil(mustDecode(t, `{"x": 1, "__dCls": "Point", "label": null, "__dMod": "m", "y": 2.5}`).(*value.Object)))
}

func withoutNil(o *value.Object) *value.Object {
	return &value.Object{Class: o.Class, Module: o.Module, Attrs: value.NewDict("x", int64(1), "label", nil, "y", 2.5)}
}

func TestMarshalRefuses(t *testing.T) {
	for name, v := range map[string]any{
		"time of day": value.TimeOfDay{Hour: 1},
		"year 0":      time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		"year 10000":  time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		"bad date":    value.Date{Year: 2023, Month: 2, Day: 29},
		"long int":    new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxIntDigits), nil),
		"channel":     make(chan int),
	} {
		_, err := Marshal(v)
		assert.Error(t, err, name)
	}
	_, err := Marshal(new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxIntDigits), nil))
	assert.ErrorIs(t, err, ErrIntTooLong)
	_, err = Marshal(new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(MaxIntDigits), nil), big.NewInt(1)))
	assert.NoError(t, err, "4300 digits are allowed")

	cyclic := []any{nil}
	cyclic[0] = cyclic
	_, err = Marshal(cyclic)
	assert.ErrorIs(t, err, value.ErrTooDeep)
}

func TestDecodeNumbers(t *testing.T) {
	assert.Equal(t, int64(1), mustDecode(t, "1"))
	assert.Equal(t, 1.0, mustDecode(t, "1.0"))
	assert.Equal(t, 100.0, mustDecode(t, "1E2"))
	assert.Equal(t, int64(0), mustDecode(t, "-0"))
	assert.True(t, math.Signbit(mustDecode(t, "-0.0").(float64)))
	assert.Equal(t, int64(math.MinInt64), mustDecode(t, "-9223372036854775808"))
	assert.Equal(t, "9223372036854775808", mustDecode(t, "9223372036854775808").(*big.Int).String())
	assert.Equal(t, 0.0, mustDecode(t, "1e-400"))
	assert.Equal(t, math.Inf(-1), mustDecode(t, "-1e400"))
	for _, bad := range []string{"01", "1.", ".5", "-", "+1", "1e", "1e+", "0x1", "-NaN", "nan", "infinity", "1_000"} {
		_, err := Decode([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}

	_, err := Decode([]byte(strings.Repeat("7", MaxIntDigits+1)))
	assert.ErrorIs(t, err, ErrIntTooLong)
	n := mustDecode(t, "-"+strings.Repeat("7", MaxIntDigits))
	assert.Equal(t, MaxIntDigits+1, len(n.(*big.Int).String()))
	// A float may be as long as it likes (Python's float() has no limit).
	assert.Equal(t, 7.0, mustDecode(t, "7."+strings.Repeat("0", 1<<20)))
}

func TestDecodeStrings(t *testing.T) {
	assert.Equal(t, "é😀\u0000/\x7f", mustDecode(t, `"\u00E9\ud83d\ude00\u0000\/`+"\x7f"+`"`))
	// Lone surrogates: \udc80-\udcff give the raw byte, others WTF-8.
	assert.Equal(t, "\xff", mustDecode(t, `"\udcff"`))
	assert.Equal(t, "\xed\xa0\xbd!", mustDecode(t, `"\ud83d!"`))
	assert.Equal(t, "\xed\xa0\xbd\xed\xa0\xbd", mustDecode(t, `"\ud83d\ud83d"`))
	assert.Equal(t, "\xed\xb8\x80", mustDecode(t, `"\ude00"`))
	// Raw UTF-8 text, and encoded surrogates (Python's surrogatepass).
	assert.Equal(t, "日本", mustDecode(t, "\"日本\""))
	assert.Equal(t, "\xed\xa0\x80\xfe", mustDecode(t, "\"\xed\xa0\x80\xed\xb3\xbe\""))
	for _, bad := range []string{`"abc`, `"a` + "\n" + `"`, `"\x"`, `"\u12"`, `"\u12g4"`, `"\ud83d\u12g4"`, "\"\xff\"", "\"\xc3\"", `"\`} {
		_, err := Decode([]byte(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestDecodeStructure(t *testing.T) {
	// Duplicate keys: the last value wins, at the first key's position.
	d := mustDecode(t, `{"a": 1, "b": 2, "a": 3}`).(*value.Dict)
	assert.Equal(t, []any{"a", "b"}, d.Keys())
	v, _ := d.Get("a")
	assert.Equal(t, int64(3), v)

	assert.True(t, value.Equal([]any{}, mustDecode(t, " [ ] ")))
	assert.True(t, value.Equal(value.NewDict(), mustDecode(t, "{\r\n\t}")))
	for in, msg := range map[string]string{
		"":               "Expecting value: line 1 column 1 (char 0)",
		"  \n ":          "Expecting value: line 2 column 2 (char 4)",
		"[1,]":           "Expecting value: line 1 column 4 (char 3)",
		`{"a":1,}`:       "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
		`{"a" 1}`:        "Expecting ':' delimiter: line 1 column 6 (char 5)",
		`{"é": 1 "b"}`:   "Expecting ',' delimiter: line 1 column 9 (char 8)",
		`[1 2]`:          "Expecting ',' delimiter: line 1 column 4 (char 3)",
		"[\n\"ab":        "Unterminated string starting at: line 2 column 1 (char 2)",
		`"a` + "\x01":    "Invalid control character at: line 1 column 3 (char 2)",
		"1 2":            "Extra data: line 1 column 3 (char 2)",
		"\ufeff1":        "",
		"[\u00a01]":      "Expecting value: line 1 column 2 (char 1)",
		"tru":            "Expecting value: line 1 column 1 (char 0)",
		`"\x"`:           "Invalid \\escape: line 1 column 2 (char 1)",
		`"\u12"`:         "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
		`"\ud83d\u12g4"`: "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
		`"\`:             "Unterminated string starting at: line 1 column 1 (char 0)",
	} {
		_, err := Decode([]byte(in))
		if msg == "" {
			continue
		}
		var se *SyntaxError
		if assert.ErrorAs(t, err, &se, "%q", in) {
			assert.Equal(t, msg, se.Detail(), "%q", in)
		}
	}
}

func TestDecodeEncodings(t *testing.T) {
	// json.loads on bytes strips a UTF-8 BOM and reads UTF-16/32.
	assert.Equal(t, int64(1), mustDecode(t, "\xef\xbb\xbf1"))
	_, err := Decode([]byte("\xef\xbb\xbf\xef\xbb\xbf1"))
	assert.Error(t, err)
	utf16le := []byte{'[', 0, '"', 0, 0x3d, 0xd8, 0x00, 0xde, 0x00, 0xd8, '"', 0, ']', 0}
	assert.Equal(t, []any{"😀\xed\xa0\x80"}, mustDecode(t, string(utf16le)))
	utf16be := []byte{0xfe, 0xff, 0, '1', 0, '2'}
	assert.Equal(t, int64(12), mustDecode(t, string(utf16be)))
	utf32le := []byte{'7', 0, 0, 0}
	assert.Equal(t, int64(7), mustDecode(t, string(utf32le)))
	utf32be := []byte{0, 0, 0xfe, 0xff, 0, 0, 0, '"', 0, 0x01, 0xf6, 0x00, 0, 0, 0, '"'}
	assert.Equal(t, "😀", mustDecode(t, string(utf32be)))
	_, err = Decode([]byte{'1', 0, 0})
	assert.Error(t, err, "three bytes are read as UTF-8: extra data")
	_, err = Decode([]byte{0xff, 0xfe, '1'})
	assert.Error(t, err, "odd UTF-16 length")
	_, err = Decode([]byte{0, 0, 0xfe, 0xff, 0, 0x11, 0, 0})
	assert.Error(t, err, "beyond U+10FFFF")
}

func TestDecodeDepth(t *testing.T) {
	ok := strings.Repeat("[", value.MaxDepth) + strings.Repeat("]", value.MaxDepth)
	_, err := Decode([]byte(ok))
	require.NoError(t, err)
	deep := strings.Repeat(`{"a": [`, value.MaxDepth)
	_, err = Decode([]byte(deep))
	require.ErrorIs(t, err, value.ErrTooDeep)
	_, err = Decode([]byte(strings.Repeat("[", 1<<20)))
	require.ErrorIs(t, err, value.ErrTooDeep)
}

func TestDecodeHook(t *testing.T) {
	dt := func(s string) string { return `{"__dCls": "dt", "obj": "` + s + `"}` }
	want := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	// Python's strptime is lenient in these ways.
	for _, s := range []string{"2024-01-02 03:04:05", "2024-1-2 3:4:5", "2024-01- 2 03:04:05", `2024-01-02 \t\u000b 03:04:05`,
		"２０２４-01-02 03:04:05", "2024-01-02\u300003:04:05"} {
		got, err := Decode([]byte(dt(s)))
		if assert.NoError(t, err, s) {
			assert.Equal(t, want, got, s)
		}
	}
	for _, s := range []string{"2024-01-02T03:04:05", "2024-01-02 03:04:05.123", "24-01-02 03:04:05", "2024-02-30 00:00:00",
		"2024-13-01 00:00:00", "2024-01-02 24:00:00", "2024-01-02 00:60:00", "2024-01-02 00:00:60", "0000-01-01 00:00:00",
		"2024-01-02 03:04:05 ", " 2024-01-02 03:04:05", "2024-01-02", "2024-01-0203:04:05", "2024-01-02 03:04:5x"} {
		_, err := Decode([]byte(dt(s)))
		assert.Error(t, err, s)
	}
	assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 7, 0, time.UTC), mustDecode(t, dt("2024-01-02 03:04:7")))
	assert.Equal(t, value.Date{Year: 2024, Month: 2, Day: 29}, mustDecode(t, `{"obj": "2024-2-29", "__dCls": "date"}`))
	_, err := Decode([]byte(`{"__dCls": "date", "obj": "2023-02-29"}`))
	assert.Error(t, err)
	_, err = Decode([]byte(`{"__dCls": "dt", "obj": 5}`))
	assert.Error(t, err)

	b64 := func(s string) any { return mustDecode(t, `{"__dCls": "b64", "obj": "`+s+`"}`) }
	assert.Equal(t, []byte("abc"), b64("YWJj"))
	assert.Equal(t, []byte("abc"), b64(`YW\nJj!`)) // junk characters are skipped
	assert.Equal(t, []byte("a"), b64("YQ==trailing ignored"))
	assert.Equal(t, []byte("ab"), b64("YWI="))
	assert.Equal(t, []byte{}, b64(""))
	for _, bad := range []string{"YQ=", "Y", "YWJjZ", "\\u00e9"} {
		_, err := Decode([]byte(`{"__dCls": "b64", "obj": "` + bad + `"}`))
		assert.Error(t, err, bad)
	}

	// Falsy classes give the plain dict without "__dCls".
	for _, cls := range []string{`""`, `null`, `false`, `0`, `0.0`, `[]`, `{}`, `{"__dCls": "b64", "obj": ""}`} {
		got := mustDecode(t, `{"__dCls": `+cls+`, "a": 1}`)
		assert.True(t, value.Equal(value.NewDict("a", int64(1)), got), cls)
	}
	for _, bad := range []string{`{"__dCls": "X"}`, `{"__dCls": 1, "__dMod": "m"}`, `{"__dCls": "X", "__dMod": ""}`, `{"__dCls": "X", "__dMod": 3}`, `{"__dCls": "b64"}`} {
		_, err := Decode([]byte(bad))
		assert.Error(t, err, bad)
	}
	dec := Decoder{Object: func(class, module string) error { return errors.New("refused " + module + "." + class) }}
	_, err = dec.Decode([]byte(`[{"__dCls": "X", "__dMod": "m"}]`))
	assert.ErrorContains(t, err, "refused m.X")

	// An application key "__dCls" elsewhere in a dict is popped too (DIRAC does).
	assert.True(t, value.Equal(value.NewDict("b", int64(2)), mustDecode(t, `{"b": 2, "__dCls": null}`)))
}

func TestUnmarshal(t *testing.T) {
	type rec struct {
		ID   int64     `dirac:"JobID"`
		When time.Time `dirac:"When"`
		Data []byte
	}
	var r []rec
	require.NoError(t, Unmarshal([]byte(`[{"JobID": 5, "When": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, "Data": {"__dCls": "b64", "obj": "AP8="}}]`), &r))
	require.Len(t, r, 1)
	assert.Equal(t, rec{ID: 5, When: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Data: []byte{0, 0xff}}, r[0])

	var a any
	require.NoError(t, Unmarshal([]byte(`{"OK": true}`), &a))
	assert.True(t, value.Equal(value.NewDict("OK", true), a))
	assert.Error(t, Unmarshal([]byte(`{`), &a))
}

// The fast path for DIRAC's own datetime form agrees with the general matcher.
func TestCanonicalDatetimeAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for range 20000 {
		s := digits(4) + "-" + digits(2) + "-" + digits(2) + " " + digits(2) + ":" + digits(2) + ":" + digits(2)
		if rng.IntN(2) == 0 { // mostly plausible values
			s = fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", rng.IntN(10000), 1+rng.IntN(12), 1+rng.IntN(31), rng.IntN(25), rng.IntN(61), rng.IntN(62))
		}
		for _, withTime := range []bool{true, false} {
			in := s
			if !withTime {
				in = s[:10]
			}
			fast, ok := canonical(in, withTime)
			slow, err := strptimeSlow(in, withTime)
			if ok {
				require.NoError(t, err, in)
				require.Equal(t, slow, fast, in)
			} else {
				require.Error(t, err, "%s: the fast path refused a valid form", in)
			}
		}
	}
}

// Large hostile inputs are refused or decoded in time linear in their size;
// JSON declares no lengths, so nothing is allocated ahead of the bytes.
func TestDecodeHostile(t *testing.T) {
	const mb = 1 << 20
	for name, in := range map[string]string{
		"unterminated string": `"` + strings.Repeat("a", mb),
		"unterminated escape": `"` + strings.Repeat(`\u00e9`, mb/6),
		"huge int":            strings.Repeat("9", mb),
		"huge exponent":       "1e" + strings.Repeat("9", mb),
		"deep arrays":         strings.Repeat("[", mb),
		"deep objects":        strings.Repeat(`{"a":`, mb/5),
		"many commas":         "[" + strings.Repeat("1,", mb/2),
	} {
		_, err := Decode([]byte(in))
		if name == "huge exponent" {
			assert.NoError(t, err, name) // Python: float('1e999...') is inf
			continue
		}
		assert.Error(t, err, name)
	}
	// Many integers just under Python's limit.
	n := strings.Repeat("7", MaxIntDigits)
	v, err := Decode([]byte("[" + strings.Repeat(n+", ", 200) + n + "]"))
	require.NoError(t, err)
	assert.Len(t, v, 201)
}

// Structs (field names prepared once per type, value.KeyEmitter) encode to
// exactly the text of the same data as ordered dicts.
func TestStructEqualsGeneric(t *testing.T) {
	generic, err := Marshal(benchdata.Generic())
	require.NoError(t, err)
	for range 2 { // the second run uses the prepared keys
		typed, err := Marshal(benchdata.Typed())
		require.NoError(t, err)
		require.Equal(t, string(generic), string(typed))
	}
}

// Small results are the common reply: their decoding allocates little (the
// result keys are pre-boxed, the dict comes with its entries).
func TestSmallResultAllocs(t *testing.T) {
	text := []byte(`{"OK": true, "Value": "hello"}`)
	v, err := Decode(text)
	require.NoError(t, err)
	assert.True(t, value.Equal(value.NewDict("OK", true, "Value", "hello"), v))
	n := testing.AllocsPerRun(100, func() { _, _ = Decode(text) })
	assert.LessOrEqual(t, n, 5.0, "allocations per decode of a small result")
}

func TestDecodedValuesStayUnchanged(t *testing.T) {
	decodertest.ValuesStayUnchanged(t, decodertest.Codec{Marshal: Marshal, Unmarshal: Unmarshal})
}

func TestPooledDecoderKeepsLittle(t *testing.T) {
	decodertest.PooledDecoderKeepsLittle(t, decodertest.Codec{Marshal: Marshal, Unmarshal: Unmarshal})
}

// TestSkipPlain: the 8-bytes-at-a-time scan never skips a byte the tables
// say is not plain, and skips every full group of plain ones.
func TestSkipPlain(t *testing.T) {
	// Through the 32-byte and the 8-byte loops; the long one also through
	// the wide scan (wideScanMin), with a tail it leaves to the loops.
	for _, base := range []string{strings.Repeat("abcdefgh", 9), strings.Repeat("a~ !#[]}", 40)[:301]} {
		testSkipPlainAround(t, base)
	}
	// Several bytes that are not plain in one word: whatever borrows and
	// carries they start, the scan stops at the first.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0x1f, ' ', '!', '"', '#', '[', '\\', ']', '~', 0x7f, 0x80, 0xff, 'a'}
	for n := range 20000 {
		b := make([]byte, rng.IntN(80)+n%3*rng.IntN(400))
		for i := range b {
			b[i] = 'a'
			if rng.IntN(50) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		// From the start, and from anywhere, as after an escape: the
		// bytes before where the scan starts are never looked at.
		for _, start := range []int{0, rng.IntN(len(b) + 1)} {
			firstEnc, firstDec := len(b), len(b)
			for i := len(b) - 1; i >= start; i-- {
				if !plain[b[i]] {
					firstEnc = i
				}
				if !strPlain[b[i]] {
					firstDec = i
				}
			}
			enc, dec := skipPlain(string(b), start, true), skipPlainBytes(b, start, false)
			require.Equal(t, firstEnc, enc, "encoder from %d in %q", start, b)
			require.Equal(t, firstDec, dec, "decoder from %d in %q", start, b)
		}
	}
}

// testSkipPlainAround puts every byte at every position of base, plain, and
// of its short prefixes and the longest ones (every end in a word): the
// scan stops exactly at that byte when it is not plain, and at the end of
// the text otherwise.
func testSkipPlainAround(t *testing.T, base string) {
	for n := 1; n <= len(base); n++ {
		if n > 40 && n < len(base)-8 {
			continue
		}
		for c := 0; c < 256; c++ {
			for pos := 0; pos < n; pos++ {
				s := base[:pos] + string([]byte{byte(c)}) + base[pos+1:n]
				enc, dec := skipPlain(s, 0, true), skipPlainBytes([]byte(s), 0, false)
				wantEnc, wantDec := len(s), len(s)
				if !plain[c] {
					wantEnc = pos
				}
				if !strPlain[c] {
					wantDec = pos
				}
				if enc != wantEnc || dec != wantDec {
					t.Fatalf("%#x at %d of %d bytes: encoder stopped at %d (want %d), decoder at %d (want %d)",
						c, pos, n, enc, wantEnc, dec, wantDec)
				}
			}
		}
	}
}

// TestShortcutsMatchTheGeneralWay: the datetimes DIRAC writes, decoded
// without building their dict, give what the general way gives, errors
// included.
func TestShortcutsMatchTheGeneralWay(t *testing.T) {
	deep := strings.Repeat("[", value.MaxDepth-1) + `{"__dCls": "dt", "obj": "2024-10-17 13:41:46"}` + strings.Repeat("]", value.MaxDepth-1)
	for _, in := range []string{
		`{"__dCls": "dt", "obj": "2024-10-17 13:41:46"}`,
		`[{"__dCls": "dt", "obj": "2024-10-17 13:41:46"}, {"__dCls": "dt", "obj": "0001-01-01 00:00:00"}]`,
		`{"__dCls": "dt", "obj": "2024-02-30 13:41:46"}`, // no such day
		`{"__dCls": "dt", "obj": "2024-10-17 24:00:00"}`,
		`{"__dCls": "dt", "obj": "2024-10-17 13:41:46", "x": 1}`,
		`{"__dCls": "dt", "obj": "2024-10-17 13:41:4"}`,
		`{"__dCls":"dt","obj":"2024-10-17 13:41:46"}`,
		`{"__dCls": "dt", "obj": "2024-10-17 13:41:46"`,
		`{"__dCls": "dt", "obj": "2024-10-17 13:41:46"}}`,
		deep, "[" + deep + "]",
	} {
		got, err := Decode([]byte(in))
		var dec Decoder
		want, werr := dec.decode([]byte(in), true)
		if werr != nil {
			require.Error(t, err, in)
			assert.Equal(t, werr.Error(), err.Error(), in)
			continue
		}
		require.NoError(t, err, in)
		assert.True(t, value.Equal(want, got), in)
	}
}

// TestListingShortcutMatchesTheGeneralWay: objects of a long input whose
// entries go straight into the tree (as many as the last object at their
// depth, more, fewer, nested, with duplicate keys), and inputs cut anywhere,
// decode as the general way decodes them.
func TestListingShortcutMatchesTheGeneralWay(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString(`{"OK": true, "Value": [`)
	for i := range 300 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{")
		for k := range rng.IntN(6) {
			if k > 0 {
				b.WriteString(", ")
			}
			key := fmt.Sprintf("k%d", rng.IntN(5)) // duplicates too
			fmt.Fprintf(&b, "%q: ", key)
			switch rng.IntN(4) {
			case 0:
				fmt.Fprintf(&b, `{"a": %d, "b": {"c": [1, {"d": 2}]}}`, i)
			case 1:
				b.WriteString(`{"__dCls": "dt", "obj": "2024-10-17 13:41:46"}`)
			default:
				fmt.Fprintf(&b, "%d", rng.IntN(1000))
			}
		}
		b.WriteString("}")
	}
	b.WriteString("]}")
	in := b.String()
	require.Greater(t, len(in), smallInput)
	check := func(in string) {
		got, err := Decode([]byte(in))
		var dec Decoder
		want, werr := dec.decode([]byte(in), true)
		if werr != nil {
			require.Error(t, err)
			require.Equal(t, werr.Error(), err.Error())
			return
		}
		require.NoError(t, err)
		require.True(t, value.Equal(want, got))
	}
	check(in)
	for range 200 {
		check(in[:rng.IntN(len(in))])
	}
}

// The generic model written without the events gives the bytes and errors
// of the general way (encodertest).
func TestModelShortcutMatchesEvents(t *testing.T) {
	encodertest.ShortcutMatchesEvents(t, appendMarshal)
	encodertest.PiecesAfterTheShortcutGivesUp(t, appendMarshal)
}
