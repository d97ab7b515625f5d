// Package diracrpc calls DIRAC services: one Client type with one Options
// type, whatever the wire protocol, connect-go style.
//
// The protocols are transports in subpackages: disetclient (dips://, dip://)
// and httpsclient (https://), whose New functions return a *Client; selector
// resolves a DIRAC service name and picks the protocol. A transport makes one
// attempt against one URL; everything above it is the Client's one call loop,
// one file per concern:
//
//   - client.go: the loop (URL choice, attempts, idempotency, fallback);
//   - failover.go: main and failover URLs, bans, backoff (DIRAC's rules);
//   - breaker.go: a gobreaker circuit breaker per server;
//   - code.go, errors.go: Code, CodeOf, Reached, TransportError, the
//     sentinel errors and the S_ERROR type (Error);
//   - options.go: Options, BreakerSettings, WithIdempotent;
//   - keywords.go: DIRAC's keywords on the wire and in replay stubs, and the
//     credential order;
//   - transport.go: the Transport seam;
//   - timing.go: Timing, where a call's time went (DNS, connect, TLS,
//     proposal, server, transfer), which transports fill when the call's
//     context carries one;
//   - telemetry.go: OpenTelemetry metrics and spans (Options.MeterProvider,
//     Options.TracerProvider).
//
// Results are Result (the S_OK value in the model of package value, the raw
// payload, the URL that served, the replay Stub).
//
// # Metrics and traces
//
// With Options.MeterProvider or Options.TracerProvider set, a Client
// reports what its calls do with OpenTelemetry, following the RPC semantic
// conventions of version 1.26.0. Every measurement carries rpc.system
// ("dirac.diset" for dips:// and dip://, "dirac.https" for https://),
// rpc.service (System/Component), and, where they apply, rpc.method,
// server.address and server.port; a failure adds error.type, the name of
// its Code (CodeOf: "unreachable", "service_error", "circuit_open"...).
//
// Metrics: rpc.client.duration (histogram, ms, one per Call: its attempts
// and pauses included, server.* of its last attempt);
// dirac.rpc.client.retries (attempts after a call's first);
// dirac.rpc.client.bans (URLs banned after a failure, with error.type);
// dirac.rpc.client.breaker.state (gauge per server: 0 closed, 1 half-open,
// 2 open) and dirac.rpc.client.breaker.changes (by dirac.breaker.state);
// dirac.rpc.client.transfer.size (bytes of file transfers, by
// dirac.transfer.direction).
//
// Spans: one client span per Call, "{rpc.service}/{rpc.method}", with a
// child span "attempt" per attempt (url.full, dirac.attempt, dirac.banned,
// dirac.sent=false when a breaker held it back, and with a Timing in the
// context its phases as dirac.phase.* in ms) and a "pause" event per
// backoff. DIRAC's protocols carry no trace context, so nothing of the
// trace reaches the server: server spans are roots (see package server).
package diracrpc
