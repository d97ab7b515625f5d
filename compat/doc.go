// Package compat runs the same calls against two DIRAC endpoints (normally the
// DISET and the HTTPS endpoint of one service) and classifies every
// difference between the answers.
//
// Each difference is found at a path inside the value and given a Kind. Some
// kinds are the documented consequences of DIRAC's JSON encoding (tuple
// became list, non-string dict key became a string, microseconds dropped,
// bytes became str under DEncode) or of the two protocols reporting the same
// failure differently (an unknown method, a refused call, a handler that
// raised); they are expected. Everything else is a divergence. A case is
// Identical, Expected (only expected differences), Divergent, or Failed (a
// side could not be called at all: network, TLS, credentials).
//
//	calls, err := compat.LoadFile("calls.yaml")
//	rep := compat.Run(ctx, dips, https, calls, compat.Options{})
//	rep.WriteText(os.Stdout)
//	if rep.Divergent() { os.Exit(1) }
//
// Reports are written as text, JSON and JUnit XML (for CI systems).
package compat
