package httpsclient_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
)

var quiet = slog.New(slog.DiscardHandler)

const svcName = "Framework/OracleTornado"

// env is a throw-away PKI, a Registry that knows its user and host, and the
// credentials of each kind.
type env struct {
	ca                *pki.CA
	host, user, proxy *credentials.Credential
	reg               *server.Registry
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	ids := ca.IdentitiesT(t, "ciuser")
	e := &env{ca: ca, host: ids.Host, user: ids.User, proxy: ids.Proxy}
	// testuser is the user of the files ca.WriteDir writes.
	testuser := must(ca.User("testuser"))
	e.reg = &server.Registry{
		Users: map[string]server.User{
			"ciuser":   {DNs: []string{credentials.SubjectDN(e.user.Leaf())}},
			"testuser": {DNs: []string{credentials.SubjectDN(testuser.Leaf())}},
		},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"ciuser", "testuser"}, Properties: []string{"NormalUser"}}},
		Hosts:  map[string]server.Host{"localhost": {DN: credentials.SubjectDN(e.host.Leaf()), Properties: []string{"TrustedHost"}}},
	}
	return e
}

func (e *env) serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := server.NewHTTPSTLSConfig(e.host, e.ca.Store())
	require.NoError(t, err)
	return c
}

// startGo serves svcs (default: the oracle service) with the Go HTTPS server.
func (e *env) startGo(t testing.TB, cfg server.HTTPSConfig, svcs ...*server.Service) (*server.HTTPS, string) {
	t.Helper()
	if len(svcs) == 0 {
		svcs = []*server.Service{testharness.NewRecordedService(svcName, e.reg)}
	}
	for _, s := range svcs {
		s.Logger = quiet
	}
	if cfg.TLS == nil {
		cfg.TLS = e.serverTLS(t)
	}
	cfg.Logger = quiet
	h := server.NewHTTPS(cfg, svcs...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	t.Cleanup(func() { h.Close() })
	return h, "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/" + svcs[0].Name
}

// startRaw serves handler over TLS with the env's host certificate and
// returns the base URL https://127.0.0.1:port.
func (e *env) startRaw(t testing.TB, handler http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return e.serveRaw(t, l, handler)
}

func (e *env) serveRaw(t testing.TB, l net.Listener, handler http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: handler, TLSConfig: e.serverTLS(t), ReadHeaderTimeout: 5 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String()
}

// client returns a client of url with the proxy and fast retries.
func (e *env) client(t testing.TB, url string, cfg diracrpc.Options, h ...httpsclient.Options) *diracrpc.Client {
	t.Helper()
	return e.clientURLs(t, []string{url}, cfg, h...)
}

// clientURLs returns a client of urls (plus cfg.FailoverURLs).
func (e *env) clientURLs(t testing.TB, urls []string, cfg diracrpc.Options, h ...httpsclient.Options) *diracrpc.Client {
	t.Helper()
	var hopts httpsclient.Options
	if len(h) > 0 {
		hopts = h[0]
	}
	if cfg.Credential == nil && !hopts.UseAccessToken && cfg.ProxyLocation == "" {
		cfg.Credential = e.proxy
	}
	if cfg.CAs == nil {
		cfg.CAs = e.ca.Store()
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	cfg.Logger = quiet
	c, err := httpsclient.New(urls, cfg, hopts)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
