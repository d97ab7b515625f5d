package vectors

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every typed value in every file converts, or is one of the documented
// Python-only values.
func TestAllTypedValuesConvert(t *testing.T) {
	for _, file := range []string{"dencode.jsonl", "jencode.jsonl", "mixed.jsonl"} {
		for _, v := range Load(t, file) {
			for _, raw := range [][]byte{v.ValueJSON, v.DecodedJSON, v.DecodedRawReturn} {
				if raw == nil {
					continue
				}
				_, err := Typed(raw)
				if err != nil && !errors.Is(err, ErrNoGoEquivalent) {
					require.NoError(t, err, "%s %s", file, v.Name)
				}
			}
		}
	}
}
