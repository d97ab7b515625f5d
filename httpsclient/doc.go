// Package httpsclient calls DIRAC services over DIRAC's HTTPS protocol (the
// Tornado services), byte-compatible with DIRAC's TornadoClient.
//
// A call is a POST to https://host:port/<System>/<Component> with the form
// fields method, args (a JEncode JSON array), extraCredentials (only when
// set), clientVO and clientSetup, in that order. The answer is mapped as
// DIRAC's client maps it: HTTP 200 carries the S_OK value or the S_ERROR
// (*diracrpc.Error); 401/403 match diracrpc.ErrUnauthorized, 501
// diracrpc.ErrNotImplemented, everything else is a *StatusError.
//
// Unlike DIRAC's client, a call is sent again only when that is safe: the
// request never reached the server (dial and TLS failures), the server said
// so (502/503/504 with Retry-After), or the method is idempotent (Config.Idempotent,
// WithIdempotent); and the caller gets the outcome of the last
// attempt, not the first error. Each server has its own circuit breaker; an
// open breaker fails fast with diracrpc.ErrCircuitOpen and the call moves on
// to the next URL of the service.
//
// Connections are kept alive and shared by every call a Client makes to the
// same server (HTTP/1.1 only, as Tornado).
package httpsclient
