package httpsclient_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

func TestCallAgainstGoServer(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{})
	c := e.client(t, url, diracrpc.Options{Setup: "Oracle"})
	ctx := ctxT(t)

	res, err := c.Call(ctx, "add", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.Value)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)
	assert.Equal(t, url, res.URL)
	assert.Equal(t, `{"OK": true, "Value": 5}`, string(res.Raw))
	require.NotNil(t, res.Stub)
	assert.Equal(t, []any{[]any{url, value.NewDict("setup", "Oracle")}, "add", []any{2, 3}}, res.Stub.Value())

	// A long answer comes gzip-compressed (the server compresses from 1 KiB
	// when the client accepts it); Raw holds the decoded JSON.
	long := strings.Repeat("gzip ", 1000)
	res, err = c.Call(ctx, "echoAny", long)
	require.NoError(t, err)
	assert.Equal(t, long, res.Value)
	assert.Equal(t, `{"OK": true, "Value": "`+long+`"}`, string(res.Raw))

	res, err = c.Call(ctx, "now")
	require.NoError(t, err)
	assert.Equal(t, testharness.FixedTime.Truncate(1e9), res.Value)

	_, err = c.Call(ctx, "failErrno", 1111, "custom")
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1111, de.Errno)
	assert.Equal(t, "Unauthorized query ( 1111 : custom)", de.Message)
	assert.False(t, de.Local)
	// A failed call carries its stub too, as DIRAC's failed results do.
	require.NotNil(t, diracrpc.StubOf(err))
	assert.Equal(t, []any{[]any{url, value.NewDict("setup", "Oracle")}, "failErrno", []any{1111, "custom"}},
		diracrpc.StubOf(err).Value())

	_, err = c.Call(ctx, "crash")
	require.ErrorIs(t, err, diracrpc.ErrServerFailure)
	assert.Equal(t, diracrpc.CodeServerFailure, diracrpc.CodeOf(err))
	assert.True(t, diracrpc.Reached(err))
	assert.Contains(t, err.Error(), "500: Internal Server Error")
	assert.Contains(t, err.Error(), "500 Server Error: Internal Server Error for url: "+url)

	_, err = c.Call(ctx, "doesNotExist")
	require.ErrorIs(t, err, diracrpc.ErrNotImplemented)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Function not implemented ( 38 : doesNotExist is not implemented)", de.Message)
	assert.True(t, de.Local)
}

// TestCredentialKinds: proxy, user certificate, host certificate, bearer
// token, none.
func TestCredentialKinds(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{TokenAuth: func(_ context.Context, tok string) (server.TokenIdentity, error) {
		if tok != "good-token" {
			return server.TokenIdentity{}, errors.New("bad token")
		}
		return server.TokenIdentity{DN: credentials.SubjectDN(e.user.Leaf()), Group: "dirac_user"}, nil
	}})
	ctx := ctxT(t)
	userDN := credentials.SubjectDN(e.user.Leaf())

	whoami := func(cfg diracrpc.Options, h ...httpsclient.Options) (*value.Dict, error) {
		res, err := e.client(t, url, cfg, h...).Call(ctx, "whoami")
		if err != nil {
			return nil, err
		}
		return res.Value.(*value.Dict), nil
	}
	d, err := whoami(diracrpc.Options{Credential: e.proxy})
	require.NoError(t, err)
	assert.Equal(t, true, get(d, "isProxy"))
	assert.Equal(t, userDN, get(d, "DN"))
	assert.Equal(t, "dirac_user", get(d, "group"))
	assert.Equal(t, "ciuser", get(d, "username"))

	d, err = whoami(diracrpc.Options{Credential: e.user})
	require.NoError(t, err)
	assert.Equal(t, false, get(d, "isProxy"))
	assert.Equal(t, userDN, get(d, "DN"))

	// Host certificate with extraCredentials "hosts", as useCertificates sends.
	d, err = whoami(diracrpc.Options{Credential: e.host, ExtraCredentials: "hosts"})
	require.NoError(t, err)
	assert.Equal(t, "hosts", get(d, "group"))
	assert.Equal(t, "localhost", get(d, "username"))

	// A trusted host acting for the user.
	d, err = whoami(diracrpc.Options{Credential: e.host, DelegatedDN: userDN, DelegatedGroup: "dirac_user"})
	require.NoError(t, err)
	assert.Equal(t, userDN, get(d, "DN"))
	assert.Equal(t, "ciuser", get(d, "username"))

	// Proxy from a file (proxyLocation).
	files := e.ca.WriteDirT(t)
	d, err = whoami(diracrpc.Options{ProxyLocation: files.Proxy})
	require.NoError(t, err)
	assert.Equal(t, true, get(d, "isProxy"))

	// Bearer token, found through BEARER_TOKEN_FILE.
	tokFile := filepath.Join(t.TempDir(), "tok")
	require.NoError(t, os.WriteFile(tokFile, []byte("good-token\n"), 0o600))
	loc := credentials.Locator{LookupEnv: func(k string) (string, bool) {
		if k == "BEARER_TOKEN_FILE" {
			return tokFile, true
		}
		return "", false
	}}
	d, err = whoami(diracrpc.Options{Locator: loc}, httpsclient.Options{UseAccessToken: true})
	require.NoError(t, err)
	assert.Equal(t, userDN, get(d, "DN"))
	assert.Equal(t, "dirac_user", get(d, "group"))

	_, err = whoami(diracrpc.Options{}, httpsclient.Options{UseAccessToken: true, BearerToken: "bad"})
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)

	// No credential at all: 401, DIRAC's message.
	_, err = whoami(diracrpc.Options{Locator: credentials.Locator{
		LookupEnv: func(string) (string, bool) { return "", false }, TmpDir: t.TempDir()}}, httpsclient.Options{UseAccessToken: true, BearerToken: ""})
	require.ErrorIs(t, err, httpsclient.ErrNoToken)

	// A certificate from another CA is refused during the handshake.
	other, err := e.ca.Untrusted()
	require.NoError(t, err)
	stranger, err := other.User("stranger")
	require.NoError(t, err)
	_, err = whoami(diracrpc.Options{Credential: stranger})
	var alert *net.OpError
	require.ErrorAs(t, err, &alert)
	assert.Equal(t, "remote error", alert.Op)

	// So is an expired proxy.
	expired, err := e.ca.ExpiredProxy(e.user)
	require.NoError(t, err)
	_, err = whoami(diracrpc.Options{Credential: expired})
	require.ErrorAs(t, err, &alert)
}

func TestUnauthorizedMapping(t *testing.T) {
	e := newEnv(t)
	svc := testharness.NewRecordedService(svcName, e.reg)
	svc.Handle("adminOnly", server.Method{Auth: []string{"ServiceAdministrator"},
		Func: func(context.Context, *server.Request) (any, error) { return true, nil }})
	_, url := e.startGo(t, server.HTTPSConfig{}, svc)
	_, err := e.client(t, url, diracrpc.Options{}).Call(ctxT(t), "adminOnly")
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
	assert.Equal(t, diracrpc.CodeUnauthorized, diracrpc.CodeOf(err))
	assert.False(t, diracrpc.Reached(err))
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 13, de.Errno)
	assert.Equal(t, "Permission denied ( 13 : No access to "+url+")", de.Message)
}

func get(d *value.Dict, k string) any { v, _ := d.Lookup(k); return v }

func TestFindBearerToken(t *testing.T) {
	dir := t.TempDir()
	uid := 4242
	envOf := func(m map[string]string) credentials.Locator {
		return credentials.Locator{UID: &uid, TmpDir: filepath.Join(dir, "tmp"), LookupEnv: func(k string) (string, bool) {
			v, ok := m[k]
			return v, ok
		}}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "xdg"), 0o700))

	_, err := httpsclient.FindBearerToken(envOf(nil))
	require.ErrorIs(t, err, httpsclient.ErrNoToken)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "bt_u4242"), []byte(" tmp-token\n"), 0o600))
	tok, err := httpsclient.FindBearerToken(envOf(nil))
	require.NoError(t, err)
	assert.Equal(t, "tmp-token", tok)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "xdg", "bt_u4242"), []byte("xdg-token"), 0o600))
	tok, err = httpsclient.FindBearerToken(envOf(map[string]string{"XDG_RUNTIME_DIR": filepath.Join(dir, "xdg")}))
	require.NoError(t, err)
	assert.Equal(t, "xdg-token", tok)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), []byte("file-token"), 0o600))
	tok, err = httpsclient.FindBearerToken(envOf(map[string]string{"XDG_RUNTIME_DIR": filepath.Join(dir, "xdg"),
		"BEARER_TOKEN_FILE": filepath.Join(dir, "file")}))
	require.NoError(t, err)
	assert.Equal(t, "file-token", tok)

	tok, err = httpsclient.FindBearerToken(envOf(map[string]string{"BEARER_TOKEN": "env-token",
		"BEARER_TOKEN_FILE": filepath.Join(dir, "file")}))
	require.NoError(t, err)
	assert.Equal(t, "env-token", tok)

	_, err = httpsclient.FindBearerToken(envOf(map[string]string{"BEARER_TOKEN_FILE": filepath.Join(dir, "missing")}))
	require.ErrorIs(t, err, httpsclient.ErrNoToken)
}

// Concurrent calls share the client's requests' parts made once (URL,
// header) and its connections; each gets its own answer (run with -race).
func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{})
	c := e.client(t, url, diracrpc.Options{})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				res, err := c.Call(ctx, "add", g, i)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, int64(g+i), res.Value)
				assert.Equal(t, []any{g, i}, res.Stub.Args)
			}
		})
	}
	wg.Wait()
}
