// Package oteltest reads what the library's OpenTelemetry instrumentation
// reports, in memory, for tests of the client, the server and probe.
package oteltest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Recorder is an SDK meter provider and tracer provider reading into
// memory: the SDK's ManualReader and SpanRecorder.
type Recorder struct {
	Reader *sdkmetric.ManualReader
	Spans  *tracetest.SpanRecorder
	MP     *sdkmetric.MeterProvider
	TP     *sdktrace.TracerProvider
}

func New(t *testing.T) *Recorder {
	o := &Recorder{Reader: sdkmetric.NewManualReader(), Spans: tracetest.NewSpanRecorder()}
	o.MP = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.Reader))
	o.TP = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(o.Spans))
	t.Cleanup(func() { _ = o.MP.Shutdown(context.Background()); _ = o.TP.Shutdown(context.Background()) })
	return o
}

// Points returns the data points of the metric called name whose
// attributes include want: histogram counts, sums and gauge values.
func (o *Recorder) Points(t *testing.T, name string, want ...attribute.KeyValue) []float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, o.Reader.Collect(context.Background(), &rm))
	var out []float64
	match := func(s attribute.Set) bool {
		for _, kv := range want {
			v, ok := s.Value(kv.Key)
			if !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, "github.com/diracgo/diracrpc", sm.Scope.Name)
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						out = append(out, float64(p.Count))
					}
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						out = append(out, float64(p.Value))
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						out = append(out, float64(p.Value))
					}
				}
			default:
				t.Fatalf("%s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

// SpanAttr returns the attribute key of span s.
func SpanAttr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// WaitSpans waits until n ended spans satisfy keep (every span when keep
// is nil) and returns them. A server ends its span after writing the
// answer, so a client may hold the answer first.
func (o *Recorder) WaitSpans(t *testing.T, n int, keep func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	var out []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		out = out[:0]
		for _, s := range o.Spans.Ended() {
			if keep == nil || keep(s) {
				out = append(out, s)
			}
		}
		return len(out) >= n
	}, 20*time.Second, time.Millisecond, "%d spans ended, want %d", len(out), n)
	return out
}
