package server_test

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
)

// Serving a Go service to DIRAC's HTTPS clients on the Tornado port, next
// to other services, with a graceful shutdown on SIGTERM.
func ExampleNewHTTPS() {
	loc := credentials.Locator{}
	host, err := loc.HostCredential(credentials.LoadOptions{})
	if err != nil {
		return
	}
	cas, err := loc.CAs()
	if err != nil {
		return
	}
	tlsConf, err := server.NewHTTPSTLSConfig(host, cas)
	if err != nil {
		return
	}
	svc := server.NewService("Framework/Hello")
	svc.HandleFunc("hello", func(_ context.Context, r *server.Request) (any, error) {
		return "hello " + r.Credentials.Username, nil
	})
	h := server.NewHTTPS(server.HTTPSConfig{TLS: tlsConf}, svc)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = h.Shutdown(context.Background())
	}()
	_ = h.ListenAndServe(":8443") // server.DefaultHTTPSPort
}
