package credentials_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
)

// Certificates recorded from the DIRAC oracle: a proxy made by DIRAC's own
// X509Chain (certificate only, with the group extension), the host, user and CA.
func TestDIRACCapturedCertificates(t *testing.T) {
	dir := filepath.Join(captures.Dir(), "certs_public")
	load := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return b
	}
	parse := func(name string) *credentialsCert {
		certs, err := credentials.ParseCertificatesPEM(load(name))
		require.NoError(t, err)
		require.Len(t, certs, 1)
		return &credentialsCert{certs[0]}
	}
	ca, host, user, proxy := parse("ca.pem"), parse("hostcert.pem"), parse("usercert.pem"), parse("proxy_dirac_cert_only.pem")

	assert.Equal(t, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=DIRAC Oracle Test CA", credentials.SubjectDN(ca.c))
	assert.Equal(t, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost", credentials.SubjectDN(host.c))
	assert.Equal(t, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", credentials.SubjectDN(user.c))
	assert.Equal(t, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", credentials.IssuerDN(proxy.c))
	for _, c := range []*credentialsCert{ca, host, user, proxy} {
		attrs, err := credentials.ParseDN(credentials.SubjectDN(c.c))
		require.NoError(t, err)
		assert.NotEmpty(t, attrs)
	}

	// Validity windows of the capture may have passed: verify at a time inside all of them.
	at := user.c.NotBefore.Add(time.Hour)
	store := credentials.NewCAStore(ca.c)
	v := &credentials.Verifier{CAs: store, Now: func() time.Time { return at }}
	pc, err := v.Verify([]*x509Certificate{proxy.c, user.c})
	require.NoError(t, err)
	assert.True(t, pc.IsProxy)
	assert.False(t, pc.IsLimitedProxy)
	assert.Equal(t, "dirac_user", pc.Group)
	assert.Equal(t, "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", pc.DN)
	assert.Regexp(t, `^/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser/CN=\d+$`, pc.Subject)

	info, err := credentials.ClassifyProxy(proxy.c, user.c)
	require.NoError(t, err)
	assert.Equal(t, credentials.RFC3820, info.Type)
	assert.Equal(t, -1, info.PathLen)

	require.NoError(t, credentials.VerifyServerChain([]*x509Certificate{host.c}, "localhost", store, at))
	require.NoError(t, credentials.VerifyServerChain([]*x509Certificate{host.c}, "127.0.0.1", store, at))

	_, err = v.Verify([]*x509Certificate{user.c})
	require.NoError(t, err)

	// The CA's hash is the one OpenSSL uses in the oracle's capath.
	h, err := credentials.SubjectHash(ca.c)
	require.NoError(t, err)
	assert.Len(t, h, 8)
}

// NewProxy writes the same extensions, with the same criticality and
// encodings, as DIRAC's X509Chain.generateProxyToFile (captured proxy).
func TestNewProxyMatchesDIRACExtensions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(captures.Dir(), "certs_public", "proxy_dirac_cert_only.pem"))
	require.NoError(t, err)
	certs, err := credentials.ParseCertificatesPEM(data)
	require.NoError(t, err)
	dirac := certs[0]

	f := newFixture(t)
	ours, err := credentials.NewProxy(f.user, credentials.ProxyOptions{Group: "dirac_user", ECDSA: true})
	require.NoError(t, err)

	type ext struct {
		critical bool
		value    []byte
	}
	index := func(c *x509Certificate) map[string]ext {
		m := map[string]ext{}
		for _, e := range c.Extensions {
			m[e.Id.String()] = ext{e.Critical, e.Value}
		}
		return m
	}
	want, got := index(dirac), index(ours.Leaf())
	for _, oid := range []string{"2.5.29.15", "1.3.6.1.5.5.7.1.14", "1.2.42.42"} {
		require.Contains(t, got, oid)
		assert.Equal(t, want[oid], got[oid], "extension %s", oid)
	}
	assert.Equal(t, dirac.SignatureAlgorithm.String(), "SHA256-RSA")
	assert.Equal(t, x509.ECDSAWithSHA256, ours.Leaf().SignatureAlgorithm, "SHA-256 with the issuer's key type")
	// Validity starts 15 minutes before issue, as DIRAC's does (its proxy
	// predates its user certificate's notBefore by 15 minutes in the capture).
	assert.WithinDuration(t, time.Now().Add(-15*time.Minute), ours.Leaf().NotBefore, 5*time.Second)
}
