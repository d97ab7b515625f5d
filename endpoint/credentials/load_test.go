package credentials_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestLoadCredentials(t *testing.T) {
	f := newFixture(t)
	must := pki.Must(t)
	dir := t.TempDir()
	ca := f.ca

	rsaUser := must(ca.Issue(pki.CertSpec{CommonName: "rsa user", RSA: true}))
	legacy := must(ca.Proxy(f.user, pki.Legacy))
	limited := must(ca.Proxy(f.user, pki.Limited))
	pop := must(ca.Proxy(f.proxy, pki.RFC3820))
	expired := must(ca.ExpiredProxy(f.user))
	expiredUser := must(ca.ExpiredUser("old"))

	// Files.
	proxyPath := writeProxy(t, dir, "proxy.pem", f.proxy)
	legacyPath := writeProxy(t, dir, "legacy.pem", legacy)
	limitedPath := writeProxy(t, dir, "limited.pem", limited)
	popPath := writeProxy(t, dir, "pop.pem", pop)
	expiredPath := writeProxy(t, dir, "expired.pem", expired)

	proxyPEM, err := os.ReadFile(proxyPath)
	require.NoError(t, err)
	diracx := append(append([]byte{}, proxyPEM...), []byte("-----BEGIN DIRACX-----\neyJhIjoxfQ==\n-----END DIRACX-----\n")...)
	diracxPath := writeFile(t, dir, "diracx.pem", diracx, 0o600)
	loosePath := writeFile(t, dir, "loose.pem", proxyPEM, 0o644)
	groupPath := writeFile(t, dir, "group.pem", proxyPEM, 0o640)
	noKeyPath := writeFile(t, dir, "nokey.pem", pki.CertPEM(f.proxy), 0o600)
	noCertPath := writeFile(t, dir, "nocert.pem", pki.KeyPEM(f.proxy), 0o600)
	garbagePath := writeFile(t, dir, "garbage.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)

	userCert := writeFile(t, dir, "usercert.pem", pki.CertPEM(f.user), 0o644)
	userKeyEC := writeFile(t, dir, "userkey_ec.pem", pki.KeyPEM(f.user), 0o600)
	rsaCert := writeFile(t, dir, "rsacert.pem", pki.CertPEM(rsaUser), 0o644)
	rsaKeyPKCS1 := writeFile(t, dir, "rsakey1.pem", pki.KeyPEM(rsaUser), 0o400)
	p8, err := x509.MarshalPKCS8PrivateKey(rsaUser.PrivateKey)
	require.NoError(t, err)
	rsaKeyPKCS8 := writeFile(t, dir, "rsakey8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	//lint:ignore SA1019 legacy PEM encryption is a real-world format
	encBlock, err := x509.EncryptPEMBlock(zeroReader{}, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaUser.PrivateKey.(*rsaKey)), []byte("secret"), x509.PEMCipherAES256)
	require.NoError(t, err)
	rsaKeyEnc := writeFile(t, dir, "rsakeyenc.pem", pem.EncodeToMemory(encBlock), 0o600)
	otherKey := writeFile(t, dir, "otherkey.pem", pki.KeyPEM(f.host), 0o600)
	expiredCert := writeFile(t, dir, "expiredcert.pem", pki.CertPEM(expiredUser), 0o644)
	expiredKey := writeFile(t, dir, "expiredkey.pem", pki.KeyPEM(expiredUser), 0o600)
	looseKey := writeFile(t, dir, "loosekey.pem", pki.KeyPEM(f.user), 0o644)

	future := func() time.Time { return time.Now().Add(-3 * time.Hour) } // proxy notBefore is now-15min

	cases := []struct {
		name     string
		load     func() (*credentials.Credential, error)
		want     error
		chainLen int
	}{
		{"rfc proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(proxyPath, credentials.LoadOptions{})
		}, nil, 2},
		{"legacy proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(legacyPath, credentials.LoadOptions{})
		}, nil, 2},
		{"limited proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(limitedPath, credentials.LoadOptions{})
		}, nil, 2},
		{"proxy of proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(popPath, credentials.LoadOptions{})
		}, nil, 3},
		{"diracx block ignored", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(diracxPath, credentials.LoadOptions{})
		}, nil, 2},
		{"missing proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(filepath.Join(dir, "nope.pem"), credentials.LoadOptions{})
		}, credentials.ErrFileMissing, 0},
		{"expired proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(expiredPath, credentials.LoadOptions{})
		}, credentials.ErrExpired, 0},
		{"expired proxy, check skipped", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(expiredPath, credentials.LoadOptions{SkipValidityCheck: true})
		}, nil, 2},
		{"not yet valid proxy", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(proxyPath, credentials.LoadOptions{Now: future})
		}, credentials.ErrNotYetValid, 0},
		{"proxy readable by others", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(loosePath, credentials.LoadOptions{})
		}, credentials.ErrInsecurePermissions, 0},
		{"proxy readable by group", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(groupPath, credentials.LoadOptions{})
		}, credentials.ErrInsecurePermissions, 0},
		{"proxy readable by others, check skipped", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(loosePath, credentials.LoadOptions{InsecureSkipPermissionCheck: true})
		}, nil, 2},
		{"proxy without key", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(noKeyPath, credentials.LoadOptions{})
		}, credentials.ErrNoKeyInFile, 0},
		{"proxy without cert", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(noCertPath, credentials.LoadOptions{})
		}, credentials.ErrNoCertInFile, 0},
		{"garbage cert", func() (*credentials.Credential, error) {
			return credentials.LoadProxy(garbagePath, credentials.LoadOptions{})
		}, credentials.ErrMalformed, 0},
		{"user EC key", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(userCert, userKeyEC, credentials.LoadOptions{})
		}, nil, 1},
		{"user RSA PKCS#1 key 0400", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(rsaCert, rsaKeyPKCS1, credentials.LoadOptions{})
		}, nil, 1},
		{"user RSA PKCS#8 key", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(rsaCert, rsaKeyPKCS8, credentials.LoadOptions{})
		}, nil, 1},
		{"encrypted key without passphrase", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(rsaCert, rsaKeyEnc, credentials.LoadOptions{})
		}, credentials.ErrEncryptedKey, 0},
		{"encrypted key with passphrase", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(rsaCert, rsaKeyEnc, credentials.LoadOptions{Passphrase: []byte("secret")})
		}, nil, 1},
		{"encrypted key wrong passphrase", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(rsaCert, rsaKeyEnc, credentials.LoadOptions{Passphrase: []byte("wrong")})
		}, credentials.ErrBadPassphrase, 0},
		{"key of another cert", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(userCert, otherKey, credentials.LoadOptions{})
		}, credentials.ErrKeyMismatch, 0},
		{"expired user cert", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(expiredCert, expiredKey, credentials.LoadOptions{})
		}, credentials.ErrExpired, 0},
		{"user key readable by others", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(userCert, looseKey, credentials.LoadOptions{})
		}, credentials.ErrInsecurePermissions, 0},
		{"host key readable by group tolerated", func() (*credentials.Credential, error) {
			p := writeFile(t, dir, "hostkey640.pem", pki.KeyPEM(f.user), 0o640)
			return credentials.LoadCertKey(userCert, p, credentials.LoadOptions{Kind: credentials.KeyHost})
		}, nil, 1},
		{"host key readable by others refused", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(userCert, looseKey, credentials.LoadOptions{Kind: credentials.KeyHost})
		}, credentials.ErrInsecurePermissions, 0},
		{"missing key", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(userCert, filepath.Join(dir, "nokey"), credentials.LoadOptions{})
		}, credentials.ErrFileMissing, 0},
		{"missing cert", func() (*credentials.Credential, error) {
			return credentials.LoadCertKey(filepath.Join(dir, "nocert"), userKeyEC, credentials.LoadOptions{})
		}, credentials.ErrFileMissing, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.load()
			if tc.want != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.want)
				var fe *credentials.FileError
				require.True(t, errors.As(err, &fe), "want *FileError, got %T", err)
				assert.NotEmpty(t, fe.Path, "error must name the file: %v", err)
				assert.Contains(t, err.Error(), fe.Path)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.Len(t, c.Chain, tc.chainLen)
			tlsCert := c.TLSCertificate()
			assert.Len(t, tlsCert.Certificate, tc.chainLen)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	p := writeProxy(t, dir, "expired.pem", pki.Must(t)(f.ca.ExpiredProxy(f.user)))
	_, err := credentials.LoadProxy(p, credentials.LoadOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PEM file "+p+" has expired, not valid after")
	assert.Contains(t, err.Error(), "dirac-proxy-init")

	loose := writeFile(t, dir, "loose.pem", pki.KeyPEM(f.user), 0o644)
	_, err = credentials.LoadCertKey(writeFile(t, dir, "c.pem", pki.CertPEM(f.user), 0o644), loose, credentials.LoadOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chmod 600 "+loose)
}

func TestParseCredentialInMemory(t *testing.T) {
	f := newFixture(t)
	data, err := f.proxy.EncodeProxyPEM()
	require.NoError(t, err)
	c, err := credentials.ParseCredential(data, data, credentials.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, f.proxy.Chain[0].Raw, c.Chain[0].Raw)
	assert.Equal(t, f.user.Chain[0].Raw, c.Chain[1].Raw)
}

func TestCredentialNeverPrintsKey(t *testing.T) {
	f := newFixture(t)
	keyPEM := string(pki.KeyPEM(f.proxy))
	var b strings.Builder
	logger := slog.New(slog.NewTextHandler(&b, nil))
	logger.Info("loaded", "cred", f.proxy)
	fmt.Fprintf(&b, "%v %+v %s", f.proxy, f.proxy, f.proxy)
	out := b.String()
	assert.Contains(t, out, credentials.SubjectDN(f.proxy.Leaf()))
	assert.NotContains(t, out, "PRIVATE KEY")
	assert.NotContains(t, out, keyPEM[40:80])
}

// A file that is not a credential is reported as such, whatever its mode:
// its mode is only blamed once the content is a credential.
func TestContentBeforeMode(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	garbage := writeFile(t, dir, "garbage.pem", []byte("garbage"), 0o644)
	_, err := credentials.LoadProxy(garbage, credentials.LoadOptions{})
	require.ErrorIs(t, err, credentials.ErrNoCertInFile)
	assert.NotErrorIs(t, err, credentials.ErrInsecurePermissions)
	broken := writeFile(t, dir, "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	_, err = credentials.LoadProxy(broken, credentials.LoadOptions{})
	require.ErrorIs(t, err, credentials.ErrMalformed)
	var fe *credentials.FileError
	require.ErrorAs(t, err, &fe)
	assert.NotEmpty(t, fe.Fix, "a damaged block says what to do")
	good := writeProxy(t, dir, "proxy.pem", pki.Must(t)(f.ca.Proxy(f.user, pki.RFC3820)))
	require.NoError(t, os.Chmod(good, 0o644))
	_, err = credentials.LoadProxy(good, credentials.LoadOptions{})
	require.ErrorIs(t, err, credentials.ErrInsecurePermissions)
}
