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
//     context carries one.
//
// Results are Result (the S_OK value in the model of package value, the raw
// payload, the URL that served, the replay Stub).
package diracrpc
