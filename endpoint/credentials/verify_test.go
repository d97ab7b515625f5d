package credentials_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestVerifyClientChains(t *testing.T) {
	f := newFixture(t)
	must := pki.Must(t)
	ca := f.ca
	v := &credentials.Verifier{CAs: ca.Store()}
	legacyOK := &credentials.Verifier{CAs: ca.Store(), ChainPolicy: credentials.ChainPolicy{AllowLegacyProxies: true}}

	userDN := credentials.SubjectDN(f.user.Leaf())
	grouped := must(ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	popGroup := must(ca.ProxyWith(grouped, pki.RFC3820, credentials.ProxyOptions{Group: "other_group"}))
	zero := 0
	pathLen0 := must(ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{PathLen: &zero}))
	overPathLen := must(ca.Proxy(pathLen0, pki.RFC3820))
	otherUser := must(f.other.User("mallory"))
	noEKU := must(ca.UserWithoutClientAuth("bob"))
	longChain := f.proxy
	for range 11 {
		longChain = must(ca.Proxy(longChain, pki.RFC3820))
	}

	type want struct {
		reason  credentials.VerifyReason
		isProxy bool
		limited bool
		group   string
		dn      string
	}
	cases := []struct {
		name  string
		chain []*x509.Certificate
		v     *credentials.Verifier
		want  want
		fails bool
	}{
		{name: "user cert", chain: f.user.Chain, want: want{dn: userDN}},
		{name: "host cert as client", chain: f.host.Chain, want: want{dn: credentials.SubjectDN(f.host.Leaf())}},
		{name: "rfc proxy", chain: f.proxy.Chain, want: want{isProxy: true, dn: userDN}},
		{name: "legacy proxy refused", chain: must(ca.Proxy(f.user, pki.Legacy)).Chain, fails: true, want: want{reason: credentials.ReasonLegacyProxy}},
		{name: "legacy proxy allowed by name", chain: must(ca.Proxy(f.user, pki.Legacy)).Chain, v: legacyOK, want: want{isProxy: true, dn: userDN}},
		{name: "limited proxy", chain: must(ca.Proxy(f.user, pki.Limited)).Chain, want: want{isProxy: true, limited: true, dn: userDN}},
		{name: "legacy limited proxy refused", chain: must(ca.Proxy(f.user, pki.LegacyLimited)).Chain, fails: true, want: want{reason: credentials.ReasonLegacyProxy}},
		{name: "legacy limited proxy allowed by name", chain: must(ca.Proxy(f.user, pki.LegacyLimited)).Chain, v: legacyOK, want: want{isProxy: true, limited: true, dn: userDN}},
		{name: "proxy of proxy", chain: must(ca.Proxy(f.proxy, pki.RFC3820)).Chain, want: want{isProxy: true, dn: userDN}},
		{name: "limited below normal", chain: must(ca.Proxy(f.proxy, pki.Limited)).Chain, want: want{isProxy: true, limited: true, dn: userDN}},
		{name: "full proxy below limited refused", chain: must(ca.Proxy(must(ca.Proxy(f.user, pki.Limited)), pki.RFC3820)).Chain, fails: true, want: want{reason: credentials.ReasonBadProxy}},
		{name: "group extension", chain: grouped.Chain, want: want{isProxy: true, group: "dirac_user", dn: userDN}},
		{name: "group nearest the EEC wins", chain: popGroup.Chain, want: want{isProxy: true, group: "dirac_user", dn: userDN}},
		{name: "path length 0 respected", chain: pathLen0.Chain, want: want{isProxy: true, dn: userDN}},
		{name: "path length exceeded", chain: overPathLen.Chain, fails: true, want: want{reason: credentials.ReasonBadProxy}},
		{name: "untrusted CA user", chain: otherUser.Chain, fails: true, want: want{reason: credentials.ReasonUnknownAuthority}},
		{name: "untrusted CA proxy", chain: must(ca.Proxy(otherUser, pki.RFC3820)).Chain, fails: true, want: want{reason: credentials.ReasonUnknownAuthority}},
		{name: "expired user", chain: must(ca.ExpiredUser("old")).Chain, fails: true, want: want{reason: credentials.ReasonExpired}},
		{name: "expired proxy", chain: must(ca.ExpiredProxy(f.user)).Chain, fails: true, want: want{reason: credentials.ReasonExpired}},
		{name: "not yet valid host", chain: must(ca.NotYetValidHost("localhost")).Chain, fails: true, want: want{reason: credentials.ReasonNotYetValid}},
		{name: "no clientAuth EKU", chain: noEKU.Chain, fails: true, want: want{reason: credentials.ReasonKeyUsage}},
		{name: "proxy of cert without clientAuth", chain: must(ca.Proxy(noEKU, pki.RFC3820)).Chain, fails: true, want: want{reason: credentials.ReasonKeyUsage}},
		{name: "forged proxy", chain: must(ca.ForgedProxy(f.user)).Chain, fails: true, want: want{reason: credentials.ReasonBadSignature}},
		{name: "forged proxy of proxy", chain: must(ca.ForgedProxy(f.proxy)).Chain, fails: true, want: want{reason: credentials.ReasonBadSignature}},
		{name: "proxy without issuer", chain: f.proxy.Chain[:1], fails: true, want: want{reason: credentials.ReasonBadProxy}},
		{name: "proxy with wrong issuer cert", chain: []*x509.Certificate{f.proxy.Chain[0], f.host.Leaf()}, fails: true, want: want{reason: credentials.ReasonBadProxy}},
		{name: "empty chain", chain: nil, fails: true, want: want{reason: credentials.ReasonNoCertificate}},
		{name: "too long for the verify depth", chain: longChain.Chain, v: &credentials.Verifier{CAs: ca.Store(), MaxDepth: credentials.VerifyDepth}, fails: true, want: want{reason: credentials.ReasonChainTooLong}},
		{name: "chain at the verify depth", chain: longChain.Chain[len(longChain.Chain)-credentials.VerifyDepth:], want: want{isProxy: true, dn: userDN}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vv := v
			if tc.v != nil {
				vv = tc.v
			}
			pc, err := vv.Verify(tc.chain)
			if tc.fails {
				require.Error(t, err)
				var ve *credentials.VerifyError
				require.True(t, errors.As(err, &ve), "want *VerifyError, got %T: %v", err, err)
				assert.Equal(t, tc.want.reason, ve.Reason, "error: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.isProxy, pc.IsProxy)
			assert.Equal(t, tc.want.limited, pc.IsLimitedProxy)
			assert.Equal(t, tc.want.group, pc.Group)
			assert.Equal(t, tc.want.dn, pc.DN)
			assert.Equal(t, credentials.SubjectDN(tc.chain[0]), pc.Subject)
			assert.Equal(t, credentials.IssuerDN(tc.chain[0]), pc.Issuer)
			assert.Greater(t, pc.SecondsLeft, int64(0))
			m := pc.Map()
			assert.Equal(t, tc.want.dn, m["DN"])
			assert.Equal(t, false, m["validDN"])
			if tc.want.isProxy {
				assert.Equal(t, userDN, m["identity"])
			} else {
				assert.NotContains(t, m, "identity")
			}
		})
	}
}

func TestSecondsLeftIsChainMinimum(t *testing.T) {
	f := newFixture(t)
	p := pki.Must(t)(f.ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{Lifetime: time.Hour}))
	pc, err := (&credentials.Verifier{CAs: f.ca.Store()}).Verify(p.Chain)
	require.NoError(t, err)
	assert.InDelta(t, 3600, pc.SecondsLeft, 5)
}

func TestNewProxyDIRACShape(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	p, err := credentials.NewProxy(f.user, credentials.ProxyOptions{Group: "dirac_admin", Lifetime: 48 * time.Hour, ECDSA: true, Now: func() time.Time { return now }})
	require.NoError(t, err)
	leaf := p.Leaf()
	assert.Equal(t, x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment, leaf.KeyUsage)
	assert.WithinDuration(t, now.Add(-15*time.Minute), leaf.NotBefore, time.Second)
	assert.WithinDuration(t, now.Add(48*time.Hour), leaf.NotAfter, time.Second)
	g, ok := credentials.DIRACGroup(leaf)
	assert.True(t, ok)
	assert.Equal(t, "dirac_admin", g)
	info, err := credentials.ClassifyProxy(leaf, f.user.Leaf())
	require.NoError(t, err)
	assert.Equal(t, credentials.RFC3820, info.Type)
	assert.Equal(t, -1, info.PathLen)
	assert.Equal(t, credentials.SubjectDN(f.user.Leaf())+"/CN="+leaf.SerialNumber.String(), credentials.SubjectDN(leaf))

	// Lifetime is cut to the issuer's expiry.
	long, err := credentials.NewProxy(f.user, credentials.ProxyOptions{Lifetime: 10 * 365 * 24 * time.Hour, ECDSA: true})
	require.NoError(t, err)
	assert.Equal(t, f.user.Leaf().NotAfter, long.Leaf().NotAfter)

	// Default key: RSA 2048 like DIRAC (generated once here; slow-ish).
	rsaP, err := credentials.NewProxy(f.user, credentials.ProxyOptions{KeyBits: 1024})
	require.NoError(t, err)
	assert.Equal(t, x509.RSA, rsaP.Leaf().PublicKeyAlgorithm)
}

// A certificate issued directly by a CA is an end-entity certificate even
// when its last CN is "proxy"; with proxyCertInfo it is refused.
func TestProxyIssuedByCA(t *testing.T) {
	f := newFixture(t)
	v := &credentials.Verifier{CAs: f.ca.Store()}
	legacyLike, err := credentials.NewProxy(f.ca.Credential(), credentials.ProxyOptions{Type: credentials.Legacy, ECDSA: true})
	require.NoError(t, err)
	pc, err := v.Verify(legacyLike.Chain)
	require.NoError(t, err)
	assert.False(t, pc.IsProxy)
	assert.Equal(t, credentials.SubjectDN(f.ca.Cert)+"/CN=proxy", pc.DN)

	rfc, err := credentials.NewProxy(f.ca.Credential(), credentials.ProxyOptions{ECDSA: true})
	require.NoError(t, err)
	_, err = v.Verify(rfc.Chain)
	var ve *credentials.VerifyError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, credentials.ReasonBadProxy, ve.Reason)
}

func TestFieldsOrderMatchesDIRAC(t *testing.T) {
	f := newFixture(t)
	p := pki.Must(t)(f.ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	pc, err := (&credentials.Verifier{CAs: f.ca.Store()}).Verify(p.Chain)
	require.NoError(t, err)
	var keys []string
	for _, fl := range pc.Fields() {
		keys = append(keys, fl.Key)
	}
	// Order of the captured whoami reply (curl_whoami_proxy), before the server's VO/properties/username.
	assert.Equal(t, []string{"subject", "issuer", "secondsLeft", "isProxy", "isLimitedProxy", "validDN", "validGroup", "DN", "identity", "group"}, keys)
}

func TestVerifyHostnameRules(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	cases := []struct {
		cert  *credentials.Credential
		host  string
		match bool
	}{
		{must(ca.Host("dirac.example.org")), "DIRAC.Example.ORG", true},
		{must(ca.Host("*.example.org")), "my.example.org", true},
		{must(ca.Host("m*.example.org")), "my.example.org", true},
		{must(ca.Host("m*.example.org")), "your.example.org", false},
		{must(ca.Host("*.example.org")), "example.org", false},
		{must(ca.Host("*.*.org")), "a.b.org", false},
		{must(ca.Host("*.0.0.1")), "127.0.0.1", false},
		{must(ca.Host("127.0.0.1")), "127.0.0.1", true},
		{must(ca.Host("::1")), "::1", true},
		{must(ca.Host("::1")), "[::1]", true},
		{must(ca.Host("localhost")), "127.0.0.1", false},
		{must(ca.HostCNOnly("Host.Example.org")), "host.example.ORG", true},
		{must(ca.HostCNOnly("*.example.org")), "x.example.org", true},
		{must(ca.HostCNOnly("host.example.org")), "other.example.org", false},
		{must(ca.Host("host.example.org")), "host.example.org.", true},
	}
	for _, tc := range cases {
		err := credentials.VerifyHostname(tc.cert.Leaf(), tc.host)
		if tc.match {
			assert.NoError(t, err, "%v vs %s", tc.cert.Leaf().DNSNames, tc.host)
			continue
		}
		var ve *credentials.VerifyError
		require.True(t, errors.As(err, &ve), "%v vs %s: %v", tc.cert.Leaf().DNSNames, tc.host, err)
		assert.Equal(t, credentials.ReasonHostnameMismatch, ve.Reason)
		assert.NotEmpty(t, ve.Names)
	}
	err := credentials.VerifyHostname(must(ca.HostCNOnly("a.example.org")).Leaf(), "b.example.org")
	assert.ErrorContains(t, err, "CN:a.example.org")
}

// TestSecondsLeftOfAnExpiredProxy: the lifetime left is the chain's
// shortest, zero once a proxy expired, whatever the user certificate's.
func TestSecondsLeftOfAnExpiredProxy(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	user := must(ca.User("alice"))
	proxy := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Lifetime: time.Hour}))
	cs := tls.ConnectionState{HandshakeComplete: true, DidResume: true, PeerCertificates: proxy.Chain}
	for _, tc := range []struct {
		after time.Duration
		left  int64
	}{{0, 3599}, {2 * time.Hour, 0}} {
		p, err := (&credentials.Verifier{Now: func() time.Time { return time.Now().Add(tc.after) }}).PeerInfo(cs)
		require.NoError(t, err)
		assert.InDelta(t, tc.left, p.SecondsLeft, 2, "after %v", tc.after)
	}
}
