package server_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// TestServeBoth: one Service answers a DISET and an HTTPS client at once,
// with the same handler (one counter).
func TestServeBoth(t *testing.T) {
	ca, host, _, proxy := ciIdentities(t)
	svc := testharness.NewRecordedService(oracleName, nil)
	var adds atomic.Int64
	testharness.CountCalls(svc, "add", &adds)
	svc.Logger = quiet

	dtls, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: ca.Store(), RequireClientCert: true})
	require.NoError(t, err)
	htls, err := server.NewHTTPSTLSConfig(host, ca.Store())
	require.NoError(t, err)
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.ServeBoth(ctx, svc, dl, hl, server.DISETConfig{TLS: dtls, Logger: quiet},
			server.HTTPSConfig{TLS: htls, Logger: quiet})
	}()

	callCtx, callCancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer callCancel()
	hc, err := httpsclient.New([]string{"https://localhost:" + port(hl) + "/" + oracleName},
		diracrpc.Options{Credential: proxy, CAs: ca.Store(), Logger: quiet}, httpsclient.Options{})
	require.NoError(t, err)
	defer hc.Close()
	dc, err := disetclient.New([]string{"dips://localhost:" + port(dl) + "/" + oracleName},
		diracrpc.Options{Credential: proxy, CAs: ca.Store(), Logger: quiet}, disetclient.Options{})
	require.NoError(t, err)
	for _, c := range []diracrpc.Caller{hc, dc} {
		res, err := c.Call(callCtx, "add", 2, 3)
		require.NoError(t, err)
		assert.Equal(t, int64(5), res.Value)
	}
	assert.EqualValues(t, 2, adds.Load())
	if cl, ok := any(dc).(interface{ Close() error }); ok {
		cl.Close()
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-callCtx.Done():
		t.Fatal("ServeBoth did not return after its context ended")
	}
}

func port(l net.Listener) string {
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// TestPingLoadPerProtocol: ping's load is what each of DIRAC's servers
// reports: over HTTPS Tornado's, /proc/loadavg's own text ("1.17 0.45
// 0.21"), over DISET the RequestHandler's, Python's repr of
// os.getloadavg()'s floats ("1.1708984375 0.447265625 0.21435546875"). The
// keys are the same.
func TestPingLoadPerProtocol(t *testing.T) {
	procLoad := func() string {
		b, err := os.ReadFile("/proc/loadavg")
		if err != nil {
			return ""
		}
		return strings.Join(strings.Fields(string(b))[:3], " ")
	}
	// Read before the service starts: whenever it reads the load, it is
	// between this and the read after the call.
	before := procLoad()
	h := testharness.NewT(t, testharness.Options{DIPAddr: "-"})
	ping := func(p diracrpc.Protocol) *value.Dict {
		t.Helper()
		c, err := h.Client(p)
		require.NoError(t, err)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Call(ctx, "ping")
		require.NoError(t, err)
		d, ok := res.Value.(*value.Dict)
		require.True(t, ok, "%T", res.Value)
		return d
	}
	hp := ping(diracrpc.HTTPS)
	after := procLoad()
	dp := ping(diracrpc.DIPS)
	if before == "" {
		assert.False(t, hp.Has("load"), "no /proc/loadavg: Tornado leaves load out")
	} else {
		// The kernel updates the averages every 5 s: the answer is one of
		// the two texts read around it.
		load, _ := hp.Get("load")
		assert.Contains(t, []string{before, after}, load, "HTTPS ping's load is /proc/loadavg's text")
		assert.Equal(t, dp.Keys(), hp.Keys(), "the same keys over both protocols")
	}
	load, _ := dp.Get("load")
	s, ok := load.(string)
	require.True(t, ok, "%T", load)
	fields := strings.Fields(s)
	require.Len(t, fields, 3, "%q", s)
	for _, f := range fields {
		x, err := strconv.ParseFloat(f, 64)
		require.NoError(t, err)
		assert.Equal(t, value.FormatFloat(x), f, "DISET ping's load is Python's repr of each float")
	}
}
