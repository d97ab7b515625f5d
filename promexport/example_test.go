package promexport_test

import (
	"context"
	"log"
	"net"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/promexport"
	"github.com/diracgo/diracrpc/server"
)

// A service and a client reporting to one Prometheus endpoint.
func Example() {
	ctx := context.Background()
	exp, err := promexport.New()
	if err != nil {
		log.Fatal(err)
	}
	defer exp.Shutdown(ctx)
	metrics, err := net.Listen("tcp", "127.0.0.1:9100")
	if err != nil {
		log.Fatal(err)
	}
	go exp.Serve(ctx, metrics) // http://127.0.0.1:9100/metrics

	svc := server.NewService("Framework/Hello")
	srv := server.NewDISET(svc, server.DISETConfig{MeterProvider: exp.MeterProvider()})
	go srv.ListenAndServe("127.0.0.1:9135")

	c, err := disetclient.New([]string{"dip://127.0.0.1:9135/Framework/Hello"},
		diracrpc.Options{MeterProvider: exp.MeterProvider()}, disetclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, _ = c.Call(ctx, "ping")
}
