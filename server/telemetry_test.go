package server_test

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/internal/testkit/oteltest"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// serverOf is the server.* attributes of a URL's host:port as the server
// sees its socket (the harness listens on 127.0.0.1).
func serverOf(t *testing.T, raw string) []attribute.KeyValue {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	n, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	return []attribute.KeyValue{attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", n)}
}

// TestServerTelemetryBothProtocols: the calls a server answers (a success,
// an S_ERROR, a refusal, an unknown method, a call failed over to it) give
// the same rpc.server.duration points and root server spans over DISET and
// HTTPS, their error.type from diracrpc's one classification.
func TestServerTelemetryBothProtocols(t *testing.T) {
	ot := oteltest.New(t)
	svc := testharness.NewTestService("")
	svc.Handle("adminOnly", server.Method{Auth: []string{"ServiceAdministrator"},
		Func: func(context.Context, *server.Request) (any, error) { return true, nil }})
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPAddr: "-", MeterProvider: ot.MP, TracerProvider: ot.TP})
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		t.Run(string(p), func(t *testing.T) {
			live := h.URL(p)
			sys := "dirac.diset"
			if p == diracrpc.HTTPS {
				sys = "dirac.https"
			}
			// The client side is instrumented too: its spans must not be
			// the parents of the server's.
			cot := oteltest.New(t)
			o := h.Options()
			o.TracerProvider = cot.TP
			o.BackoffMin, o.BackoffMax = time.Millisecond, time.Millisecond
			newClient := func(urls []string, o diracrpc.Options) *diracrpc.Client {
				var c *diracrpc.Client
				var err error
				if p == diracrpc.HTTPS {
					c, err = httpsclient.New(urls, o, httpsclient.Options{})
				} else {
					c, err = disetclient.New(urls, o, disetclient.Options{})
				}
				require.NoError(t, err)
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			c := newClient([]string{live}, o)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.Call(ctx, "add", 2, 3)
			require.NoError(t, err)
			_, err = c.Call(ctx, "failErrno", 2, "gone")
			require.Error(t, err)
			_, err = c.Call(ctx, "adminOnly")
			require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
			_, err = c.Call(ctx, "noSuchMethod")
			require.ErrorIs(t, err, diracrpc.ErrNotImplemented)
			// Failed over from a dead URL: the server sees one call.
			o.Attempts, o.FailoverURLs = 2, []string{live}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			dead := string(p) + "://" + l.Addr().String() + "/" + testharness.DefaultService
			require.NoError(t, l.Close())
			_, err = newClient([]string{dead}, o).Call(ctx, "echo", "x")
			require.NoError(t, err)

			// The server ends a call after answering it: wait for its spans.
			spans := ot.WaitSpans(t, 5, func(s sdktrace.ReadOnlySpan) bool {
				v, _ := oteltest.SpanAttr(s, "rpc.system")
				return v.AsString() == sys
			})
			base := append([]attribute.KeyValue{attribute.String("rpc.system", sys),
				attribute.String("rpc.service", testharness.DefaultService)}, serverOf(t, live)...)
			for method, errType := range map[string]string{"add": "", "failErrno": "service_error",
				"adminOnly": "unauthorized", "noSuchMethod": "not_implemented", "echo": ""} {
				want := append(base, attribute.String("rpc.method", method))
				if errType != "" {
					want = append(want, attribute.String("error.type", errType))
				}
				assert.Equal(t, []float64{1}, ot.Points(t, "rpc.server.duration", want...), method)
			}
			var mine []string
			for _, s := range spans {
				mine = append(mine, s.Name())
				assert.Equal(t, trace.SpanKindServer, s.SpanKind())
				assert.False(t, s.Parent().IsValid(), "a server span is a root")
				v, ok := oteltest.SpanAttr(s, "network.peer.address")
				assert.True(t, ok)
				assert.Equal(t, "127.0.0.1", v.AsString())
				if s.Name() == testharness.DefaultService+"/failErrno" {
					v, _ = oteltest.SpanAttr(s, "dirac.errno")
					assert.Equal(t, int64(2), v.AsInt64())
					assert.Equal(t, "Error", s.Status().Code.String())
				}
			}
			assert.ElementsMatch(t, []string{"add", "failErrno", "adminOnly", "noSuchMethod", "echo"},
				trimAll(mine, testharness.DefaultService+"/"))
		})
	}
}

func trimAll(ss []string, prefix string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s[len(prefix):]
	}
	return out
}

// TestServerTelemetryTransfers: the bytes of file transfers are counted by
// direction, over DISET and HTTPS.
func TestServerTelemetryTransfers(t *testing.T) {
	ot := oteltest.New(t)
	svc, st := newTransferService(t)
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet, MeterProvider: ot.MP, TracerProvider: ot.TP})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()
	data := gen(100000)
	_, err = upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.FromClient, FileID: "up", Size: int64(len(data))},
		bytes.NewReader(data), filetransfer.Options{})
	require.NoError(t, err)
	<-st.ended
	got, _, err := download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:300000"}, filetransfer.Options{})
	require.NoError(t, err)
	require.Len(t, got, 300000)
	<-st.ended

	ot.WaitSpans(t, 2, nil) // the DISET calls ended
	u := startTransferHTTP(t, svc, server.HTTPSConfig{MeterProvider: ot.MP})
	postTransfer(t, u, "streamFromClient", false, "up2", "", int64(len(data)), data)
	<-st.ended
	postTransfer(t, u, "streamToClient", true, "gen:200000")
	<-st.ended

	for _, c := range []struct {
		sys, dir string
		n        float64
	}{{"dirac.diset", "FromClient", 100000}, {"dirac.diset", "ToClient", 300000},
		{"dirac.https", "FromClient", 100000}, {"dirac.https", "ToClient", 200000}} {
		assert.Equal(t, []float64{c.n}, ot.Points(t, "dirac.rpc.server.transfer.size", attribute.String("rpc.system", c.sys),
			attribute.String("rpc.service", xferName), attribute.String("dirac.transfer.direction", c.dir)), c)
	}
	assert.Equal(t, []float64{1}, ot.Points(t, "rpc.server.duration", attribute.String("rpc.system", "dirac.diset"),
		attribute.String("rpc.method", "FileTransfer/ToClient")))
}
