package server_test

import (
	"context"
	"net"
	"os/signal"
	"syscall"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
)

// hostCredentials finds the host certificate and the CAs where DIRAC looks
// for them (the server examples share it so that each shows its own step).
func hostCredentials() (*credentials.Credential, *credentials.CAStore, error) {
	loc := credentials.Locator{}
	host, err := loc.HostCredential(credentials.LoadOptions{})
	if err != nil {
		return nil, nil, err
	}
	cas, err := loc.CAs()
	return host, cas, err
}

// helloService is the service the serving examples put on the network.
func helloService() *server.Service {
	svc := server.NewService("Framework/Hello")
	svc.HandleFunc("hello", func(_ context.Context, r *server.Request) (any, error) {
		return "hello " + r.Credentials.Username, nil
	})
	return svc
}

// Serving a Go service to DIRAC's HTTPS clients on the Tornado port, next
// to other services, with a graceful shutdown on SIGTERM.
func ExampleNewHTTPS() {
	host, cas, err := hostCredentials()
	if err != nil {
		return
	}
	tlsConf, err := server.NewHTTPSTLSConfig(host, cas)
	if err != nil {
		return
	}
	h := server.NewHTTPS(server.HTTPSConfig{TLS: tlsConf}, helloService())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = h.Shutdown(context.Background())
	}()
	_ = h.ListenAndServe(":8443") // server.DefaultHTTPSPort
}

// One Go service answering DIRAC clients over dips:// (port 9135) and
// https:// (port 8443) at once, until SIGTERM.
func ExampleServeBoth() {
	host, cas, err := hostCredentials()
	if err != nil {
		return
	}
	dtls, err := server.NewDISETTLSConfig(host, cas)
	if err != nil {
		return
	}
	htls, err := server.NewHTTPSTLSConfig(host, cas)
	if err != nil {
		return
	}
	dl, err := net.Listen("tcp", ":9135")
	if err != nil {
		return
	}
	hl, err := net.Listen("tcp", ":8443")
	if err != nil {
		dl.Close()
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// dips://<host>:9135/Framework/Hello and https://<host>:8443/Framework/Hello.
	_ = server.ServeBoth(ctx, helloService(), dl, hl, server.DISETConfig{TLS: dtls}, server.HTTPSConfig{TLS: htls})
}
