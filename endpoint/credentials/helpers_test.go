package credentials_test

import (
	"crypto/rsa"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func writeFile(t *testing.T, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func writeProxy(t *testing.T, dir, name string, c *credentials.Credential) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, credentials.WriteProxyFile(p, c))
	return p
}

func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	return p
}

func runOpenSSL(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %v: %s", args, out)
	return string(out)
}

type fixture struct {
	ca, other         *pki.CA
	user, host, proxy *credentials.Credential
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca := pki.NewT(t, pki.Options{})
	other, err := ca.Untrusted()
	require.NoError(t, err)
	must := pki.Must(t)
	user := must(ca.User("alice"))
	return &fixture{
		ca: ca, other: other,
		user:  user,
		host:  must(ca.Host("localhost", "127.0.0.1")),
		proxy: must(ca.Proxy(user, pki.RFC3820)),
	}
}

type rsaKey = rsa.PrivateKey

// zeroReader feeds EncryptPEMBlock's IV: determinism is fine in a test.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

type x509ExtKeyUsage = x509.ExtKeyUsage

const x509ClientAuth = x509.ExtKeyUsageClientAuth

type x509Certificate = x509.Certificate

type credentialsCert struct{ c *x509.Certificate }
