package credentials_test

import (
	"testing"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// BenchmarkVerifyProxyChain is the server's per-connection cost for an
// RFC 3820 proxy of a user certificate (P-256 keys).
func BenchmarkVerifyProxyChain(b *testing.B) { benchVerifyProxyChain(b, pki.Options{}) }

// BenchmarkVerifyProxyChainRSA is the same with RSA 2048 keys, as DIRAC makes them.
func BenchmarkVerifyProxyChainRSA(b *testing.B) { benchVerifyProxyChain(b, pki.Options{RSA: true}) }

func benchVerifyProxyChain(b *testing.B, opts pki.Options) {
	ca, err := pki.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	u, _ := ca.User("u")
	p, _ := ca.Proxy(u, pki.RFC3820)
	v := &credentials.Verifier{CAs: ca.Store()}
	for b.Loop() {
		if _, err := v.Verify(p.Chain); err != nil {
			b.Fatal(err)
		}
	}
}
