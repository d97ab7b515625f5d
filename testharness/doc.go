// Package testharness starts DIRAC-compatible test services on loopback for
// integration tests, yours and ours: one service served over dips://, dip://
// and https:// at once on ephemeral ports, with a throw-away PKI (CA, host
// certificate, user certificate and RFC 3820 proxy) written to a directory,
// and the environment a DIRAC client needs to call it.
//
//	func TestMyClient(t *testing.T) {
//		h := testharness.NewT(t, testharness.Options{})
//		cl, err := h.Client(diracrpc.HTTPS)
//		...
//		res, err := cl.Call(ctx, "add", 2, 3)
//	}
//
// By default the service is the test service recorded in ../shared/captures
// (NewTestService); set Options.Service to serve your own handler instead.
// Nothing outside tests and tools should import this package.
package testharness
