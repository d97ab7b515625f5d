package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc/server"
)

// ServerConfig configures the listeners of a Server.
type ServerConfig struct {
	// DISET configures DISET in (dips://: TLS must be set, built with
	// server.NewDISETTLSConfig from the gateway's host certificate). Its
	// MaxConns and MaxConcurrentCalls are the gateway's connection and call
	// limits; its Handler is set to the gateway.
	DISET server.DISETConfig
	// HTTPS configures HTTPS in; its MaxConcurrentCalls limits the calls.
	HTTPS server.HTTPSConfig
	// HTTPSServices are the "System/Component" names served over HTTPS in.
	HTTPSServices []string
	// Admin adds handlers to the admin listener (the shadow report, metrics
	// later), next to /healthz and /readyz.
	Admin map[string]http.Handler
	// ShutdownGrace bounds Shutdown when its context has no deadline;
	// default server.DefaultShutdownGrace.
	ShutdownGrace time.Duration
}

// Server runs a Gateway: DISET in, HTTPS in and an admin HTTP listener
// (/healthz: the process is alive; /readyz: it accepts calls, 503 once
// shutting down).
type Server struct {
	G     *Gateway
	DISET *server.DISET
	HTTPS *server.HTTPS

	cfg   ServerConfig
	admin *http.Server
	ready atomic.Bool
	serve sync.WaitGroup
}

// NewServer returns the server of g.
func NewServer(g *Gateway, cfg ServerConfig) *Server {
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = server.DefaultShutdownGrace
	}
	svc := server.NewService(Name)
	svc.NoBuiltins = true
	svc.Logger = g.log
	dcfg := cfg.DISET
	dcfg.Handler = g
	s := &Server{G: g, cfg: cfg, DISET: server.NewDISET(svc, dcfg)}
	var services []*server.Service
	for _, name := range cfg.HTTPSServices {
		services = append(services, g.HTTPSService(name))
	}
	s.HTTPS = server.NewHTTPS(cfg.HTTPS, services...)
	s.admin = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.ready.Store(true)
	return s
}

// AdminHandler serves /healthz, /readyz and the handlers of
// ServerConfig.Admin.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	for p, h := range s.cfg.Admin {
		mux.Handle(p, h)
	}
	return mux
}

// Serve serves DISET in on dl, HTTPS in on hl and the admin endpoints on
// al (each may be nil) until Shutdown; it returns the first error other than
// the servers' closing.
func (s *Server) Serve(dl, hl, al net.Listener) error {
	errc := make(chan error, 3)
	run := func(f func() error) {
		s.serve.Add(1)
		go func() {
			defer s.serve.Done()
			err := f()
			if errors.Is(err, server.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	n := 0
	if dl != nil {
		run(func() error { return s.DISET.Serve(dl) })
		n++
	}
	if hl != nil {
		run(func() error { return s.HTTPS.Serve(hl) })
		n++
	}
	if al != nil {
		run(func() error { return s.admin.Serve(al) })
		n++
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
			go func() { _ = s.Close() }()
		}
	}
	return first
}

// Shutdown turns /readyz to 503, stops accepting, lets the calls in flight
// finish (bounded by ctx, else ShutdownGrace), then stops the admin
// listener and releases the delegated proxies.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownGrace)
		defer cancel()
	}
	var wg sync.WaitGroup
	var derr, herr error
	wg.Add(2)
	go func() { defer wg.Done(); derr = s.DISET.Shutdown(ctx) }()
	go func() { defer wg.Done(); herr = s.HTTPS.Shutdown(ctx) }()
	wg.Wait()
	aerr := s.admin.Shutdown(ctx)
	s.serve.Wait()
	_ = s.G.Close()
	return errors.Join(derr, herr, aerr)
}

// Close stops everything at once.
func (s *Server) Close() error {
	s.ready.Store(false)
	return errors.Join(s.DISET.Close(), s.HTTPS.Close(), s.admin.Close())
}
