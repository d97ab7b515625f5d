package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
	// The server ends a call after answering it: scrape until it is in.
	var body string
	require.Eventually(t, func() bool {
		body = string(scrape(t, hp.info.MetricsURL))
		return strings.Contains(body, "rpc_server_duration_milliseconds_count{")
	}, 20*time.Second, 5*time.Millisecond)
	assert.Contains(t, body, `rpc_method="add"`)
	assert.Contains(t, body, `rpc_system="dirac.https"`)
}

// scrape GETs a Prometheus endpoint.
func scrape(t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}
