package disetclient_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

var quiet = slog.New(slog.DiscardHandler)

// world is a throw-away PKI, a registry that knows its user and host, and
// helpers to start Go DISET servers on 127.0.0.1.
type world struct {
	t      *testing.T
	ca     *pki.CA
	host   *credentials.Credential
	user   *credentials.Credential
	proxy  *credentials.Credential
	files  *pki.Files
	reg    *server.Registry
	counts *counters
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	w := &world{t: t, ca: ca, counts: &counters{}}
	w.user = must(ca.User("alice"))
	w.proxy = must(ca.ProxyWith(w.user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	w.files = ca.WriteDirT(t)
	w.host = w.files.Host
	userDN := credentials.SubjectDN(w.user.Leaf())
	w.reg = &server.Registry{
		Users: map[string]server.User{
			"alice": {DNs: []string{userDN}},
			"bob":   {DNs: []string{credentials.SubjectDN(w.files.User.Leaf())}},
		},
		Groups: map[string]server.Group{
			"dirac_user":  {Users: []string{"alice", "bob"}, Properties: []string{"NormalUser"}},
			"dirac_admin": {Users: []string{"alice"}, Properties: []string{"ServiceAdministrator"}},
		},
		Hosts: map[string]server.Host{
			"localhost": {DN: credentials.SubjectDN(w.host.Leaf()), Properties: []string{server.TrustedHost, "CSAdministrator"}},
		},
		DefaultGroups: []string{"dirac_user"},
	}
	return w
}

// counters count handler runs per method of the oracle service, to prove a
// call ran exactly once (or never).
type counters struct{ Add, Sleep atomic.Int64 }

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

type running struct {
	srv      *server.DISET
	url      string
	accepted *countingListener
	resumed  atomic.Int64
}

func (w *world) serve(svc *server.Service, secure bool, enc server.Encoding) *running {
	w.t.Helper()
	svc.Logger = quiet
	r := &running{}
	cfg := server.DISETConfig{Encoding: enc, Logger: quiet}
	if secure {
		// Legacy proxies are refused by default; the client must still send them.
		tc, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{
			Credential: w.host, CAs: w.ca.Store(), RequireClientCert: true,
			ChainPolicy: credentials.ChainPolicy{AllowLegacyProxies: true}})
		require.NoError(w.t, err)
		verify := tc.VerifyConnection
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.DidResume {
				r.resumed.Add(1)
			}
			return verify(cs)
		}
		cfg.TLS = tc
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(w.t, err)
	r.accepted = &countingListener{Listener: l}
	r.srv = server.NewDISET(svc, cfg)
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(r.accepted) }()
	w.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
		assert.ErrorIs(w.t, <-done, server.ErrServerClosed)
	})
	host := "127.0.0.1"
	if secure {
		host = "localhost"
	}
	r.url = map[bool]string{true: "dips", false: "dip"}[secure] + "://" + host + ":" + portOf(l.Addr()) + "/" + svc.Name
	return r
}

func (w *world) oracle() *server.Service {
	svc := testharness.NewRecordedService("Framework/Oracle", w.reg)
	testharness.CountCalls(svc, "add", &w.counts.Add)
	testharness.CountCalls(svc, "sleep", &w.counts.Sleep)
	return svc
}

func (w *world) client(urls []string, cfg diracrpc.Options, dopts ...disetclient.Options) *diracrpc.Client {
	w.t.Helper()
	if cfg.Credential == nil && !cfg.UseCertificates && cfg.ProxyLocation == "" {
		cfg.Credential = w.proxy
	}
	if cfg.CAs == nil {
		cfg.CAs = w.ca.Store()
	}
	cfg.Logger = quiet
	var d disetclient.Options
	if len(dopts) > 0 {
		d = dopts[0]
	}
	c, err := disetclient.New(urls, cfg, d)
	require.NoError(w.t, err)
	return c
}

// checkFrameworkErrors checks the S_ERRORs DIRAC's DISET framework itself
// makes, as the Go server and DIRAC's both send them, and their codes.
func checkFrameworkErrors(t *testing.T, ctx context.Context, c *diracrpc.Client) {
	t.Helper()
	var de *diracrpc.Error
	_, err := c.Call(ctx, "crash")
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Server error while serving crash: integer division or modulo by zero", de.Message)
	assert.Equal(t, diracrpc.CodeServerFailure, diracrpc.CodeOf(err))
	assert.True(t, diracrpc.Reached(err))

	_, err = c.Call(ctx, "add", "2", 3)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected <class 'int'>", de.Message)
	assert.Equal(t, diracrpc.CodeServiceError, diracrpc.CodeOf(err))

	_, err = c.Call(ctx, "doesNotExist")
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Unknown method doesNotExist", de.Message)
	// Classified as over HTTPS (a 501).
	assert.ErrorIs(t, err, diracrpc.ErrNotImplemented)
	assert.Equal(t, diracrpc.CodeNotImplemented, diracrpc.CodeOf(err))
	assert.False(t, diracrpc.Reached(err))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCallMatrix(t *testing.T) {
	w := newWorld(t)
	for _, secure := range []bool{true, false} {
		for _, senc := range []server.Encoding{server.JSON, server.DEncode} {
			for _, cenc := range []disetclient.Encoding{disetclient.JSON, disetclient.DEncode} {
				name := map[bool]string{true: "dips", false: "dip"}[secure] + "/server-" + senc.String() + "/client-" + cenc.String()
				t.Run(name, func(t *testing.T) {
					r := w.serve(w.oracle(), secure, senc)
					// Resumed sessions keep the test fast; full handshakes are
					// covered by the credential tests.
					c := w.client([]string{r.url}, diracrpc.Options{}, disetclient.Options{Encoding: cenc, ResumeSessions: true})
					ctx := ctxT(t)

					res, err := c.Call(ctx, "add", 2, 3)
					require.NoError(t, err)
					assert.Equal(t, int64(5), res.Value)
					assert.Equal(t, r.url, res.URL)
					assert.Equal(t, diracrpc.Protocol(map[bool]string{true: "dips", false: "dip"}[secure]), res.Protocol)
					if senc == server.JSON {
						assert.Equal(t, `{"OK": true, "Value": 5}`, string(res.Raw))
					} else {
						assert.Equal(t, `ds2:OKb1s5:Valuei5ee`, string(res.Raw))
					}
					require.NotNil(t, res.Stub)
					assert.Equal(t, "add", res.Stub.Method)
					assert.Equal(t, r.url, res.Stub.Service)

					res, err = c.Call(ctx, "echo", "héllo")
					require.NoError(t, err)
					assert.Equal(t, "héllo", res.Value)

					res, err = c.Call(ctx, "now")
					require.NoError(t, err)
					want := testharness.FixedTime
					if senc == server.JSON {
						want = want.Truncate(time.Second)
					}
					assert.Equal(t, want, res.Value)

					res, err = c.Call(ctx, "many", 1, "a", []int{1, 2}, map[string]any{"k": 1.5})
					require.NoError(t, err)
					assert.Len(t, res.Value, 4)

					_, err = c.Call(ctx, "fail", "boom")
					var de *diracrpc.Error
					require.ErrorAs(t, err, &de)
					assert.Equal(t, "boom", de.Message)
					assert.Empty(t, de.CallStack)
					if stub := diracrpc.StubOf(err); assert.NotNil(t, stub, "a failed call carries its stub") {
						assert.Equal(t, "fail", stub.Method)
						assert.Equal(t, []any{"boom"}, stub.Args)
					}

					_, err = c.Call(ctx, "failErrno", 1111, "custom")
					require.ErrorAs(t, err, &de)
					assert.Equal(t, "Unauthorized query ( 1111 : custom)", de.Message)
					assert.ErrorIs(t, err, diracrpc.ErrUnauthorized)

					checkFrameworkErrors(t, ctx, c)

					res, err = c.Call(ctx, "ping")
					require.NoError(t, err)
					var ping struct {
						Version string `dirac:"version"`
						Name    string `dirac:"name"`
					}
					require.NoError(t, res.Decode(&ping))
					assert.Equal(t, "Framework/Oracle", ping.Name)
					assert.Equal(t, "9.0.0", ping.Version)
				})
			}
		}
	}
}

// TestCredentialKinds calls whoami with every kind of credential the test PKI
// makes and checks what the server made of it.
func TestCredentialKinds(t *testing.T) {
	w := newWorld(t)
	r := w.serve(w.oracle(), true, server.JSON)
	must := pki.Must(t)
	userDN := credentials.SubjectDN(w.user.Leaf())
	hostDN := credentials.SubjectDN(w.host.Leaf())
	proxyOfProxy := must(w.ca.Proxy(w.proxy, pki.RFC3820))
	type want struct {
		dn, group, username string
		isProxy, limited    bool
		props               []any
	}
	cases := []struct {
		name string
		cfg  diracrpc.Options
		want want
	}{
		{"user certificate", diracrpc.Options{Credential: w.user},
			want{userDN, "dirac_user", "alice", false, false, []any{"NormalUser"}}},
		{"user certificate with group", diracrpc.Options{Credential: w.user, ExtraCredentials: "dirac_admin"},
			want{userDN, "dirac_admin", "alice", false, false, []any{"ServiceAdministrator"}}},
		{"rfc3820 proxy with group", diracrpc.Options{Credential: w.proxy},
			want{userDN, "dirac_user", "alice", true, false, []any{"NormalUser"}}},
		{"proxy of proxy", diracrpc.Options{Credential: proxyOfProxy},
			want{userDN, "dirac_user", "alice", true, false, []any{"NormalUser"}}},
		{"legacy proxy", diracrpc.Options{Credential: must(w.ca.Proxy(w.user, pki.Legacy))},
			want{userDN, "dirac_user", "alice", true, false, []any{"NormalUser"}}},
		{"limited proxy", diracrpc.Options{Credential: must(w.ca.Proxy(w.user, pki.Limited))},
			want{userDN, "dirac_user", "alice", true, true, []any{"NormalUser"}}},
		{"legacy limited proxy", diracrpc.Options{Credential: must(w.ca.Proxy(w.user, pki.LegacyLimited))},
			want{userDN, "dirac_user", "alice", true, true, []any{"NormalUser"}}},
		{"admin group proxy", diracrpc.Options{Credential: must(w.ca.ProxyWith(w.user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"}))},
			want{userDN, "dirac_admin", "alice", true, false, []any{"ServiceAdministrator"}}},
		{"host certificate", diracrpc.Options{UseCertificates: true, Credential: w.host},
			want{hostDN, "hosts", "localhost", false, false, []any{server.TrustedHost, "CSAdministrator"}}},
		{"host certificate from files", diracrpc.Options{UseCertificates: true, Locator: credentials.Locator{LookupEnv: w.files.LookupEnv}},
			want{hostDN, "hosts", "localhost", false, false, []any{server.TrustedHost, "CSAdministrator"}}},
		{"proxy file", diracrpc.Options{ProxyLocation: w.files.Proxy},
			want{credentials.SubjectDN(w.files.User.Leaf()), "dirac_user", "bob", true, false, []any{"NormalUser"}}},
		{"default proxy from the environment", diracrpc.Options{Locator: credentials.Locator{LookupEnv: w.files.LookupEnv}},
			want{credentials.SubjectDN(w.files.User.Leaf()), "dirac_user", "bob", true, false, []any{"NormalUser"}}},
		{"trusted host acting for a user", diracrpc.Options{UseCertificates: true, Credential: w.host, DelegatedDN: userDN, DelegatedGroup: "dirac_admin"},
			want{userDN, "dirac_admin", "alice", false, false, []any{"ServiceAdministrator"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			if cfg.Locator.LookupEnv == nil {
				cfg.CAs = w.ca.Store()
			}
			cfg.Logger = quiet
			cl, err := disetclient.New([]string{r.url}, cfg, disetclient.Options{})
			require.NoError(t, err)
			res, err := cl.Call(ctxT(t), "whoami")
			require.NoError(t, err)
			d, ok := res.Value.(*value.Dict)
			require.True(t, ok, "%T", res.Value)
			get := func(k string) any { v, _ := d.Lookup(k); return v }
			assert.Equal(t, c.want.dn, get("DN"))
			assert.Equal(t, c.want.group, get("group"))
			assert.Equal(t, c.want.username, get("username"))
			if c.want.dn == userDN && c.cfg.DelegatedDN != "" {
				assert.Equal(t, hostDN, get("subject"), "the subject stays the host's")
			} else {
				assert.Equal(t, c.want.isProxy, get("isProxy"))
				assert.Equal(t, c.want.limited, get("isLimitedProxy"))
			}
			assert.Equal(t, c.want.props, get("properties"))
			assert.False(t, d.Has("x509Chain"))
		})
	}
}
