package selector_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/csserver"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

// site is a small DIRAC installation on 127.0.0.1: the test service of
// testharness over dips:// and https://, and a Configuration Service over
// both, whose configuration lists the service.
type site struct {
	t                 *testing.T
	ca                *pki.CA
	proxy             *credentials.Credential
	svcDIPS, svcHTTPS string // URLs of Framework/TestHarness
	csDIPS, csHTTPS   string // URLs of Configuration/Server
	cs                *csserver.CS
	base              selector.Options // the client options every selector of the site uses
	httpsServer       *server.HTTPS
	testService       *server.Service
}

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSite(t *testing.T) *site {
	t.Helper()
	ca := pki.NewT(t, pki.Options{})
	ids := ca.IdentitiesT(t, "alice")
	host := ids.Host
	s := &site{t: t, ca: ca, proxy: ids.Proxy}

	s.testService = testharness.NewTestService(testharness.DefaultService)
	s.testService.Logger = quiet
	s.cs = csserver.New(cfg.New())
	csSvc := s.cs.Service()
	csSvc.Logger = quiet

	dtls, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: ca.Store(), RequireClientCert: true})
	require.NoError(t, err)
	s.svcDIPS = s.serveDISET(s.testService, dtls)
	s.csDIPS = s.serveDISET(csSvc, dtls)

	htls, err := server.NewHTTPSTLSConfig(host, ca.Store())
	require.NoError(t, err)
	s.httpsServer = server.NewHTTPS(server.HTTPSConfig{TLS: htls, Logger: quiet}, s.testService, csSvc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.httpsServer.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.httpsServer.Shutdown(ctx)
		<-done
	})
	port := portOf(l.Addr())
	s.svcHTTPS = "https://localhost:" + port + "/" + testharness.DefaultService
	s.csHTTPS = "https://localhost:" + port + "/" + endpoint.ConfigService

	s.base = selector.Options{Client: diracrpc.Options{Credential: s.proxy, CAs: ca.Store(), Attempts: 1,
		ConnectTimeout: 5 * time.Second, Logger: quiet}, Logger: quiet}

	// The central configuration, as the CS holds it.
	remote := cfg.MustParse(`
DIRAC
{
  Setup = Production
  Setups
  {
    Production
    {
      Framework = Production
    }
  }
}
Systems
{
  Framework
  {
    Production
    {
      URLs
      {
      }
    }
  }
}
`)
	require.NoError(t, remote.Set("/Systems/Framework/Production/URLs/TestHarness", s.svcDIPS+", "+s.svcHTTPS))
	require.NoError(t, remote.Set("/DIRAC/Selector/Services/Framework/TestHarness", "dips"))
	s.cs.Update(remote)
	return s
}

func (s *site) serveDISET(svc *server.Service, tc *tls.Config) string {
	s.t.Helper()
	srv := server.NewDISET(svc, server.DISETConfig{TLS: tc, Logger: quiet})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(s.t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return "dips://localhost:" + portOf(l.Addr()) + "/" + svc.Name
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// writeUserCfg writes the dirac.cfg a user holds: the setup and the
// configuration servers, nothing else.
func (s *site) writeUserCfg(servers string) string {
	p := filepath.Join(s.t.TempDir(), "dirac.cfg")
	text := "DIRAC\n{\n  Setup = Production\n  Configuration\n  {\n    Servers = " + servers + "\n  }\n}\n"
	require.NoError(s.t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func (s *site) selector(cfgFile string, opts selector.Options) (*selector.RPCClientSelector, *endpoint.Bootstrap) {
	s.t.Helper()
	local, read, err := cfg.Load(cfg.LoadOptions{NoHome: true, Files: []string{cfgFile}, Getenv: func(string) string { return "" }})
	require.NoError(s.t, err)
	require.Equal(s.t, []string{cfgFile}, read)
	opts.Client, opts.Logger = s.base.Client, quiet
	sel, b, err := selector.NewFromConfig(local, opts, endpoint.BootstrapConfig{Logger: quiet})
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = sel.Close() })
	return sel, b
}

// TestUserClient resolves and calls real services the way a DIRAC user's
// client does: a dirac.cfg naming the configuration servers, the full
// configuration fetched from them (over dips:// and over https://), the
// service name resolved in it, the call made over the protocol the
// configuration (then an override) chooses.
func TestUserClient(t *testing.T) {
	s := newSite(t)
	for _, tc := range []struct{ name, servers string }{
		{"bootstrap over dips", s.csDIPS},
		{"bootstrap over https", s.csHTTPS},
		{"bootstrap with a dead server first", "dips://127.0.0.1:1/Configuration/Server, " + s.csHTTPS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			sel, b := s.selector(s.writeUserCfg(tc.servers), selector.Options{
				Resolver: &endpoint.Resolver{Shuffle: func([]string) {}}})

			// The configuration's mode for the service is dips.
			res, err := sel.Call(ctx, "Framework/TestHarness", "add", 2, 3)
			require.NoError(t, err)
			var sum int
			require.NoError(t, res.Decode(&sum))
			assert.Equal(t, 5, sum)
			assert.Equal(t, diracrpc.DIPS, res.Protocol)
			assert.Equal(t, s.svcDIPS, res.URL)
			assert.NotEmpty(t, b.Version())

			// Replaying the result's stub makes the call again.
			require.NotNil(t, res.Stub)
			again, err := sel.Replay(ctx, res.Stub)
			require.NoError(t, err)
			assert.Equal(t, res.Value, again.Value)

			// An S_ERROR arrives as a *diracrpc.Error, with the stub that
			// makes the call again later (what DIRAC's request queues keep).
			_, err = sel.Call(ctx, "Framework/TestHarness", "fail", "nope")
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "nope", de.Message)
			stub := diracrpc.StubOf(err)
			require.NotNil(t, stub)
			_, err = sel.Replay(ctx, stub)
			require.ErrorAs(t, err, &de)
			assert.Equal(t, "nope", de.Message)
		})
	}
}

// TestUserClientRawResult: a program whose first call asks for its result
// undecoded (WithRawResult) gets it, over either bootstrap protocol; the
// configuration fetched on the way with the same ctx is decoded all the
// same.
func TestUserClientRawResult(t *testing.T) {
	s := newSite(t)
	for _, servers := range []string{s.csDIPS, s.csHTTPS} {
		t.Run(servers, func(t *testing.T) {
			sel, b := s.selector(s.writeUserCfg(servers), selector.Options{
				Resolver: &endpoint.Resolver{Shuffle: func([]string) {}}})
			res, err := sel.Call(diracrpc.WithRawResult(ctxT(t)), "Framework/TestHarness", "add", 2, 3)
			require.NoError(t, err)
			assert.NotEmpty(t, b.Version())
			assert.True(t, res.Undecoded)
			var sum int
			require.NoError(t, res.Decode(&sum))
			assert.Equal(t, 5, sum)
			require.NoError(t, b.Refresh(diracrpc.WithRawResult(ctxT(t))))
		})
	}
}

// TestMigrationOverride moves the service to HTTPS by configuration: the
// operator changes the mode in the CS, the client refreshes, calls go over
// HTTPS; the program can also force a protocol.
func TestMigrationOverride(t *testing.T) {
	s := newSite(t)
	ctx := ctxT(t)
	sel, b := s.selector(s.writeUserCfg(s.csDIPS), selector.Options{})
	res, err := sel.Call(ctx, "Framework/TestHarness", "echo", "x")
	require.NoError(t, err)
	assert.Equal(t, diracrpc.DIPS, res.Protocol)

	c := s.cs.Config()
	require.NoError(t, c.Set("/DIRAC/Selector/Services/Framework/TestHarness", "prefer-https"))
	s.cs.Update(c)
	require.NoError(t, b.Refresh(ctx))
	res, err = sel.Call(ctx, "Framework/TestHarness", "echo", "x")
	require.NoError(t, err)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)
	assert.Equal(t, s.svcHTTPS, res.URL)

	forced, _ := s.selector(s.writeUserCfg(s.csHTTPS), selector.Options{
		Services: map[string]selector.Mode{"Framework/TestHarness": selector.HTTPS}})
	res, err = forced.Call(ctx, "Framework/TestHarness", "echo", "y")
	require.NoError(t, err)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)

	// URLs select their protocol whatever the modes.
	res, err = forced.Call(ctx, s.svcDIPS, "echo", "z")
	require.NoError(t, err)
	assert.Equal(t, diracrpc.DIPS, res.Protocol)
	assert.True(t, strings.HasPrefix(res.Stub.Service, "dips://"), res.Stub.Service)
}

// TestPreferHTTPSWithOpenBreaker: while the HTTPS server fails, its breaker
// opens and calls go over DISET.
func TestPreferHTTPSWithOpenBreaker(t *testing.T) {
	s := newSite(t)
	ctx := ctxT(t)
	c := s.cs.Config()
	// An HTTPS URL nobody answers on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadPort := portOf(l.Addr())
	require.NoError(t, l.Close())
	require.NoError(t, c.Set("/Systems/Framework/Production/URLs/TestHarness",
		s.svcDIPS+", https://localhost:"+deadPort+"/"+testharness.DefaultService))
	require.NoError(t, c.Set("/DIRAC/Selector/Services/Framework/TestHarness", "prefer-https"))
	s.cs.Update(c)

	opts := s.base
	opts.Client.Breaker = diracrpc.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Minute}
	local, _, err := cfg.Load(cfg.LoadOptions{NoHome: true, Files: []string{s.writeUserCfg(s.csDIPS)}, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	sel, _, err := selector.NewFromConfig(local, opts, endpoint.BootstrapConfig{Logger: quiet})
	require.NoError(t, err)

	// First call: HTTPS fails to connect (not a circuit error), reported.
	_, err = sel.Call(ctx, "Framework/TestHarness", "echo", "x")
	require.Error(t, err)
	assert.NotErrorIs(t, err, diracrpc.ErrCircuitOpen)
	// The breaker is now open: the call goes over DISET.
	res, err := sel.Call(ctx, "Framework/TestHarness", "echo", "x")
	require.NoError(t, err)
	assert.Equal(t, diracrpc.DIPS, res.Protocol)
}

func TestDialURL(t *testing.T) {
	s := newSite(t)
	ctx := ctxT(t)
	sel := selector.New(s.base)
	for _, u := range []string{s.csDIPS, s.csHTTPS} {
		c, err := sel.DialURL(ctx, u)
		require.NoError(t, err)
		res, err := c.Call(ctx, "getVersion")
		require.NoError(t, err, u)
		assert.NotEmpty(t, res.Value)
	}
	_, err := sel.DialURL(ctx, "Framework/Foo")
	assert.ErrorIs(t, err, endpoint.ErrBadURL)
}

// TestUserClientHarness does the same against testharness servers: the
// test service over dips://, dip:// and https://, the Configuration Service
// in a second harness sharing the CA, the user's dirac.cfg listing both CS
// URLs.
func TestUserClientHarness(t *testing.T) {
	ctx := ctxT(t)
	svc := testharness.NewT(t, testharness.Options{})
	central := cfg.MustParse("DIRAC\n{\n  Setup = Production\n  Setups\n  {\n    Production\n    {\n      Framework = Production\n    }\n  }\n}\n")
	require.NoError(t, central.Set("/Systems/Framework/Production/URLs/TestHarness", svc.DIPSURL+", "+svc.DIPURL+", "+svc.HTTPSURL))
	csSvc := csserver.New(central).Service()
	var newer atomic.Int64
	testharness.CountCalls(csSvc, "getCompressedDataIfNewer", &newer)
	csh := testharness.NewT(t, testharness.Options{Service: csSvc, CA: svc.CA})

	file := filepath.Join(t.TempDir(), "dirac.cfg")
	require.NoError(t, os.WriteFile(file, []byte("DIRAC\n{\n  Configuration\n  {\n    Servers = "+csh.DIPSURL+"\n    Servers += "+csh.HTTPSURL+"\n  }\n}\n"), 0o600))
	local, _, err := cfg.Load(cfg.LoadOptions{NoHome: true, Files: []string{file}, Getenv: func(string) string { return "" }})
	require.NoError(t, err)

	for mode, want := range map[selector.Mode][]diracrpc.Protocol{
		selector.DISET:       {diracrpc.DIPS, diracrpc.DIP},
		selector.HTTPS:       {diracrpc.HTTPS},
		selector.PreferHTTPS: {diracrpc.HTTPS},
	} {
		sel, b, err := selector.NewFromConfig(local, selector.Options{Mode: mode, Client: svc.Options(), Logger: quiet},
			endpoint.BootstrapConfig{Logger: quiet})
		require.NoError(t, err)
		res, err := sel.Call(ctx, "Framework/TestHarness", "add", 20, 22)
		require.NoError(t, err, mode)
		assert.Equal(t, int64(42), res.Value)
		assert.Contains(t, want, res.Protocol, mode)
		assert.NotEmpty(t, b.Version())
		require.NoError(t, sel.Close())
	}
	assert.EqualValues(t, 3, newer.Load())

	// Auto refuses the mix of protocols, with the URLs in the message.
	sel, _, err := selector.NewFromConfig(local, selector.Options{Client: svc.Options(), Logger: quiet},
		endpoint.BootstrapConfig{Logger: quiet})
	require.NoError(t, err)
	_, err = sel.Select(ctx, "Framework/TestHarness")
	assert.ErrorIs(t, err, selector.ErrMixedProtocols)

	// Every scheme of URL, given directly.
	direct := selector.New(selector.Options{Client: svc.Options()})
	defer direct.Close()
	for _, u := range svc.URLs() {
		res, err := direct.Call(ctx, u, "echo", "hi")
		require.NoError(t, err, u)
		assert.Equal(t, "hi", res.Value)
		assert.Equal(t, u, res.URL)
	}
}

// TestUseServerCertificateFromConfig: a local configuration setting
// /DIRAC/Security/UseServerCertificate makes the clients present the host
// certificate as a host, as DIRAC's clients take useCertificates from it;
// options naming a credential keep it.
func TestUseServerCertificateFromConfig(t *testing.T) {
	ctx := ctxT(t)
	svc := testharness.NewT(t, testharness.Options{})
	file := filepath.Join(t.TempDir(), "dirac.cfg")
	require.NoError(t, os.WriteFile(file, []byte("DIRAC\n{\n  Security\n  {\n    UseServerCertificate = yes\n  }\n}\n"), 0o600))
	local, _, err := cfg.Load(cfg.LoadOptions{NoHome: true, Files: []string{file}, Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	for _, tc := range []struct {
		opts  diracrpc.Options
		group string
	}{
		{svc.Options(), "hosts"},
		{func() diracrpc.Options { o := svc.Options(); o.ProxyLocation = svc.Env["X509_USER_PROXY"]; return o }(), "dirac_user"},
	} {
		sel, _, err := selector.NewFromConfig(local, selector.Options{Client: tc.opts, Logger: quiet}, endpoint.BootstrapConfig{Logger: quiet})
		require.NoError(t, err)
		for _, u := range []string{svc.DIPSURL, svc.HTTPSURL} {
			res, err := sel.Call(ctx, u, "whoami")
			require.NoError(t, err, u)
			d, ok := res.Value.(*value.Dict)
			require.True(t, ok, "%#v", res.Value)
			group, _ := d.Lookup("group")
			assert.Equal(t, tc.group, group, u)
		}
		require.NoError(t, sel.Close())
	}
}
