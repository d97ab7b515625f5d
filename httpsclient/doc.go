// Package httpsclient is the HTTPS transport of diracrpc.Client: DIRAC's
// Tornado services, byte-compatible with DIRAC's TornadoClient.
//
// An attempt is a POST to the URL exactly as given (DIRAC ≥ 8.1 serves
// System/<Handler> as https://host:8443/System/Tornado<Handler>) with the
// form fields method, args (a JEncode JSON array), extraCredentials (only
// when set), clientVO and clientSetup, in that order. The answer is
// classified as DIRAC's client reads it: HTTP 200 carries the S_OK value or
// the S_ERROR (*diracrpc.Error); 401/403 are diracrpc.CodeUnauthorized, 501
// CodeNotImplemented, 404 CodeNotFound, 5xx CodeServerFailure (see
// diracrpc.CodeOf).
//
// Everything above one attempt (failover, retries, breakers, idempotency,
// stubs) is diracrpc.Client's. The only retry of the same URL made here is
// the one HTTP itself defines: a 502/503/504 carrying a Retry-After within
// Options.MaxRetryAfter, which proves the request was not processed; it
// spends one of the call's attempts (go-retryablehttp drives it, with the
// client's backoff).
//
// Connections are kept alive and shared by every call a client makes to the
// same server (HTTP/1.1 only, as Tornado). Answers are asked for
// gzip-compressed, as DIRAC's client asks (see Options.DisableCompression).
package httpsclient
