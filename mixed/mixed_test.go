package mixed

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/internal/testkit/vectors"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

func TestVectors(t *testing.T) {
	for _, vec := range vectors.Load(t, "mixed.jsonl") {
		t.Run(vec.Name, func(t *testing.T) {
			input, ok := vec.Bytes()
			require.True(t, ok)
			switch vec.Mode {
			case "encode":
				require.NotNil(t, vec.EnvUseJSON)
				enc := EncodingFromEnv(func(string) (string, bool) { return *vec.EnvUseJSON, true })
				v, err := vec.Value()
				require.NoError(t, err)
				got, err := Marshal(v, enc)
				require.NoError(t, err)
				assert.Equal(t, string(input), string(got))
			case "decode":
				got, enc, err := Decode(input)
				if vec.Name == "decode_18" {
					// s3:ab: DIRAC's DEncode silently returns the 2 bytes
					// that are there; ours reports the truncation, and the
					// JSON fallback then fails too.
					require.Error(t, err)
					assert.ErrorIs(t, err, dencode.ErrTruncated)
					return
				}
				require.NoError(t, err)
				want, err := vec.Decoded()
				require.NoError(t, err)
				assert.True(t, value.Equal(want, got), "got %#v, want %#v", got, want)
				if vec.DecodedLen < len(input) {
					assert.Equal(t, DEncode, enc, "only DEncode ignores trailing bytes")
				}
			case "decode_error":
				_, _, err := Decode(input)
				var de *DecodeError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, "Could not decode received data: "+vec.Error.Message, de.Msg)
			default:
				t.Fatalf("unknown mode %q", vec.Mode)
			}
		})
	}
}

// Every payload DIRAC's own encoders wrote decodes through MixedEncode to
// what the encoding's decoder gives.
func TestCodecVectorsThroughMixed(t *testing.T) {
	for _, vec := range vectors.Load(t, "jencode.jsonl") {
		if vec.JSON == nil || vec.DecodedJSON == nil {
			continue
		}
		want, err := jencode.Decode([]byte(*vec.JSON))
		if err != nil {
			continue // objects DIRAC could not import are checked in jencode
		}
		got, enc, err := Decode([]byte(*vec.JSON))
		require.NoError(t, err, vec.Name)
		assert.True(t, value.Equal(want, got), vec.Name)
		if *vec.JSON != "null" {
			assert.Equal(t, JSON, enc, vec.Name)
		}
	}
	for _, vec := range vectors.Load(t, "dencode.jsonl") {
		input, ok := vec.Bytes()
		if !ok || vec.DecodedJSON == nil {
			continue
		}
		want, _, err := dencode.Decode(input)
		if err != nil {
			continue // accepted by DIRAC, refused by our DEncode: checked in dencode
		}
		got, enc, err := Decode(input)
		require.NoError(t, err, vec.Name)
		assert.True(t, value.Equal(want, got), vec.Name)
		assert.Equal(t, DEncode, enc, vec.Name)
	}
}

func TestDecode(t *testing.T) {
	v, enc, err := Decode([]byte("null"))
	require.NoError(t, err)
	assert.Nil(t, v)
	assert.Equal(t, DEncode, enc, "DIRAC takes JSON null for DEncode n")

	v, enc, err = Decode([]byte(`{"OK": true, "Value": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}`))
	require.NoError(t, err)
	assert.Equal(t, JSON, enc)
	assert.True(t, value.Equal(value.NewDict("OK", true, "Value", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)), v))

	v, enc, err = Decode([]byte("i5etrailing"))
	require.NoError(t, err)
	assert.Equal(t, DEncode, enc)
	assert.Equal(t, int64(5), v)

	_, _, err = Decode(nil)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Could not decode received data: index out of range", de.Msg)
	assert.ErrorIs(t, err, ErrEmpty)

	_, _, err = Decode([]byte("{x"))
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "mixed: Could not decode received data: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)", err.Error())
	var se *jencode.SyntaxError
	assert.ErrorAs(t, err, &se, "the JSON error stays reachable")
	var dse *dencode.SyntaxError
	assert.ErrorAs(t, err, &dse, "and so does the DEncode one")
}

func TestMarshalAndUnmarshal(t *testing.T) {
	type reply struct {
		OK    bool
		Value []int
	}
	in := reply{OK: true, Value: []int{1, 2}}
	for _, enc := range []Encoding{JSON, DEncode} {
		data, err := Marshal(in, enc)
		require.NoError(t, err)
		var out reply
		require.NoError(t, Unmarshal(data, &out), enc)
		assert.Equal(t, in, out, enc)
		var generic any
		require.NoError(t, Unmarshal(data, &generic))
		assert.IsType(t, &value.Dict{}, generic)
	}
	js, err := Marshal(in, JSON)
	require.NoError(t, err)
	assert.Equal(t, `{"OK": true, "Value": [1, 2]}`, string(js))
	ds, err := Marshal(in, DEncode)
	require.NoError(t, err)
	assert.Equal(t, "ds2:OKb1s5:Valueli1ei2eee", string(ds))

	_, err = Marshal(1, Encoding(7))
	assert.Error(t, err)
	assert.Equal(t, "Encoding(7)", Encoding(7).String())
	assert.Error(t, Unmarshal([]byte("{"), new(any)))
}

func TestEncodingFromEnv(t *testing.T) {
	env := func(v string, set bool) func(string) (string, bool) {
		return func(name string) (string, bool) {
			if name != EnvVar {
				return "", false
			}
			return v, set
		}
	}
	assert.Equal(t, JSON, EncodingFromEnv(env("", false)), "unset")
	for _, v := range []string{"yes", "Yes", "TRUE", "true"} {
		assert.Equal(t, JSON, EncodingFromEnv(env(v, true)), v)
	}
	for _, v := range []string{"", "no", "NO", "false", "0", "1", " yes"} {
		assert.Equal(t, DEncode, EncodingFromEnv(env(v, true)), v)
	}
	assert.Equal(t, "JSON", JSON.String())
	assert.Equal(t, "DEncode", DEncode.String())
	assert.True(t, errors.Is(&DecodeError{DEncode: ErrEmpty}, ErrEmpty))
}

// With ShareInput, a string that is most of the payload points into it, in
// both encodings; without, it is a copy.
func TestDecoderShareInput(t *testing.T) {
	long := strings.Repeat("c", 4096)
	inside := func(v any, data []byte) bool {
		val, _ := v.(*value.Dict).Lookup("Value")
		s, _ := val.(string)
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&data[0]))
		return s == long && p >= start && p < start+uintptr(len(data))
	}
	for _, enc := range []Encoding{JSON, DEncode} {
		data, err := Marshal(value.NewDict("OK", true, "Value", long), enc)
		require.NoError(t, err)
		v, got, err := Decoder{ShareInput: true}.Decode(data)
		require.NoError(t, err)
		assert.Equal(t, enc, got)
		assert.True(t, inside(v, data), "%s: shared", enc)
		v, _, err = Decode(data)
		require.NoError(t, err)
		assert.False(t, inside(v, data), "%s: copied by default", enc)
	}
}
