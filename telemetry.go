package diracrpc

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc/internal/telemetry"
)

// clientTelemetry is a Client's OpenTelemetry instruments (see
// Options.MeterProvider). A nil *clientTelemetry is instrumentation off:
// every method is then a no-op that allocates nothing.
type clientTelemetry struct {
	service  string // rpc.service: System/Component
	tracer   trace.Tracer
	duration metric.Float64Histogram
	retries  metric.Int64Counter
	bans     metric.Int64Counter
	changes  metric.Int64Counter
	state    metric.Int64Gauge
	transfer metric.Int64Counter
}

func newClientTelemetry(o *Options, service string) (*clientTelemetry, error) {
	mp, tp, on := telemetry.Providers(o.MeterProvider, o.TracerProvider)
	if !on {
		return nil, nil
	}
	m := telemetry.Meter(mp)
	t := &clientTelemetry{service: service, tracer: telemetry.Tracer(tp)}
	var err error
	if t.duration, err = telemetry.Duration(m, telemetry.ClientDuration); err != nil {
		return nil, err
	}
	for name, c := range map[string]*metric.Int64Counter{telemetry.ClientRetries: &t.retries,
		telemetry.ClientBans: &t.bans, telemetry.ClientBreakerChange: &t.changes} {
		if *c, err = telemetry.Counter(m, name); err != nil {
			return nil, err
		}
	}
	if t.state, err = telemetry.BreakerStateGauge(m); err != nil {
		return nil, err
	}
	if t.transfer, err = telemetry.TransferBytes(m, telemetry.ClientTransferBytes); err != nil {
		return nil, err
	}
	return t, nil
}

// rpcAttrs are the attributes of every measurement of a call to url over p.
func (t *clientTelemetry) rpcAttrs(p Protocol, url, method string) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 6)
	kv = append(kv, telemetry.KeySystem.String(telemetry.System(string(p))), telemetry.KeyService.String(t.service))
	if method != "" {
		kv = append(kv, telemetry.KeyMethod.String(method))
	}
	if url != "" {
		kv = append(kv, telemetry.Server(serverOf(url))...)
	}
	return kv
}

// callTelemetry follows one Client.Call: its span and what the duration
// histogram needs at the end. Nil when instrumentation is off.
type callTelemetry struct {
	t        *clientTelemetry
	ctx      context.Context
	span     trace.Span
	start    time.Time
	method   string
	protocol Protocol
	url      string // the last attempt's
	attempts int
}

// startCall starts the call's span (kind client, named
// "{rpc.service}/{rpc.method}").
func (t *clientTelemetry) startCall(ctx context.Context, p Protocol, method string) (context.Context, *callTelemetry) {
	ct := &callTelemetry{t: t, start: time.Now(), method: method, protocol: p}
	ctx, ct.span = t.tracer.Start(ctx, telemetry.SpanName(t.service, method), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(ct.start), trace.WithAttributes(t.rpcAttrs(p, "", method)...))
	ct.ctx = ctx
	return ctx, ct
}

// end records the call's outcome: the duration histogram, the retries,
// the span's status. The nil checks of the hooks stay in small functions
// that inline: with instrumentation off the loop pays no call.
func (ct *callTelemetry) end(err error) {
	if ct != nil {
		ct.record(err)
	}
}

func (ct *callTelemetry) record(err error) {
	kv := ct.t.rpcAttrs(ct.protocol, ct.url, ct.method)
	if err != nil {
		kv = append(kv, telemetry.KeyErrorType.String(CodeOf(err).String()))
	}
	ms := float64(time.Since(ct.start)) / float64(time.Millisecond)
	set := metric.WithAttributes(kv...)
	ct.t.duration.Record(ct.ctx, ms, set)
	if ct.attempts > 1 {
		ct.t.retries.Add(ct.ctx, int64(ct.attempts-1), metric.WithAttributes(kv[:3]...))
	}
	if ct.span.IsRecording() {
		ct.span.SetAttributes(kv...)
		ct.span.SetAttributes(telemetry.KeyAttempts.Int(ct.attempts))
		spanError(ct.span, err)
	}
	ct.span.End()
}

// spanError sets the span's status and error attributes for err.
func spanError(s trace.Span, err error) {
	if err == nil {
		return
	}
	s.SetAttributes(telemetry.KeyErrorType.String(CodeOf(err).String()))
	if e := (*Error)(nil); errors.As(err, &e) && e.Errno != 0 {
		s.SetAttributes(telemetry.KeyErrno.Int(e.Errno))
	}
	s.SetStatus(codes.Error, err.Error())
}

// pause records the wait before the next attempt, as an event of the
// call's span.
func (ct *callTelemetry) pause(d time.Duration) {
	if ct != nil {
		ct.recordPause(d)
	}
}

func (ct *callTelemetry) recordPause(d time.Duration) {
	if !ct.span.IsRecording() {
		return
	}
	ct.span.AddEvent("pause", trace.WithAttributes(attribute.Float64("dirac.pause_ms", float64(d)/float64(time.Millisecond))))
}

// attemptTelemetry follows one attempt: a child span of the call's.
type attemptTelemetry struct {
	ct   *callTelemetry
	span trace.Span
}

// attempt starts attempt n (from 1) of the call on url, over r's protocol.
func (ct *callTelemetry) attempt(r *route, url string, n int) *attemptTelemetry {
	if ct == nil {
		return nil
	}
	return ct.startAttempt(r, url, n)
}

func (ct *callTelemetry) startAttempt(r *route, url string, n int) *attemptTelemetry {
	ct.protocol, ct.url = r.protocol, url
	_, span := ct.t.tracer.Start(ct.ctx, telemetry.SpanAttempt, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(ct.t.rpcAttrs(r.protocol, url, ct.method),
			telemetry.KeyURL.String(url), telemetry.KeyAttempt.Int(n))...))
	return &attemptTelemetry{ct: ct, span: span}
}

// end ends the attempt. attempts is the call's count so far (a transport
// retrying on its own, with Attempt.Again, adds to it); banned says the
// URL was banned after the failure.
func (at *attemptTelemetry) end(ctx context.Context, err error, attempts int, banned bool) {
	if at != nil {
		at.record(ctx, err, attempts, banned)
	}
}

func (at *attemptTelemetry) record(ctx context.Context, err error, attempts int, banned bool) {
	ct := at.ct
	ct.attempts = attempts
	sent := CodeOf(err) != CodeCircuitOpen
	if banned {
		kv := ct.t.rpcAttrs(ct.protocol, ct.url, "")
		kv = append(kv, telemetry.KeyErrorType.String(CodeOf(err).String()))
		ct.t.bans.Add(ct.ctx, 1, metric.WithAttributes(kv...))
	}
	if at.span.IsRecording() {
		if !sent {
			at.span.SetAttributes(telemetry.KeySent.Bool(false))
		}
		if banned {
			at.span.SetAttributes(telemetry.KeyBanned.Bool(true))
		}
		if tm := TimingOf(ctx); tm != nil && sent {
			p := tm.Phases()
			for _, ph := range []struct {
				name string
				d    time.Duration
			}{{"dns", p.DNS}, {"connect", p.Connect}, {"tls", p.TLS}, {"proposal", p.Proposal},
				{"server", p.Server}, {"transfer", p.Transfer}} {
				if ph.d > 0 {
					at.span.SetAttributes(attribute.Float64(telemetry.KeyPhase+ph.name, float64(ph.d)/float64(time.Millisecond)))
				}
			}
			if p.Reused {
				at.span.SetAttributes(attribute.Bool("dirac.reused", true))
			}
		}
		spanError(at.span, err)
	}
	at.span.End()
}

// breakerChanged is the breakers' OnStateChange hook for the route of
// protocol p: the state gauge and the changes counter of the server.
func (t *clientTelemetry) breakerChanged(p Protocol) func(server, to string) {
	if t == nil {
		return nil
	}
	return func(server, to string) {
		kv := append([]attribute.KeyValue{telemetry.KeySystem.String(telemetry.System(string(p))),
			telemetry.KeyService.String(t.service)}, telemetry.Server(server)...)
		ctx := context.Background()
		t.state.Record(ctx, telemetry.BreakerStateValue(to), metric.WithAttributes(kv...))
		t.changes.Add(ctx, 1, metric.WithAttributes(append(kv, telemetry.KeyBreakerState.String(to))...))
	}
}

// transferred counts n bytes of file transfer data moved in direction
// (DIRAC's name: FromClient, ToClient, BulkFromClient, BulkToClient) with
// url over p. It is the hook of the client's file transfers.
func (t *clientTelemetry) transferred(ctx context.Context, p Protocol, url, direction string, n int64) {
	if t == nil || n <= 0 {
		return
	}
	kv := append(t.rpcAttrs(p, url, ""), telemetry.KeyDirection.String(direction))
	t.transfer.Add(ctx, n, metric.WithAttributes(kv...))
}
