package server

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// TestChainCache: a chain analysed in a full handshake is found again by
// its bytes, its lifetime brought up to date; an expired one is analysed
// anew; another chain, or one only seen resumed, is not
// taken from the cache.
func TestChainCache(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	user := must(ca.User("alice"))
	proxyA := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user", Lifetime: time.Hour}))
	proxyB := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin", Lifetime: time.Hour}))
	full := func(c *credentials.Credential) *tls.ConnectionState {
		return &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: c.Chain}
	}
	resumed := func(c *credentials.Credential) *tls.ConnectionState {
		cs := full(c)
		cs.DidResume = true
		return cs
	}
	t0 := time.Now()
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }

	cc := newChainCache()
	p, err := cc.peerInfo(resumed(proxyB), at(0))
	require.NoError(t, err)
	assert.Equal(t, "dirac_admin", p.Group)
	assert.Empty(t, cc.m, "a chain seen only resumed (signatures not checked by the analysis) is not kept")

	first, err := cc.peerInfo(full(proxyA), at(0))
	require.NoError(t, err)
	require.Len(t, cc.m, 1)
	first.Group = "changed by a handler" // a copy: the cache is not affected

	again, err := cc.peerInfo(resumed(proxyA), at(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "dirac_user", again.Group)
	assert.Equal(t, credentials.SubjectDN(user.Leaf()), again.DN)
	want, err := (&credentials.Verifier{Now: at(10 * time.Minute)}).PeerInfo(*full(proxyA))
	require.NoError(t, err)
	assert.Equal(t, want.SecondsLeft, again.SecondsLeft, "lifetime brought up to date")

	other, err := cc.peerInfo(full(proxyB), at(10*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "dirac_admin", other.Group, "another chain is analysed, not taken for the first")

	// The handshake refuses an expired chain; were it analysed, no lifetime
	// is left (not the user certificate's).
	expired, err := cc.peerInfo(resumed(proxyA), at(2*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, expired.SecondsLeft, "an expired chain is analysed anew")

	for range maxCachedChains + 1 { // bounded
		c := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Lifetime: time.Hour}))
		_, err := cc.peerInfo(full(c), at(0))
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, len(cc.m), maxCachedChains)
}
