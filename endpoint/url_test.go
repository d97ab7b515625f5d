package endpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
)

func TestParseURL(t *testing.T) {
	u, err := ParseURL("dips://Host.example:9135/Framework/Foo")
	require.NoError(t, err)
	assert.Equal(t, &URL{Protocol: diracrpc.DIPS, Host: "Host.example", Port: 9135, System: "Framework", Component: "Foo"}, u)
	assert.Equal(t, "dips://Host.example:9135/Framework/Foo", u.String())
	assert.Equal(t, "Framework/Foo", u.Service())

	u, err = ParseURL("https://[::1]/Framework/Foo")
	require.NoError(t, err)
	assert.Equal(t, 443, u.Port)
	assert.Equal(t, "[::1]:443", u.Addr())

	for _, bad := range []string{
		"dips://host/Framework/Foo", "dip://host/Framework/Foo", "ftp://host:1/A/B", "host:1/A/B",
		"dips://host:1/Framework", "dips://host:1/A/B/C", "dips://:1/A/B", "dips://host:99999/A/B",
	} {
		_, err := ParseURL(bad)
		assert.ErrorIs(t, err, ErrBadURL, bad)
	}
}

func TestSplitService(t *testing.T) {
	s, c, err := SplitService("WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.Equal(t, []string{"WorkloadManagement", "JobMonitoring"}, []string{s, c})
	for _, bad := range []string{"", "a", "a/", "/b", "a/b/c"} {
		_, _, err := SplitService(bad)
		assert.Error(t, err, bad)
	}
}
