package server_test

import (
	"context"
	"net"
	"os/signal"
	"syscall"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
)

// One Go service answering DIRAC clients over dips:// (port 9135) and
// https:// (port 8443) at once, until SIGTERM.
func ExampleServeBoth() {
	loc := credentials.Locator{}
	host, err := loc.HostCredential(credentials.LoadOptions{})
	if err != nil {
		return
	}
	cas, err := loc.CAs()
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
	svc := server.NewService("Framework/Hello")
	svc.HandleFunc("hello", func(_ context.Context, r *server.Request) (any, error) {
		return "hello " + r.Credentials.Username, nil
	})
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
	_ = server.ServeBoth(ctx, svc, dl, hl, server.DISETConfig{TLS: dtls}, server.HTTPSConfig{TLS: htls})
}
