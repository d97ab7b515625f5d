package main

import (
	"context"
	"net"

	"go.opentelemetry.io/otel/metric"

	"github.com/diracgo/diracrpc/promexport"
)

// serveMetrics serves the Prometheus endpoint of --metrics on addr until
// ctx ends. It returns the meter provider to give the servers and the
// endpoint's URL; stop waits for the endpoint to close.
func serveMetrics(ctx context.Context, addr string) (mp metric.MeterProvider, url string, stop func(), err error) {
	exp, err := promexport.New()
	if err != nil {
		return nil, "", nil, &exitError{code: exitFail, msg: "metrics: " + err.Error()}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, &exitError{code: exitFail, msg: "metrics: " + err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = exp.Serve(ctx, l)
	}()
	stop = func() {
		cancel()
		<-done
		_ = exp.Shutdown(context.Background())
	}
	return exp.MeterProvider(), "http://" + l.Addr().String() + promexport.Path, stop, nil
}
