package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/telemetry"
	"github.com/diracgo/diracrpc/value"
)

// serverTelemetry is a server's OpenTelemetry instruments (see
// DISETConfig.MeterProvider). A nil *serverTelemetry is instrumentation
// off: the transports then skip every hook with one nil check.
type serverTelemetry struct {
	system   string
	tracer   trace.Tracer
	duration metric.Float64Histogram
	transfer metric.Int64Counter
}

// newServerTelemetry returns the instruments of a server of protocol p,
// nil when both providers are nil. The instruments' names are constants
// the SDK accepts, so their errors (which come with working no-op
// instruments) are not reported.
func newServerTelemetry(p diracrpc.Protocol, mp metric.MeterProvider, tp trace.TracerProvider) *serverTelemetry {
	mp, tp, on := telemetry.Providers(mp, tp)
	if !on {
		return nil
	}
	m := telemetry.Meter(mp)
	t := &serverTelemetry{system: telemetry.System(string(p)), tracer: telemetry.Tracer(tp)}
	t.duration, _ = telemetry.Duration(m, telemetry.ServerDuration)
	t.transfer, _ = telemetry.TransferBytes(m, telemetry.ServerTransferBytes)
	return t
}

// serverCall follows one call served: its root span and what the duration
// histogram needs. Its methods are no-ops on nil.
type serverCall struct {
	t        *serverTelemetry
	ctx      context.Context
	span     trace.Span
	start    time.Time
	attrs    []attribute.KeyValue // rpc.*, server.*
	answered bool                 // ok, code and errno hold the outcome
	ok       bool                 // S_OK
	code     diracrpc.Code        // of a failure: its error.type
	errno    int
	status   int // HTTPS: the status written, for an answer without result
	ended    bool
}

// start begins the call of method on service, received on local from
// remote. DIRAC's protocols carry no trace context: the span is a root.
func (t *serverTelemetry) start(ctx context.Context, service, method string, local net.Addr, remote string) (context.Context, *serverCall) {
	sc := &serverCall{t: t, start: time.Now()}
	sc.attrs = []attribute.KeyValue{telemetry.KeySystem.String(t.system), telemetry.KeyService.String(service),
		telemetry.KeyMethod.String(method)}
	if local != nil {
		sc.attrs = append(sc.attrs, telemetry.Server(local.String())...)
	}
	sc.ctx, sc.span = t.tracer.Start(ctx, telemetry.SpanName(service, method), trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(sc.start),
		trace.WithAttributes(append(sc.attrs, telemetry.Peer(remote)...)...))
	return sc.ctx, sc
}

// answer records the result dictionary sent as the call's outcome, with
// diracrpc's one classification (an S_ERROR's Code).
func (sc *serverCall) answer(d *value.Dict) {
	if sc == nil {
		return
	}
	_, err := diracrpc.ParseResult(d)
	sc.done(err)
}

// done records err as the outcome: nil for S_OK, else its CodeOf (an
// S_ERROR with its Errno).
func (sc *serverCall) done(err error) {
	sc.answered, sc.ok, sc.code, sc.errno = true, err == nil, diracrpc.CodeOf(err), 0
	var e *diracrpc.Error
	if errors.As(err, &e) {
		sc.errno = e.Errno
	}
}

// fail records a failure that is no result dictionary.
func (sc *serverCall) fail(code diracrpc.Code) {
	if sc != nil {
		sc.answered, sc.ok, sc.code, sc.errno = true, false, code, 0
	}
}

// transferred counts n bytes of file transfer data in direction d.
func (sc *serverCall) transferred(d Direction, n int64) {
	if sc == nil || n <= 0 {
		return
	}
	sc.t.transfer.Add(sc.ctx, n, metric.WithAttributes(append(sc.attrs[:2:2], telemetry.KeyDirection.String(string(d)))...))
}

// end records the duration and ends the span.
func (sc *serverCall) end() {
	if sc == nil || sc.ended {
		return
	}
	sc.ended = true
	switch {
	case sc.answered:
	case sc.status != 0:
		sc.code = statusCode(sc.status)
		sc.ok = sc.code == diracrpc.CodeUnknown
	default:
		// Nothing was answered: the connection broke.
		sc.code = diracrpc.CodeUnreachable
	}
	kv := sc.attrs
	if !sc.ok {
		kv = append(kv[:len(kv):len(kv)], telemetry.KeyErrorType.String(sc.code.String()))
	}
	sc.t.duration.Record(sc.ctx, float64(time.Since(sc.start))/float64(time.Millisecond), metric.WithAttributes(kv...))
	if sc.span.IsRecording() && !sc.ok {
		sc.span.SetAttributes(telemetry.KeyErrorType.String(sc.code.String()))
		if sc.errno != 0 {
			sc.span.SetAttributes(telemetry.KeyErrno.Int(sc.errno))
		}
		sc.span.SetStatus(codes.Error, sc.code.String())
	}
	sc.span.End()
}

// statusCode classifies an HTTPS answer that carried no result
// dictionary, as DIRAC's HTTPS clients read the status.
func statusCode(status int) diracrpc.Code {
	switch status {
	case http.StatusOK:
		return diracrpc.CodeUnknown
	case http.StatusUnauthorized, http.StatusForbidden:
		return diracrpc.CodeUnauthorized
	case http.StatusNotImplemented:
		return diracrpc.CodeNotImplemented
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return diracrpc.CodeUnavailable
	case http.StatusBadRequest:
		return diracrpc.CodeProtocol
	}
	if status >= 500 {
		return diracrpc.CodeServerFailure
	}
	return diracrpc.CodeProtocol
}

// telemetryWriter is the ResponseWriter of an HTTPS call followed by
// telemetry: it records the status of answers that are no result
// dictionary (writeJSON records those, see callOf).
type telemetryWriter struct {
	http.ResponseWriter
	sc *serverCall
}

func (w *telemetryWriter) WriteHeader(code int) {
	if w.sc.status == 0 {
		w.sc.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *telemetryWriter) Write(p []byte) (int, error) {
	if w.sc.status == 0 {
		w.sc.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *telemetryWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// callOf returns the telemetry of the call w answers, nil when off.
func callOf(w http.ResponseWriter) *serverCall {
	if tw, ok := w.(*telemetryWriter); ok {
		return tw.sc
	}
	return nil
}

// localAddr is the server's address of an HTTPS request.
func localAddr(r *http.Request) net.Addr {
	a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return a
}
