package pki_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestWriteDirLayout(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	f := ca.WriteDirT(t)
	h, err := credentials.SubjectHash(ca.Cert)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(f.CADir, h+".0"))
	require.NoError(t, err)
	for _, p := range []string{f.HostKey, f.UserKey, f.Proxy} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), p)
	}
	assert.Equal(t, f.CADir, f.Env["X509_CERT_DIR"])
	assert.Equal(t, f.Proxy, f.Env["X509_USER_PROXY"])
	assert.Equal(t, f.HostCert, f.Env["DIRAC_X509_HOST_CERT"])
	assert.Contains(t, f.Environ(), "X509_USER_KEY="+f.UserKey)

	p, err := credentials.LoadProxy(f.Proxy, credentials.LoadOptions{})
	require.NoError(t, err)
	require.Len(t, p.Chain, 2)
	pc, err := (&credentials.Verifier{CAs: ca.Store()}).Verify(p.Chain)
	require.NoError(t, err)
	assert.Equal(t, "dirac_user", pc.Group)
	assert.Equal(t, "/C=ch/O=DIRAC/OU=diracrpc test/CN=testuser", pc.DN)

	// Writing again (same CA) is idempotent; a second CA with the same name
	// gets <hash>.1.
	require.NoError(t, pki.WriteCADir(f.CADir, ca.Cert))
	twin := pki.NewT(t, pki.Options{Name: ca.Cert.Subject.CommonName})
	require.NoError(t, pki.WriteCADir(f.CADir, twin.Cert))
	_, err = os.Stat(filepath.Join(f.CADir, h+".1"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(f.CADir, h+".2"))
	assert.True(t, os.IsNotExist(err))
}

func TestOpenSSLVerifyCApath(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	ca := pki.NewT(t, pki.Options{})
	f := ca.WriteDirT(t)
	out, err := exec.Command(bin, "x509", "-in", f.CACert, "-noout", "-subject_hash").CombinedOutput()
	require.NoError(t, err, "%s", out)
	h, _ := credentials.SubjectHash(ca.Cert)
	assert.Equal(t, strings.TrimSpace(string(out)), h)
	out, err = exec.Command(bin, "verify", "-CApath", f.CADir, f.HostCert, f.UserCert).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, 2, strings.Count(string(out), ": OK"), "%s", out)
}

func TestVariants(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	now := time.Now()

	h := must(ca.Host("a.example.org", "10.0.0.1"))
	assert.Equal(t, "a.example.org", h.Leaf().Subject.CommonName)
	assert.Equal(t, []string{"a.example.org"}, h.Leaf().DNSNames)
	assert.Len(t, h.Leaf().IPAddresses, 1)

	cn := must(ca.HostCNOnly("cn.example.org"))
	assert.Empty(t, cn.Leaf().DNSNames)

	assert.True(t, must(ca.ExpiredHost()).Leaf().NotAfter.Before(now))
	assert.True(t, must(ca.NotYetValidHost()).Leaf().NotBefore.After(now))
	assert.True(t, must(ca.ExpiredUser("x")).Leaf().NotAfter.Before(now))

	u := must(ca.User("u"))
	for kind, want := range map[pki.ProxyKind]credentials.ProxyType{pki.RFC3820: credentials.RFC3820, pki.Limited: credentials.RFC3820, pki.Legacy: credentials.Legacy, pki.LegacyLimited: credentials.Legacy} {
		p := must(ca.Proxy(u, kind))
		info, err := credentials.ClassifyProxy(p.Chain[0], p.Chain[1])
		require.NoError(t, err)
		assert.Equal(t, want, info.Type)
		assert.Equal(t, kind == pki.Limited || kind == pki.LegacyLimited, info.Limited)
	}
	ex := must(ca.ExpiredProxy(u))
	assert.True(t, ex.Leaf().NotAfter.Before(now))

	other, err := ca.Untrusted()
	require.NoError(t, err)
	again, err := ca.Untrusted()
	require.NoError(t, err)
	assert.Same(t, other, again)
	assert.NotEqual(t, other.Cert.Subject.CommonName, ca.Cert.Subject.CommonName)

	rsaCA := pki.NewT(t, pki.Options{RSA: true})
	assert.Equal(t, "RSA", rsaCA.Cert.PublicKeyAlgorithm.String())
}

// BenchmarkFullPKI measures what an integration test pays: CA, host, user, proxy.
func BenchmarkFullPKI(b *testing.B) {
	for b.Loop() {
		ca, err := pki.New(pki.Options{})
		if err != nil {
			b.Fatal(err)
		}
		u, _ := ca.User("u")
		_, _ = ca.Host()
		if _, err := ca.Proxy(u, pki.RFC3820); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteDir measures New + WriteDir into a temporary directory.
func BenchmarkWriteDir(b *testing.B) {
	for b.Loop() {
		ca, err := pki.New(pki.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ca.WriteDir(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestExtraNames(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	c := pki.Must(t)(ca.Issue(pki.CertSpec{CommonName: "mail user", ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "user@example.org"},
	}}))
	assert.Equal(t, "/C=ch/O=DIRAC/OU=diracrpc test/emailAddress=user@example.org/CN=mail user", credentials.SubjectDN(c.Leaf()))
}
