package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLosslessDisplay: over DEncode the wire carries tuples, int keys and
// microseconds; the default DIRAC JSON output drops them and says so on
// stderr, --format repr and typed-json show them.
func TestLosslessDisplay(t *testing.T) {
	h := startHarness(t, "--encoding", "dencode")
	env := h.info.Env
	u := h.info.DIPSURL

	r := probe(t, env, "", "call", u, "types")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"tuple": [1, "a"]`, "stdout stays DIRAC JSON")
	for _, want := range []string{"DIRAC JSON does not show everything", "tuple-became-list at $['tuple']",
		"key-became-string at $['intkeys'][1]", "microseconds-dropped at $['datetime']"} {
		assert.Contains(t, r.stderr, want)
	}

	r = probe(t, env, "", "call", "--format", "repr", u, "types")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `'tuple': (1, 'a')`)
	assert.Contains(t, r.stdout, `'intkeys': {1: 'one'}`)
	assert.Contains(t, r.stdout, `datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)`)
	assert.Empty(t, r.stderr)

	r = probe(t, env, "", "call", "--format", "typed-json", u, "types")
	require.Equal(t, 0, r.code, r.stderr)
	var typed map[string][][2]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &typed), r.stdout)
	got := map[string]any{}
	for _, kv := range typed["dict"] {
		got[kv[0].(string)] = kv[1]
	}
	assert.Equal(t, map[string]any{"tuple": []any{float64(1), "a"}}, got["tuple"])
	assert.Equal(t, map[string]any{"dict": []any{[]any{float64(1), "one"}}}, got["intkeys"])
	assert.Equal(t, map[string]any{"datetime": "2024-01-02T03:04:05.123456"}, got["datetime"])
	assert.Equal(t, map[string]any{"float": "2.5"}, got["float"])

	r = probe(t, env, "", "call", "--format", "xml", u, "types")
	assert.Equal(t, exitUsage, r.code)

	r = probe(t, env, "", "compare", "--format", "repr", u, h.info.HTTPSURL, "types")
	assert.Contains(t, r.stdout, "values (repr):")
	assert.Contains(t, r.stdout, `'tuple': (1, 'a')`, "the DEncode side's tuple")

	r = probe(t, nil, "ds1:tti3ei4eee", "codec", "decode", "--format", "dencode")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, `{"t": [3, 4]}`+"\n", r.stdout)
	assert.Contains(t, r.stderr, "tuple-became-list at $['t']")
	r = probe(t, nil, "ds1:tti3ei4eee", "codec", "decode", "--format", "dencode", "--show", "typed-json")
	assert.Equal(t, `{"dict":[["t",{"tuple":[3,4]}]]}`+"\n", r.stdout)
	r = probe(t, nil, "ds1:tti3ei4eee", "codec", "decode", "--format", "dencode", "--show", "repr")
	assert.Equal(t, `{'t': (3, 4)}`+"\n", r.stdout)
}
