//go:build race

package gateway_test

// raceEnabled: the race detector slows TLS handshakes about tenfold, so
// the load test runs fewer callers (its overhead figures are meaningless
// then anyway).
const raceEnabled = true
