package server_test

import (
	"context"
	"net"
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
