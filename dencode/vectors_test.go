package dencode

import (
	"encoding/hex"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit/vectors"
	"github.com/diracgo/diracrpc/value"
)

// Inputs where this decoder is deliberately stricter than DIRAC.
var stricterThanDIRAC = map[string]error{
	// DIRAC returns the 3 bytes present of a 10-byte string and reports 14
	// bytes consumed; we call a short string truncated.
	"decode_string_truncated_toplevel": ErrTruncated,
	// Declares 5 bytes and holds 4 ("h\xc3\xa9l"): the same truncation, with
	// the legacy u code (decode_unicode_u_code_ascii covers u itself).
	"decode_unicode_u_code": ErrTruncated,
	// DIRAC returns b"" unchanged (not even a (value, length) pair).
	"decode_empty_input": ErrEmpty,
}

func TestVectors(t *testing.T) {
	counts := map[string]int{}
	for _, v := range vectors.Load(t, "dencode.jsonl") {
		t.Run(v.Name, func(t *testing.T) {
			counts[v.Mode]++
			switch v.Mode {
			case "roundtrip":
				checkRoundtrip(t, v)
			case "encode_error":
				in, ok := v.GoValue(t)
				if !ok {
					return
				}
				_, err := Marshal(in)
				assert.Error(t, err, "DIRAC refuses %s (%s)", v.ValueRepr, v.Error.Repr)
			case "decode":
				checkDecode(t, v)
			case "decode_error":
				in, ok := v.Bytes()
				if !ok {
					t.Logf("input was a Python %s, not bytes: no Go counterpart", v.InputPyType)
					return
				}
				_, _, err := Decode(in)
				assert.Error(t, err, "DIRAC raised %s", v.Error.Repr)
				var se *SyntaxError
				assert.ErrorAs(t, err, &se)
			default:
				t.Fatalf("unknown mode %q", v.Mode)
			}
		})
	}
	assert.Greater(t, counts["roundtrip"], 80)
	assert.Greater(t, counts["decode_error"], 10)
}

func checkRoundtrip(t *testing.T, v vectors.Vector) {
	in, err := v.Value()
	require.NoError(t, err)
	want, _ := v.Bytes()
	got, err := Marshal(in)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got), "encoding %s", v.ValueRepr)
	general, _, err := appendMarshal(nil, in, true, 0)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(general), "encoding %s without the shortcut", v.ValueRepr)

	dec, n, err := Decode(want)
	require.NoError(t, err)
	assert.Equal(t, v.DecodedLen, n)
	expectDecoded(t, v, dec, in)

	// Decoding then encoding gives the bytes back: the model is exact for
	// everything DEncode carries (bytes come back as strings of the same
	// bytes, and exponent floats are read correctly rounded).
	again, err := Marshal(dec)
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(again))

	var typed any
	require.NoError(t, Unmarshal(want, &typed))
	assert.True(t, value.Equal(dec, typed))
}

// expectDecoded compares with what DIRAC decoded; where DIRAC's float is off
// by its mantissa*10**exp computation, the correctly rounded original value
// (the spec's SHOULD) is expected instead.
func expectDecoded(t *testing.T, v vectors.Vector, got, original any) {
	t.Helper()
	want, err := v.Decoded()
	require.NoError(t, err)
	if value.Equal(got, want) {
		return
	}
	if original != nil && value.Equal(got, original) {
		t.Logf("correctly rounded: got %v where DIRAC computed %v", got, want)
		return
	}
	if gf, ok := got.(float64); ok {
		if wf, ok := want.(float64); ok && math.Abs(gf-wf) <= math.Abs(wf)*1e-15 {
			t.Logf("within an ulp: got %v where DIRAC computed %v", gf, wf)
			return
		}
	}
	assert.Fail(t, "decoded value differs", "got %#v, DIRAC decoded %s", got, v.ValueRepr)
}

func checkDecode(t *testing.T, v vectors.Vector) {
	in, ok := v.Bytes()
	require.True(t, ok)
	if wantErr, ok := stricterThanDIRAC[v.Name]; ok {
		_, _, err := Decode(in)
		assert.ErrorIs(t, err, wantErr, "DIRAC accepts %q as %s; we reject it on purpose", v.Text, v.ValueRepr)
		return
	}
	got, n, err := Decode(in)
	require.NoError(t, err, "DIRAC accepts %q", v.Text)
	assert.Equal(t, v.DecodedLen, n)
	expectDecoded(t, v, got, nil)
}
