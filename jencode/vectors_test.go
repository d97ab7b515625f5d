package jencode

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit/vectors"
	"github.com/diracgo/diracrpc/value"
)

// oracleDecoder accepts the objects the Python environment that recorded the
// vectors could import: its test module oracle_types. DIRAC rejects other
// classes because it cannot import them or they are not JSerializable.
var oracleDecoder = Decoder{Object: func(class, module string) error {
	if module != "oracle_types" {
		return fmt.Errorf("no JSerializable class %s.%s here", module, class)
	}
	return nil
}}

// withoutNoneAttrs drops None attributes of objects: DIRAC never sends them,
// while the recorded decoded value shows the class defaults.
func withoutNoneAttrs(v any) any {
	switch v := v.(type) {
	case *value.Object:
		attrs := value.NewDict()
		for k, a := range v.Attrs.All() {
			if a != nil {
				attrs.Set(k, withoutNoneAttrs(a))
			}
		}
		return &value.Object{Class: v.Class, Module: v.Module, Attrs: attrs}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutNoneAttrs(x)
		}
		return out
	case *value.Dict:
		out := value.NewDict()
		for k, x := range v.All() {
			out.Set(k, withoutNoneAttrs(x))
		}
		return out
	}
	return v
}

func TestVectors(t *testing.T) {
	vecs := vectors.Load(t, "jencode.jsonl")
	counts := map[string]int{}
	for _, vec := range vecs {
		t.Run(vec.Name, func(t *testing.T) {
			counts[vec.Mode]++
			switch vec.Mode {
			case "roundtrip", "encode":
				require.NotNil(t, vec.JSON)
				v, ok := vec.GoValue(t)
				if !ok {
					return
				}
				got, err := Marshal(v)
				require.NoError(t, err)
				assert.Equal(t, *vec.JSON, string(got))
				general, _, err := appendMarshal(nil, v, true, 0)
				require.NoError(t, err)
				assert.Equal(t, *vec.JSON, string(general), "without the shortcut")
				for _, general := range []bool{false, true} {
					assert.Equal(t, *vec.JSON, inPieces(t, v, general), "strings left out, general %v", general)
				}
				checkDecode(t, vec)
			case "decode":
				checkDecode(t, vec)
			case "encode_error":
				v, ok := vec.GoValue(t)
				if !ok {
					return
				}
				_, err := Marshal(v)
				require.Error(t, err, "DIRAC refuses %s: %s", vec.ValueRepr, vec.Error.Message)
				t.Logf("refused: %v", err)
				_, _, gerr := appendMarshal(nil, v, true, 0)
				require.Error(t, gerr)
				assert.Equal(t, gerr.Error(), err.Error(), "without the shortcut")
			case "decode_error":
				require.NotNil(t, vec.JSON)
				_, err := oracleDecoder.Decode([]byte(*vec.JSON))
				require.Error(t, err, "DIRAC: %s: %s", vec.Error.Class, vec.Error.Message)
				checkPythonMessage(t, err, vec.Error)
			default:
				t.Fatalf("unknown mode %q", vec.Mode)
			}
		})
	}
	t.Logf("modes: %v", counts)
}

// checkPythonMessage checks that syntax errors read as Python's.
func checkPythonMessage(t *testing.T, err error, py *vectors.PyError) {
	t.Helper()
	if py.Class != "JSONDecodeError" {
		return
	}
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, py.Message, se.Detail())
}

func checkDecode(t *testing.T, vec vectors.Vector) {
	t.Helper()
	input := []byte(*vec.JSON)
	got, err := oracleDecoder.Decode(input)
	if vec.DecodeError != nil {
		require.Error(t, err, "DIRAC fails decoding: %s", vec.DecodeError.Message)
		t.Logf("rejected as DIRAC does: %v", err)
		return
	}
	require.NoError(t, err)
	want, err := vec.Decoded()
	require.NoError(t, err)
	want = withoutNoneAttrs(want)
	assert.True(t, value.Equal(want, got), "decoded %#v, want %#v", got, want)
	assert.Equal(t, vec.DecodedLen, len([]rune(*vec.JSON)))

	// Decoding then encoding gives the input back when it is in the
	// canonical form the encoder writes (always, for encoded vectors).
	again, err := Marshal(got)
	require.NoError(t, err)
	if vec.Mode != "decode" {
		assert.Equal(t, *vec.JSON, string(again))
	}
	back, err := oracleDecoder.Decode(again)
	require.NoError(t, err)
	assert.True(t, value.Equal(got, back), "second trip gave %#v, want %#v", back, got)
}

// inPieces is the message AppendMarshalBuffers gives when every string that
// can be is left out of the text.
func inPieces(t testing.TB, v any, general bool) string {
	text, pieces, err := appendMarshal([]byte("prefix"), v, general, 1)
	require.NoError(t, err)
	if pieces == nil {
		return string(text[len("prefix"):])
	}
	whole := bytes.Join(pieces, nil)
	require.True(t, bytes.HasPrefix(whole, []byte("prefix")))
	return string(whole[len("prefix"):])
}
