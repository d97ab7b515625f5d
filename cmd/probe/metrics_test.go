package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// harness --metrics serves the servers' metrics to Prometheus: a call made
// to the harness shows in a scrape over 127.0.0.1.
func TestHarnessMetrics(t *testing.T) {
	hp := startHarness(t, "--metrics", "127.0.0.1:0")
	require.True(t, strings.HasPrefix(hp.info.MetricsURL, "http://127.0.0.1:"), hp.info.MetricsURL)
	r := probe(t, hp.info.Env, "", "call", hp.info.HTTPSURL, "add", "2", "3")
	require.Equal(t, exitOK, r.code, r.stderr)
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, hp.info.MetricsURL, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "rpc_server_duration_milliseconds_count{")
	assert.Contains(t, string(body), `rpc_method="add"`)
	assert.Contains(t, string(body), `rpc_system="dirac.https"`)
}
