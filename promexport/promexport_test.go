package promexport_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/promexport"
	"github.com/diracgo/diracrpc/testharness"
)

// TestScrape: the metrics of a server and a client, scraped over
// 127.0.0.1 in Prometheus' text format.
func TestScrape(t *testing.T) {
	exp, err := promexport.New()
	require.NoError(t, err)
	h := testharness.NewT(t, testharness.Options{DIPAddr: "-", HTTPSAddr: "-", MeterProvider: exp.MeterProvider()})
	o := h.Options()
	o.MeterProvider = exp.MeterProvider()
	c, err := disetclient.New([]string{h.DIPSURL}, o, disetclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Call(ctx, "add", 1, 2)
	require.NoError(t, err)
	_, err = c.Call(ctx, "fail", "no")
	require.Error(t, err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- exp.Serve(sctx, l) }()
	// The server ends a call after answering it: scrape until both are in.
	var text string
	require.Eventually(t, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.Addr().String()+promexport.Path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false // not serving yet
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		text = string(body)
		return strings.Count(text, "rpc_server_duration_milliseconds_count{") == 2
	}, 20*time.Second, 5*time.Millisecond)
	for _, want := range []string{
		"# TYPE rpc_server_duration_milliseconds histogram",
		`rpc_server_duration_milliseconds_count{`,
		`rpc_method="add"`,
		`error_type="service_error"`,
		`rpc_system="dirac.diset"`,
		`rpc_service="Framework/TestHarness"`,
		"# TYPE rpc_client_duration_milliseconds histogram",
	} {
		assert.Contains(t, text, want)
	}
	stop()
	require.NoError(t, <-done)
	require.NoError(t, exp.Shutdown(ctx))
}
