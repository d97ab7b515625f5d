package benchdata

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPayloadShape(t *testing.T) {
	g := Generic()
	v, ok := g.Lookup("Value")
	require.True(t, ok)
	assert.Len(t, v, NumJobs)
	assert.Equal(t, Jobs(), Jobs(), "deterministic")
	js, err := json.Marshal(Plain())
	require.NoError(t, err)
	assert.Greater(t, len(js), 90_000)
	assert.Less(t, len(js), 160_000)
}
