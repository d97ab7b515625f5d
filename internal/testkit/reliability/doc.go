// Package reliability holds the tests that put the clients and the Go server
// under faults (testharness/faults), hostile input and load, and fuzz targets
// for the parsers that read network or file input not covered elsewhere. It
// has no non-test code beyond this comment.
//
// What the tests prove, each with server-side counters rather than timing:
// a call that reached the service runs exactly once whatever fails after,
// unless the method is marked idempotent; failover reaches a healthy URL
// when others refuse, hang or reset; every call honours its context deadline
// and leaves no goroutine behind; the HTTPS breaker opens, fails fast and
// recovers; the servers keep serving well-behaved clients under hostile
// input with bounded memory. The load tests (TestLoad*) are skipped with
// -short; DIRACRPC_LOAD_CALLS sets the calls per caller (default 2).
package reliability
