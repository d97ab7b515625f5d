// Package telemetry is what the client (package diracrpc) and the server
// (package server) share for OpenTelemetry: the semantic conventions they
// follow, DIRAC's rpc.system values, the instrument and attribute names, and
// the providers' defaults.
//
// The conventions are OpenTelemetry's RPC semantic conventions of version
// 1.26.0 (schema SchemaURL): rpc.system, rpc.service, rpc.method,
// server.address, server.port, error.type, and the duration histograms
// rpc.client.duration and rpc.server.duration in milliseconds. What they
// leave to each RPC system (retries, bans, breakers, file transfers) is
// named under "dirac.".
//
// DIRAC's wire protocols carry no trace context, and none is invented here:
// a server span is always a root span.
package telemetry

import (
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every meter and tracer.
const ScopeName = "github.com/diracgo/diracrpc"

// SchemaURL is the schema of the semantic conventions followed.
const SchemaURL = semconv.SchemaURL

// The rpc.system values: one per wire protocol family (dips:// and dip://
// are both DISET).
const (
	SystemDISET = "dirac.diset"
	SystemHTTPS = "dirac.https"
)

// System is the rpc.system of a protocol (a URL scheme).
func System(protocol string) string {
	if protocol == "https" {
		return SystemHTTPS
	}
	return SystemDISET
}

// Instrument names. The durations are the conventions'; the others are
// DIRAC's own.
const (
	ClientDuration      = "rpc.client.duration"              // histogram, ms: one per Client.Call
	ServerDuration      = "rpc.server.duration"              // histogram, ms: one per call served
	ClientRetries       = "dirac.rpc.client.retries"         // counter: attempts after a call's first
	ClientBans          = "dirac.rpc.client.bans"            // counter: URLs banned after a failure
	ClientBreakerState  = "dirac.rpc.client.breaker.state"   // gauge: 0 closed, 1 half-open, 2 open
	ClientBreakerChange = "dirac.rpc.client.breaker.changes" // counter: state changes, by new state
	ClientTransferBytes = "dirac.rpc.client.transfer.size"   // counter, By: file transfer data
	ServerTransferBytes = "dirac.rpc.server.transfer.size"   // counter, By: file transfer data
	SpanAttempt         = "attempt"                          // the span of one attempt of a call
)

const (
	unitMillis   = "ms"
	unitBytes    = "By"
	unitAttempt  = "{attempt}"
	unitBan      = "{ban}"
	unitChange   = "{change}"
	descDuration = "Duration of DIRAC RPCs (on the client, a whole call: its attempts and pauses)."
)

// Attribute keys: the conventions', then DIRAC's.
var (
	KeySystem      = semconv.RPCSystemKey
	KeyService     = semconv.RPCServiceKey
	KeyMethod      = semconv.RPCMethodKey
	KeyAddress     = semconv.ServerAddressKey
	KeyPort        = semconv.ServerPortKey
	KeyErrorType   = semconv.ErrorTypeKey
	KeyPeerAddress = semconv.NetworkPeerAddressKey
	KeyPeerPort    = semconv.NetworkPeerPortKey
	KeyURL         = semconv.URLFullKey
	// KeyErrno is the Errno of an S_ERROR (spans only).
	KeyErrno = attribute.Key("dirac.errno")
	// KeyAttempt numbers the attempts of a call from 1; KeyAttempts is
	// how many a call made.
	KeyAttempt  = attribute.Key("dirac.attempt")
	KeyAttempts = attribute.Key("dirac.attempts")
	// KeyBanned: the attempt's URL was banned after it.
	KeyBanned = attribute.Key("dirac.banned")
	// KeySent is false on an attempt a breaker held back.
	KeySent = attribute.Key("dirac.sent")
	// KeyBreakerState is a breaker's state: closed, half-open, open.
	KeyBreakerState = attribute.Key("dirac.breaker.state")
	// KeyDirection is DIRAC's name of a file transfer's direction
	// (FromClient, ToClient, BulkFromClient, BulkToClient).
	KeyDirection = attribute.Key("dirac.transfer.direction")
	// KeyPhase prefixes an attempt's timing phases, in ms
	// (dirac.phase.dns, .connect, .tls, .proposal, .server, .transfer),
	// recorded when the call's context carries a diracrpc.Timing.
	KeyPhase = "dirac.phase."
)

// DurationBuckets are the histogram bounds, in ms, the conventions
// recommend for RPC durations.
var DurationBuckets = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// Providers returns the providers to use: nil ones become no-op ones, and
// ok is false when both are nil (instrumentation off, nothing to build).
// The global providers are never used.
func Providers(mp metric.MeterProvider, tp trace.TracerProvider) (metric.MeterProvider, trace.TracerProvider, bool) {
	if mp == nil && tp == nil {
		return nil, nil, false
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	return mp, tp, true
}

// Meter and Tracer return the scope's meter and tracer.
func Meter(mp metric.MeterProvider) metric.Meter {
	return mp.Meter(ScopeName, metric.WithSchemaURL(SchemaURL))
}

// Tracer returns the scope's tracer.
func Tracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName, trace.WithSchemaURL(SchemaURL))
}

// Duration makes the duration histogram called name.
func Duration(m metric.Meter, name string) (metric.Float64Histogram, error) {
	return m.Float64Histogram(name, metric.WithUnit(unitMillis), metric.WithDescription(descDuration),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
}

// TransferBytes makes the file transfer byte counter called name.
func TransferBytes(m metric.Meter, name string) (metric.Int64Counter, error) {
	return m.Int64Counter(name, metric.WithUnit(unitBytes),
		metric.WithDescription("Bytes of file transfer data, by direction (DIRAC's names)."))
}

// Counter makes one of the client's counters.
func Counter(m metric.Meter, name string) (metric.Int64Counter, error) {
	unit, desc := "", ""
	switch name {
	case ClientRetries:
		unit, desc = unitAttempt, "Attempts of calls after their first (failover, retries)."
	case ClientBans:
		unit, desc = unitBan, "URLs banned after a failed attempt."
	case ClientBreakerChange:
		unit, desc = unitChange, "Circuit breaker state changes, by new state."
	}
	return m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
}

// BreakerStateGauge makes the breaker state gauge.
func BreakerStateGauge(m metric.Meter) (metric.Int64Gauge, error) {
	return m.Int64Gauge(ClientBreakerState, metric.WithUnit("1"),
		metric.WithDescription("Circuit breaker state of a server: 0 closed, 1 half-open, 2 open."))
}

// BreakerStateValue is the gauge's value of a state name ("closed",
// "half-open", "open", as gobreaker names them).
func BreakerStateValue(state string) int64 {
	switch state {
	case "half-open":
		return 1
	case "open":
		return 2
	}
	return 0
}

// Server returns server.address and server.port of a host:port (the port
// left out when there is none).
func Server(hostport string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return []attribute.KeyValue{KeyAddress.String(strings.ToLower(hostport))}
	}
	out := []attribute.KeyValue{KeyAddress.String(strings.ToLower(host))}
	if p, err := strconv.Atoi(port); err == nil {
		out = append(out, KeyPort.Int(p))
	}
	return out
}

// Peer returns network.peer.address and network.peer.port of a client's
// host:port.
func Peer(hostport string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	out := []attribute.KeyValue{KeyPeerAddress.String(host)}
	if p, err := strconv.Atoi(port); err == nil {
		out = append(out, KeyPeerPort.Int(p))
	}
	return out
}

// SpanName is the conventions' span name: "{rpc.service}/{rpc.method}".
func SpanName(service, method string) string { return service + "/" + method }
