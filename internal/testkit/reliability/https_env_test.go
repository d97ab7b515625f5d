package reliability

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/faults"
)

// httpsServer is a Go HTTPS server whose handler can be wrapped (fault
// middleware) and whose listener can be wrapped (connection faults).
type httpsServer struct {
	*server.HTTPS
	url    string
	mw     *faults.Middleware // nil without a plan
	served func() int64       // handler runs (see countRuns)
}

// newHTTPS is the HTTPS server of svc with the env's host certificate
// (tune adjusts its configuration), and that TLS configuration.
func (e *env) newHTTPS(svc *server.Service, tune func(*server.HTTPSConfig)) (*server.HTTPS, *tls.Config) {
	e.t.Helper()
	tlsCfg, err := server.NewHTTPSTLSConfig(e.host, e.ca.Store())
	require.NoError(e.t, err)
	cfg := server.HTTPSConfig{TLS: tlsCfg, Logger: quiet}
	if tune != nil {
		tune(&cfg)
	}
	return server.NewHTTPS(cfg, svc), tlsCfg
}

// startHTTPS serves svc over https on l. With plan, the handler is wrapped
// in faults.HTTPMiddleware (call-level faults, inside TLS, so the client
// certificate still reaches the service).
func (e *env) startHTTPS(svc *server.Service, l net.Listener, plan *faults.Plan, tune func(*server.HTTPSConfig)) *httpsServer {
	e.t.Helper()
	served := countRuns(svc)
	h, tlsCfg := e.newHTTPS(svc, tune)
	s := &httpsServer{HTTPS: h, url: "https://" + l.Addr().String() + "/" + svcName, served: served}
	var handler http.Handler = h
	if plan != nil {
		s.mw = faults.HTTPMiddleware(plan, h)
		handler = s.mw
	}
	// Our own http.Server so that the fault middleware sits in front of the
	// service handler; the settings mirror server.HTTPS's.
	hs := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          nil,
	}
	hs.ErrorLog = newDiscardLog()
	e.serveUntilCleanup("https server", func() error { return hs.Serve(tls.NewListener(l, tlsCfg)) }, hs.Close, http.ErrServerClosed)
	return s
}

// serveHTTPS runs the server's own Serve on l (no middleware), as
// production code would.
func (e *env) serveHTTPS(svc *server.Service, l net.Listener, tune func(*server.HTTPSConfig)) *httpsServer {
	e.t.Helper()
	served := countRuns(svc)
	h, _ := e.newHTTPS(svc, tune)
	e.serveUntilCleanup("https server", func() error { return h.Serve(l) }, h.Close, server.ErrServerClosed)
	return &httpsServer{HTTPS: h, url: "https://" + l.Addr().String() + "/" + svcName, served: served}
}

func (e *env) httpsClient(urls []string, tune func(*diracrpc.Options)) *diracrpc.Client {
	e.t.Helper()
	c, err := httpsclient.New(urls, e.clientOptions(tune), httpsclient.Options{})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}
