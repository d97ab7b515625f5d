package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// ctxT is a test's deadline for in-process runs.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A harness that cannot start says which port and why, with exit 1; bad
// values of its flags are usage errors.
func TestHarnessCannotStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	r := probe(t, nil, "", "harness", "--dips-port", port)
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "127.0.0.1:"+port)
	assert.Contains(t, r.stderr, "address already in use")
	assert.NotContains(t, r.stderr, "panic")
	r = probe(t, nil, "", "harness", "--service", "NotAService")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "NotAService")
	r = probe(t, nil, "", "harness", "--dips-port", "-1", "--dip-port", "-1", "--https-port", "-1")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "nothing to serve")
	assert.NotContains(t, r.stdout, "is up")
}

// writeBadBlock writes dir/name, mode 0600: a PEM certificate block whose
// content is not a certificate.
func writeBadBlock(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600))
	return p
}

// probe tls fails (exit 3) when the server refuses the credential calls
// would present, whatever the reason, over both protocols.
func TestTLSVerdictCoversTheClientSide(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	dir := t.TempDir()
	must := pki.Must(t)
	other, err := h.CA.Untrusted()
	require.NoError(t, err)
	foreignUser := must(other.User("mallory"))
	write := func(name string, c *credentials.Credential) string { return writeProxy(t, dir, name, c) }
	garbage := writeBadBlock(t, dir, "garbage.pem")
	for name, proxy := range map[string]string{
		"proxy from another CA": write("foreign.pem", must(other.Proxy(foreignUser, pki.RFC3820))),
		"expired proxy":         write("expired.pem", must(h.CA.ExpiredProxy(h.Files.User))),
		"garbage proxy":         garbage,
		"no proxy":              filepath.Join(dir, "none.pem"),
	} {
		for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
			env := map[string]string{"X509_CERT_DIR": h.Files.CADir, "X509_USER_PROXY": proxy}
			r := runInProcess(t, ctxT(t), env, "tls", u)
			assert.Equal(t, exitUnreachable, r.code, "%s %s: %s", name, u, r.stdout)
			assert.Contains(t, r.stdout, "verdict: FAIL", "%s %s", name, u)
			assert.NotContains(t, r.stdout, "verdict: OK", "%s %s", name, u)
			assert.Contains(t, r.stdout, "fix:", "%s %s", name, u)
		}
	}
	env := map[string]string{"X509_CERT_DIR": h.Files.CADir, "X509_USER_PROXY": h.Files.Proxy}
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		r := runInProcess(t, ctxT(t), env, "tls", u)
		assert.Equal(t, exitOK, r.code, r.stdout)
		assert.Contains(t, r.stdout, "accepted by the server")
	}
}

// The identity hint follows only the framework's refusal of the identity,
// not a handler's own Errno 1111.
func TestRefusalHintOnlyAfterARefusal(t *testing.T) {
	svc := testharness.NewTestService("")
	svc.Handle("adminOnly", server.Method{Auth: []string{"ServiceAdministrator"},
		Func: func(context.Context, *server.Request) (any, error) { return "ok", nil }})
	h := testharness.NewT(t, testharness.Options{Service: svc})
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		r := runInProcess(t, ctxT(t), h.Env, "call", u, "failErrno", "1111", `"custom"`)
		assert.Equal(t, exitFail, r.code, r.stderr)
		assert.Contains(t, r.stderr, "Errno 1111")
		assert.NotContains(t, r.stderr, "hint:", u)
	}
	// DISET refuses with DIRAC's S_ERROR (HTTPS with a 403: exit 3 and a fix).
	r := runInProcess(t, ctxT(t), h.Env, "call", h.DIPSURL, "adminOnly")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "Unauthorized query")
	assert.Contains(t, r.stderr, "hint: the service refused this identity")
}

// Every exit-3 message ends with a fix: line; file content is judged
// before its mode.
func TestExit3MessagesHaveAFix(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	dir := t.TempDir()
	block := writeBadBlock(t, dir, "block.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("garbage"), 0o644))
	plain := strings.Replace(h.DIPURL, "dip://", "dips://", 1)
	base := map[string]string{"X509_CERT_DIR": h.Files.CADir}
	for name, args := range map[string][]string{
		"malformed certificate block": {"call", "--proxy", block, h.DIPSURL, "ping"},
		"garbage, mode 0644":          {"call", "--proxy", garbage, h.HTTPSURL, "ping"},
		"TLS to a plain dip port":     {"call", "--proxy", h.Files.Proxy, plain, "ping"},
	} {
		r := runInProcess(t, ctxT(t), base, args...)
		assert.Equal(t, exitUnreachable, r.code, "%s: %s", name, r.stderr)
		assert.Contains(t, r.stderr, "\n  fix: ", name)
		if name == "garbage, mode 0644" {
			assert.NotContains(t, r.stderr, "chmod", "the content is what is wrong")
		}
		if name == "TLS to a plain dip port" {
			assert.Contains(t, r.stderr, "dip://")
		}
	}
}

func TestSmallerItems(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	r := runInProcess(t, ctxT(t), h.Env, "compare", "--allow", "bogus", h.DIPSURL, h.HTTPSURL, "ping")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "tuple-became-list")
	assert.Contains(t, r.stderr, "value-mismatch")
	r = runInProcess(t, ctxT(t), h.Env, "bench", "-c", "100000", "-n", "10", h.DIPSURL)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "concurrency 10")
	assert.NotContains(t, r.stdout, "100000")
	// echo's newline is not worth a warning.
	r = probe(t, nil, "ds1:tti3ei4eee\n", "codec", "decode", "--format", "dencode", "--repr")
	assert.Equal(t, exitOK, r.code)
	assert.Equal(t, "{'t': (3, 4)}\n", r.stdout)
	assert.Empty(t, r.stderr)
}
