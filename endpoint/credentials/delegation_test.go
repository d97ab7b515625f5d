package credentials_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/x509pem"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func peerOf(t *testing.T, c *credentials.Credential) *credentials.PeerCredentials {
	t.Helper()
	pc, err := credentials.CredentialsFromChain(c.Chain, time.Now())
	require.NoError(t, err)
	return pc
}

// TestDelegationRoundTrip: the request, the proxy signed the way DIRAC's
// client signs it, and the accepted chain with the caller's identity, group
// and limitation.
func TestDelegationRoundTrip(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	user := must(ca.User("alice"))
	for name, signer := range map[string]*credentials.Credential{
		"proxy with group": must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"})),
		"limited proxy":    must(ca.Proxy(user, pki.Limited)),
		"user certificate": user,
	} {
		t.Run(name, func(t *testing.T) {
			caller := peerOf(t, signer)
			req, err := credentials.NewProxyRequest(caller)
			require.NoError(t, err)
			assert.Contains(t, string(req.PEM), "BEGIN CERTIFICATE REQUEST")
			chainPEM, err := credentials.SignProxyRequest(signer, req.PEM, 0)
			require.NoError(t, err)
			assert.NotContains(t, string(chainPEM), "PRIVATE KEY")
			cred, err := req.Accept(chainPEM, caller, time.Now())
			require.NoError(t, err)
			got := peerOf(t, cred)
			assert.Equal(t, caller.DN, got.DN)
			assert.Equal(t, caller.Group, got.Group)
			assert.Equal(t, caller.IsLimitedProxy, got.IsLimitedProxy)
			assert.Equal(t, credentials.SubjectDN(signer.Chain[0]), credentials.SubjectDN(cred.Chain[1]))
			_, hasGroup := credentials.DIRACGroup(cred.Chain[0])
			assert.False(t, hasGroup, "DIRAC's client puts no group in a delegated proxy")
			assert.False(t, cred.Chain[0].NotAfter.After(signer.NotAfter()), "cut to the signer's lifetime")
		})
	}
}

// TestDelegationRefused: every chain that would widen or change the caller's
// rights is refused.
func TestDelegationRefused(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	user := must(ca.User("alice"))
	other := must(ca.User("mallory"))
	proxy := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	limited := must(ca.Proxy(user, pki.Limited))
	caller := peerOf(t, proxy)
	req, err := credentials.NewProxyRequest(caller)
	require.NoError(t, err)
	// sign issues a proxy of issuer for the request's key with opts.
	sign := func(issuer *credentials.Credential, opts credentials.ProxyOptions) []byte {
		pemChain, err := credentials.SignProxyRequest(issuer, req.PEM, opts.Lifetime)
		require.NoError(t, err)
		return pemChain
	}
	otherKey := must(credentials.NewProxy(proxy, credentials.ProxyOptions{ECDSA: true}))
	withGroup := must(credentials.NewProxy(proxy, credentials.ProxyOptions{ECDSA: true, Group: "dirac_admin"}))
	cases := map[string][]byte{
		"another user's chain": sign(must(ca.Proxy(other, pki.RFC3820)), credentials.ProxyOptions{}),
		"a full proxy of a limited caller, sent as the caller's": func() []byte {
			// the caller is the limited proxy, the chain is from the full one
			return sign(proxy, credentials.ProxyOptions{})
		}(),
		"a proxy for another key": x509pem.Certificates(otherKey.Chain...),
		"a new group claimed":     x509pem.Certificates(withGroup.Chain...),
		"garbage":                 []byte("not a chain"),
		"only the caller's chain": x509pem.Certificates(proxy.Chain...),
	}
	for name, chain := range cases {
		t.Run(name, func(t *testing.T) {
			who := caller
			if name == "a full proxy of a limited caller, sent as the caller's" {
				who = peerOf(t, limited)
			}
			_, err := req.Accept(chain, who, time.Now())
			require.Error(t, err)
			assert.ErrorIs(t, err, credentials.ErrDelegation)
		})
	}
	good := sign(proxy, credentials.ProxyOptions{})
	_, err = req.Accept(good, caller, time.Now().Add(48*time.Hour))
	assert.ErrorIs(t, err, credentials.ErrDelegation, "expired")
	_, err = req.Accept(good, caller, time.Now())
	assert.NoError(t, err)
	assert.True(t, bytes.Contains(good, []byte("BEGIN CERTIFICATE")))
}

func TestSignProxyRequestRefusesBadRequests(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	proxy := pki.Must(t)(ca.Proxy(pki.Must(t)(ca.User("alice")), pki.RFC3820))
	_, err := credentials.SignProxyRequest(proxy, []byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), 0)
	assert.ErrorIs(t, err, credentials.ErrDelegation)
	_, err = credentials.SignProxyRequest(proxy, nil, 0)
	assert.ErrorIs(t, err, credentials.ErrDelegation)
}
