package diracrpc_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/testkit/oteltest"
	"github.com/diracgo/diracrpc/testharness"
)

func system(p diracrpc.Protocol) string {
	if p == diracrpc.HTTPS {
		return "dirac.https"
	}
	return "dirac.diset"
}

func serverAttrs(t *testing.T, url string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostPort(url))
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return []attribute.KeyValue{attribute.String("server.address", host), attribute.Int("server.port", n)}
}

// TestTelemetryBothProtocols: a success, an S_ERROR, a dead URL failed over
// and a breaker opening give the same metrics and spans over DISET and
// HTTPS, named by the RPC semantic conventions.
func TestTelemetryBothProtocols(t *testing.T) {
	w := newWorld(t, testharness.Options{DIPAddr: "-"})
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			live := w.h.DIPSURL
			if p == diracrpc.HTTPS {
				live = w.h.HTTPSURL
			}
			rpc := []attribute.KeyValue{attribute.String("rpc.system", system(p)),
				attribute.String("rpc.service", testharness.DefaultService)}
			ot := oteltest.New(t)
			o := w.options()
			o.MeterProvider, o.TracerProvider = ot.MP, ot.TP
			c := builders[0].build(t, p, []string{live}, o)

			// A success.
			_, err := c.Call(ctxT(t), "add", 2, 3)
			require.NoError(t, err)
			ok := append(append(rpc, attribute.String("rpc.method", "add")), serverAttrs(t, live)...)
			assert.Equal(t, []float64{1}, ot.Points(t, "rpc.client.duration", ok...))
			spans := ot.Spans.Ended()
			require.Len(t, spans, 2)
			attempt, call := spans[0], spans[1]
			assert.Equal(t, testharness.DefaultService+"/add", call.Name())
			assert.Equal(t, trace.SpanKindClient, call.SpanKind())
			assert.Equal(t, "attempt", attempt.Name())
			assert.Equal(t, call.SpanContext().SpanID(), attempt.Parent().SpanID())
			v, _ := oteltest.SpanAttr(call, "rpc.system")
			assert.Equal(t, system(p), v.AsString())
			_, failed := oteltest.SpanAttr(call, "error.type")
			assert.False(t, failed)

			// An S_ERROR.
			_, err = c.Call(ctxT(t), "failErrno", 2, "no such file")
			require.Error(t, err)
			se := append(append(rpc, attribute.String("rpc.method", "failErrno"),
				attribute.String("error.type", "service_error")), serverAttrs(t, live)...)
			assert.Equal(t, []float64{1}, ot.Points(t, "rpc.client.duration", se...))
			call = ot.Spans.Ended()[3]
			v, _ = oteltest.SpanAttr(call, "dirac.errno")
			assert.Equal(t, int64(2), v.AsInt64())
			assert.Equal(t, "Error", call.Status().Code.String())
			assert.Empty(t, ot.Points(t, "dirac.rpc.client.retries"))

			// A dead URL, failed over: one retry, one ban.
			dead := deadURL(t, p)
			o.FailoverURLs, o.Attempts = []string{live}, 2
			fc := builders[0].build(t, p, []string{dead}, o)
			_, err = fc.Call(ctxT(t), "add", 1, 1)
			require.NoError(t, err)
			assert.Equal(t, []float64{1}, ot.Points(t, "dirac.rpc.client.retries", append(rpc, attribute.String("rpc.method", "add"))...))
			assert.Equal(t, []float64{1}, ot.Points(t, "dirac.rpc.client.bans",
				append(append(rpc, attribute.String("error.type", "unreachable")), serverAttrs(t, dead)...)...))
			spans = ot.Spans.Ended()[4:]
			require.Len(t, spans, 3)
			v, _ = oteltest.SpanAttr(spans[0], "dirac.banned")
			assert.True(t, v.AsBool())
			v, _ = oteltest.SpanAttr(spans[0], "error.type")
			assert.Equal(t, "unreachable", v.AsString())
			v, _ = oteltest.SpanAttr(spans[1], "dirac.attempt")
			assert.Equal(t, int64(2), v.AsInt64())
			v, _ = oteltest.SpanAttr(spans[2], "dirac.attempts")
			assert.Equal(t, int64(2), v.AsInt64())
			require.Len(t, spans[2].Events(), 1)
			assert.Equal(t, "pause", spans[2].Events()[0].Name)

			// A breaker opening after two failures: the third call is
			// held back.
			o.FailoverURLs, o.Attempts = nil, 1
			o.Breaker = diracrpc.BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Hour}
			bc := builders[0].build(t, p, []string{dead}, o)
			for range 3 {
				_, err = bc.Call(ctxT(t), "ping")
				require.Error(t, err)
			}
			require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
			at := append(rpc, serverAttrs(t, dead)...)
			assert.Equal(t, []float64{2}, ot.Points(t, "dirac.rpc.client.breaker.state", at...))
			assert.Equal(t, []float64{1}, ot.Points(t, "dirac.rpc.client.breaker.changes",
				append(at, attribute.String("dirac.breaker.state", "open"))...))
			assert.Equal(t, []float64{1}, ot.Points(t, "rpc.client.duration",
				append(at, attribute.String("rpc.method", "ping"), attribute.String("error.type", "circuit_open"))...))
			last := ot.Spans.Ended()
			v, _ = oteltest.SpanAttr(last[len(last)-2], "dirac.sent")
			assert.False(t, v.AsBool(), "the held-back attempt")
		})
	}
}
