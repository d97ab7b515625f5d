package reliability

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/faults"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

const svcName = "Test/Reliable"

// env is a throw-away PKI and a service whose methods count their runs.
type env struct {
	t     *testing.T
	ca    *pki.CA
	host  *credentials.Credential
	proxy *credentials.Credential
	// runs counts executions of "count" (the non-idempotent method under
	// test); blocked counts "block" calls that started.
	runs, blocked atomic.Int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca := pki.NewT(t, pki.Options{})
	ids := ca.IdentitiesT(t, "alice")
	return &env{t: t, ca: ca, host: ids.Host, proxy: ids.Proxy}
}

// service: "count" increments runs and returns the new count; "block" waits
// for its context (the client going away, the server closing); the
// built-ins ping and echo stay. Every method is open to all, so that the
// plain-text backends behind TLS-terminating proxies accept the calls.
func (e *env) service() *server.Service {
	svc := server.NewService(svcName)
	svc.DefaultAuth = []string{"all"}
	svc.Logger = quiet
	svc.HandleFunc("count", func(ctx context.Context, req *server.Request) (any, error) {
		return e.runs.Add(1), nil
	})
	svc.HandleFunc("block", func(ctx context.Context, req *server.Request) (any, error) {
		e.blocked.Add(1)
		<-ctx.Done()
		return "unblocked", nil
	})
	return svc
}

func (e *env) serverTLS(cred *credentials.Credential, requireClient bool) *tls.Config {
	e.t.Helper()
	cfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{
		Credential: cred, CAs: e.ca.Store(), RequireClientCert: requireClient})
	require.NoError(e.t, err)
	return cfg
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

// countRuns makes every method of svc, built-ins included, count its runs
// from now on; the result reads the count. It counts where the server's
// handler runs start (after the arguments were checked), so a test can prove
// that a call ran exactly once, or that no hostile input reached a handler.
func countRuns(svc *server.Service) (served func() int64) {
	var n atomic.Int64
	for _, method := range []string{"count", "block", "ping", "echo", "whoami"} {
		if _, ok := svc.Lookup(method); ok {
			testharness.CountCalls(svc, method, &n)
		}
	}
	return n.Load
}

// disetServer is a running DISET server and the count of the handler runs of
// the service it serves (see countRuns).
type disetServer struct {
	*server.DISET
	served func() int64
}

// startDISET serves svc on l (dips when secure) until the test ends.
func (e *env) startDISET(svc *server.Service, l net.Listener, secure bool, tune func(*server.DISETConfig)) *disetServer {
	e.t.Helper()
	served := countRuns(svc)
	cfg := server.DISETConfig{Logger: quiet}
	if secure {
		cfg.TLS = e.serverTLS(e.host, true)
	}
	if tune != nil {
		tune(&cfg)
	}
	srv := server.NewDISET(svc, cfg)
	e.serveUntilCleanup("DISET server", func() error { return srv.Serve(l) }, srv.Close, server.ErrServerClosed)
	return &disetServer{DISET: srv, served: served}
}

// disetBehind starts a plain dip:// backend and a TLS-terminating DISET
// proxy in front of it: clients speak dips:// to the proxy, which sees the
// frames and applies plan.
func (e *env) disetBehind(plan *faults.Plan, requestFrames int) (*faults.Proxy, *disetServer, string) {
	e.t.Helper()
	l := listen(e.t)
	srv := e.startDISET(e.service(), l, false, nil)
	p, err := faults.StartProxy(faults.ProxyConfig{
		Target: l.Addr().String(), Protocol: faults.DISET, Plan: plan,
		TLS: e.serverTLS(e.host, true), RequestFrames: requestFrames,
	})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { require.NoError(e.t, p.Close()) })
	return p, srv, dipsURL(p.Addr())
}

func dipsURL(addr string) string { return "dips://" + addr + "/" + svcName }

// clientOptions are the options of the tests' clients (the test proxy, the
// test CAs), tuned by tune when it is not nil.
func (e *env) clientOptions(tune func(*diracrpc.Options)) diracrpc.Options {
	o := diracrpc.Options{Credential: e.proxy, CAs: e.ca.Store(), Logger: quiet}
	if tune != nil {
		tune(&o)
	}
	return o
}

func (e *env) disetClient(urls []string, tune func(*diracrpc.Options)) *diracrpc.Client {
	e.t.Helper()
	c, err := disetclient.New(urls, e.clientOptions(tune), disetclient.Options{})
	require.NoError(e.t, err)
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// clientTLS is a dips client's TLS config presenting the user proxy.
func (e *env) clientTLS() *tls.Config {
	e.t.Helper()
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: e.proxy, CAs: e.ca.Store()})
	require.NoError(e.t, err)
	return ct.Config("127.0.0.1")
}

func newDiscardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// badServers are URLs that never serve: a closed port, a connection that
// hangs before the handshake, one reset at accept, and TLS servers with an
// expired and a wrong-host certificate (proxies that terminate TLS).
type badServers struct {
	scheme                          string
	refused                         string
	hang, reset, expired, wrongHost *faults.Proxy
}

func (e *env) badServers(scheme string) *badServers {
	e.t.Helper()
	l := listen(e.t)
	b := &badServers{scheme: scheme, refused: l.Addr().String()}
	require.NoError(e.t, l.Close())
	start := func(f faults.Kind, cfg faults.ProxyConfig) *faults.Proxy {
		cfg.Target = b.refused
		if f != faults.None {
			cfg.Plan = faults.NewPlan(1).Add(faults.Every(), faults.Fault{Kind: f})
		}
		p, err := faults.StartProxy(cfg)
		require.NoError(e.t, err)
		e.t.Cleanup(func() { _ = p.Close() })
		return p
	}
	must := pki.Must(e.t)
	b.hang = start(faults.Hang, faults.ProxyConfig{})
	b.reset = start(faults.Refuse, faults.ProxyConfig{})
	b.expired = start(faults.None, faults.ProxyConfig{TLS: e.serverTLS(must(e.ca.ExpiredHost("localhost", "127.0.0.1")), false)})
	b.wrongHost = start(faults.None, faults.ProxyConfig{TLS: e.serverTLS(must(e.ca.Host("wrong.example")), false)})
	return b
}

func (b *badServers) proxies() []*faults.Proxy {
	var out []*faults.Proxy
	for _, p := range []*faults.Proxy{b.hang, b.reset, b.expired, b.wrongHost} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (b *badServers) urls() []string {
	out := []string{b.scheme + "://" + b.refused + "/" + svcName}
	for _, p := range b.proxies() {
		out = append(out, b.scheme+"://"+p.Addr()+"/"+svcName)
	}
	return out
}

// check: no request ever got through a bad server, and the certificate
// ones only saw failed handshakes.
func (b *badServers) check(t *testing.T) {
	t.Helper()
	for _, p := range b.proxies() {
		s := p.Stats()
		assert.Zero(t, s.Requests+s.Forwarded+s.BackendErrors, "%+v", s)
	}
	for _, p := range []*faults.Proxy{b.expired, b.wrongHost} {
		s := p.Stats()
		assert.Equal(t, s.Conns, s.HandshakeErrors, "every connection to a bad certificate failed its handshake: %+v", s)
	}
}

// serveUntilCleanup runs serve in the background; when the test ends it
// calls stop and checks that serve returned closed within 5 s.
func (e *env) serveUntilCleanup(what string, serve, stop func() error, closed error) {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	e.t.Cleanup(func() {
		_ = stop()
		select {
		case err := <-done:
			if !errors.Is(err, closed) {
				e.t.Errorf("%s: %v", what, err)
			}
		case <-time.After(5 * time.Second):
			e.t.Errorf("%s did not stop", what)
		}
	})
}
