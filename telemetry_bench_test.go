package diracrpc

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// fixed is a transport answering every attempt at once, without
// allocating: the call loop alone is measured.
type fixed struct{ res Result }

func (f *fixed) Attempt(context.Context, *Attempt) (*Result, error) { return &f.res, nil }
func (f *fixed) Close() error                                       { return nil }

func loopClient(tb testing.TB, o Options) *Client {
	f := &fixed{}
	c, err := NewClient([]string{"dips://localhost:9135/Framework/Bench"}, fast(o),
		func(*TransportConfig) (Transport, error) { return f, nil })
	require.NoError(tb, err)
	return c
}

// BenchmarkCallLoop is Client.Call over a transport that costs nothing:
// the loop's own time and allocations, with telemetry off (the default),
// on with no-op providers, and on with the SDK (metrics read on demand,
// spans sampled and dropped).
func BenchmarkCallLoop(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    Options
	}{
		{"off", Options{}},
		{"noop-providers", Options{MeterProvider: metricnoop.NewMeterProvider(), TracerProvider: tracenoop.NewTracerProvider()}},
		{"sdk", Options{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
			TracerProvider: sdktrace.NewTracerProvider()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := loopClient(b, bc.o)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Call(ctx, "ping"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The telemetry hooks of the call loop allocate nothing when
// instrumentation is off (nil *callTelemetry, nil *clientTelemetry).
func TestTelemetryOffAllocatesNothing(t *testing.T) {
	c := loopClient(t, Options{})
	require.Nil(t, c.tel)
	r := c.routes[0]
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		var ct *callTelemetry
		at := ct.attempt(r, "dips://localhost:9135/Framework/Bench", 1)
		at.end(ctx, nil, 1, false)
		ct.pause(1)
		ct.end(nil)
		c.tel.transferred(ctx, DIPS, "", "ToClient", 10)
	})
	assert.Zero(t, n)
	assert.Nil(t, c.tel.breakerChanged(DIPS))
}

// The call loop's own allocations, with telemetry off: one (callStub: the
// stub, its copy of a few arguments, the call's Attempt; the caller's
// variadic slice stays on its stack), and the copy of more arguments.
func TestCallLoopAllocations(t *testing.T) {
	c := loopClient(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		args   []any
		allocs float64
	}{{nil, 1}, {[]any{"hello", 42}, 1}, {[]any{1, 2, 3, 4}, 1}, {[]any{1, 2, 3, 4, 5}, 2}} {
		n := testing.AllocsPerRun(100, func() {
			res, err := c.Call(ctx, "echo", tc.args...)
			if err != nil || len(res.Stub.Args) != len(tc.args) {
				t.Fatal(err, res.Stub)
			}
		})
		assert.Equal(t, tc.allocs, n, tc.args)
	}
	// Literal arguments stay with the caller.
	n := testing.AllocsPerRun(100, func() { _, _ = c.Call(ctx, "echo", "hello", 42) })
	assert.Equal(t, 1.0, n)
}

// The stub keeps its own copy of the arguments, few or many.
func TestCallStubCopiesArgs(t *testing.T) {
	c := loopClient(t, Options{})
	for _, args := range [][]any{{1, 2}, {1, 2, 3, 4, 5, 6}} {
		res, err := c.Call(context.Background(), "echo", args...)
		require.NoError(t, err)
		args[0] = "changed"
		assert.Equal(t, 1, res.Stub.Args[0])
		assert.Len(t, res.Stub.Args, len(args))
	}
}
