package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestCreds(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	must := pki.Must(t)
	dir := t.TempDir()
	write := func(name string, c *credentials.Credential) string { return writeProxy(t, dir, name, c) }
	env := map[string]string{"X509_CERT_DIR": files.CADir, "X509_USER_PROXY": files.Proxy}
	r := runInProcess(t, ctxT(t), env, "creds")
	require.Equal(t, exitOK, r.code, r.stderr)
	userDN := credentials.SubjectDN(files.User.Leaf())
	for _, s := range []string{"type        : RFC 3820 proxy", "DIRAC group : dirac_user", "identity    : " + userDN,
		"timeleft    : ", "bits)", "chain:", "[1] " + userDN} {
		assert.Contains(t, r.stdout, s)
	}
	r = runInProcess(t, ctxT(t), env, "creds", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep credsReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.Equal(t, "dirac_user", rep.Group)
	assert.Positive(t, rep.SecondsLeft)
	assert.Positive(t, rep.KeyBits)
	assert.Len(t, rep.Chain, 2)

	limited := write("limited.pem", must(ca.Proxy(files.User, pki.Limited)))
	r = runInProcess(t, ctxT(t), nil, "creds", "--proxy", limited)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "RFC 3820 limited proxy")

	// Checks for scripts: exit codes only.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--exists"}, exitOK},
		{[]string{"--exists", "--valid", "1:00"}, exitOK},
		{[]string{"--valid", "9999:00"}, exitFail},
		{[]string{"--valid", "1h"}, exitUsage},
	} {
		r = runInProcess(t, ctxT(t), env, append([]string{"creds"}, tc.args...)...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Empty(t, r.stdout, "%v", tc.args)
	}
	expired := write("expired.pem", must(ca.ExpiredProxy(files.User)))
	r = runInProcess(t, ctxT(t), nil, "creds", "--proxy", expired)
	assert.Equal(t, exitUnreachable, r.code)
	assert.Contains(t, r.stdout, "PROBLEM")
	assert.Contains(t, r.stderr, "fix:")
	r = runInProcess(t, ctxT(t), nil, "creds", "--proxy", expired, "--exists")
	assert.Equal(t, exitFail, r.code)
	r = runInProcess(t, ctxT(t), map[string]string{"X509_USER_PROXY": filepath.Join(dir, "none")}, "creds", "--exists")
	assert.Equal(t, exitFail, r.code)
	r = runInProcess(t, ctxT(t), map[string]string{"X509_USER_PROXY": filepath.Join(dir, "none")}, "creds")
	assert.Equal(t, exitUnreachable, r.code)
	assert.Contains(t, r.stderr, "fix:")
}
