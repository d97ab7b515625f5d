package credentials_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func envFunc(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLocatorProxyOrder(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.pem", []byte("x"), 0o600)
	b := writeFile(t, dir, "b.pem", []byte("x"), 0o600)
	tmp := t.TempDir()
	uid := 4242
	def := writeFile(t, tmp, "x509up_u4242", []byte("x"), 0o600)
	link := filepath.Join(dir, "link.pem")
	require.NoError(t, os.Symlink(a, link))

	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"GRID_PROXY_FILE first", map[string]string{"GRID_PROXY_FILE": a, "X509_USER_PROXY": b}, a},
		{"X509_USER_PROXY", map[string]string{"X509_USER_PROXY": b}, b},
		{"missing GRID_PROXY_FILE falls through", map[string]string{"GRID_PROXY_FILE": filepath.Join(dir, "none"), "X509_USER_PROXY": b}, b},
		{"symlink resolved", map[string]string{"X509_USER_PROXY": link}, a},
		{"default /tmp/x509up_u<uid>", map[string]string{}, def},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := credentials.Locator{LookupEnv: envFunc(tc.env), UID: &uid, TmpDir: tmp}
			p, err := l.ProxyPath()
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
		})
	}
	other := 1
	_, err := credentials.Locator{LookupEnv: envFunc(nil), UID: &other, TmpDir: tmp}.ProxyPath()
	assert.ErrorIs(t, err, credentials.ErrNoProxy)
	assert.ErrorContains(t, err, "No proxy found")
}

func TestLocatorUserHostCA(t *testing.T) {
	home := t.TempDir()
	globus := filepath.Join(home, ".globus")
	require.NoError(t, os.MkdirAll(globus, 0o700))
	uc := writeFile(t, globus, "usercert.pem", []byte("x"), 0o644)
	uk := writeFile(t, globus, "userkey.pem", []byte("x"), 0o600)
	l := credentials.Locator{LookupEnv: envFunc(nil), Home: home}
	c, k, err := l.UserCertKeyPaths()
	require.NoError(t, err)
	assert.Equal(t, [2]string{uc, uk}, [2]string{c, k})

	other := t.TempDir()
	ec := writeFile(t, other, "c.pem", []byte("x"), 0o644)
	l.LookupEnv = envFunc(map[string]string{"X509_USER_CERT": ec, "X509_USER_KEY": filepath.Join(other, "missing")})
	c, k, err = l.UserCertKeyPaths()
	require.NoError(t, err)
	assert.Equal(t, [2]string{ec, uk}, [2]string{c, k}, "env wins when the file exists, else ~/.globus")

	// Where a new proxy goes.
	uid := 7
	assert.Equal(t, "/x/x509up_u7", credentials.Locator{LookupEnv: envFunc(nil), UID: &uid, TmpDir: "/x"}.DefaultProxyPath())
	assert.Equal(t, filepath.Join(other, "new.pem"), credentials.Locator{LookupEnv: envFunc(map[string]string{"X509_USER_PROXY": filepath.Join(other, "new.pem")})}.DefaultProxyPath())

	_, _, err = credentials.Locator{LookupEnv: envFunc(nil), Home: t.TempDir()}.UserCertKeyPaths()
	assert.ErrorIs(t, err, credentials.ErrNoCertificate)

	// Host: env first, then Grid-Security dir (server before host), then DIRAC root.
	gs := t.TempDir()
	root := t.TempDir()
	rootGS := filepath.Join(root, "etc", "grid-security")
	require.NoError(t, os.MkdirAll(filepath.Join(rootGS, "certificates"), 0o755))
	hc := writeFile(t, gs, "hostcert.pem", []byte("x"), 0o644)
	sk := writeFile(t, gs, "serverkey.pem", []byte("x"), 0o600)
	rc := writeFile(t, rootGS, "servercert.pem", []byte("x"), 0o644)
	l = credentials.Locator{LookupEnv: envFunc(map[string]string{"DIRAC_ROOT_PATH": root}), GridSecurityDir: gs}
	c, k, err = l.HostCertKeyPaths()
	require.NoError(t, err)
	assert.Equal(t, rc, c, "prefix order wins over directory order: servercert in DIRAC root before hostcert in Grid-Security")
	assert.Equal(t, sk, k)
	_ = hc
	envC := writeFile(t, other, "hc.pem", []byte("x"), 0o644)
	l.LookupEnv = envFunc(map[string]string{"DIRAC_X509_HOST_CERT": envC, "DIRAC_X509_HOST_KEY": filepath.Join(other, "missing")})
	c, k, err = l.HostCertKeyPaths()
	require.NoError(t, err)
	assert.Equal(t, envC, c)
	assert.Equal(t, sk, k, "a missing env key path falls back")
	_, _, err = credentials.Locator{LookupEnv: envFunc(nil)}.HostCertKeyPaths()
	assert.ErrorIs(t, err, credentials.ErrNoCertificate)

	// CA dir order.
	caEnv := t.TempDir()
	l = credentials.Locator{LookupEnv: envFunc(map[string]string{"X509_CERT_DIR": caEnv, "DIRAC_ROOT_PATH": root}), SystemCADir: filepath.Join(root, "nope")}
	d, err := l.CADir()
	require.NoError(t, err)
	assert.Equal(t, caEnv, d)
	l.LookupEnv = envFunc(map[string]string{"DIRAC_ROOT_PATH": root})
	d, err = l.CADir()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(rootGS, "certificates"), d)
	l.CALocation = caEnv
	d, _ = l.CADir()
	assert.Equal(t, caEnv, d)
	l.CALocation = "/does/not/exist"
	d, _ = l.CADir()
	assert.Equal(t, filepath.Join(rootGS, "certificates"), d, "a CALocation that is not a directory is skipped")
	_, err = credentials.Locator{LookupEnv: envFunc(nil), SystemCADir: filepath.Join(root, "nope")}.CADir()
	assert.ErrorIs(t, err, credentials.ErrNoCAs)
}

func TestLocatorLoadsPKIFiles(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	l := credentials.Locator{LookupEnv: files.LookupEnv}
	p, err := l.Proxy(credentials.LoadOptions{})
	require.NoError(t, err)
	g, _ := credentials.DIRACGroup(p.Leaf())
	assert.Equal(t, "dirac_user", g)
	_, err = l.UserCredential(credentials.LoadOptions{})
	require.NoError(t, err)
	h, err := l.HostCredential(credentials.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost"}, h.Leaf().DNSNames)
	store, err := l.CAs()
	require.NoError(t, err)
	_, err = (&credentials.Verifier{CAs: store}).Verify(p.Chain)
	require.NoError(t, err)
	err = credentials.VerifyServerChain(h.Chain, "127.0.0.1", store, ca.Cert.NotBefore.Add(2*3600e9))
	require.NoError(t, err)
	var ve *credentials.VerifyError
	other, _ := ca.Untrusted()
	err = credentials.VerifyServerChain(pki.Must(t)(other.Host()).Chain, "localhost", store, ca.Cert.NotBefore.Add(2*3600e9))
	require.True(t, errors.As(err, &ve))
	assert.Contains(t, err.Error(), files.CADir)
}

func TestLoadCADir(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	other, err := ca.Untrusted()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, pki.WriteCADir(dir, ca.Cert, other.Cert))
	writeFile(t, dir, "x.signing_policy", []byte("access_id_CA X509 '/C=ch'"), 0o644)
	writeFile(t, dir, "x.namespaces", []byte("TO Issuer"), 0o644)
	writeFile(t, dir, "x.r0", []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"), 0o644)
	writeFile(t, dir, "broken.pem", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	require.NoError(t, os.Symlink(filepath.Join(dir, "x.namespaces"), filepath.Join(dir, "link")))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	s, err := credentials.LoadCADir(dir)
	require.NoError(t, err)
	assert.Len(t, s.Certs, 2)

	empty := t.TempDir()
	writeFile(t, empty, "README", []byte("nothing"), 0o644)
	_, err = credentials.LoadCADir(empty)
	assert.ErrorIs(t, err, credentials.ErrNoCAs)
	_, err = credentials.LoadCADir(filepath.Join(empty, "missing"))
	assert.ErrorIs(t, err, credentials.ErrNoCAs)
}
