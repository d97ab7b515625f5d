// Package promexport serves the OpenTelemetry metrics of diracrpc clients
// and servers to Prometheus: an SDK MeterProvider to give their Options
// and configurations (diracrpc.Options.MeterProvider,
// server.DISETConfig.MeterProvider, server.HTTPSConfig.MeterProvider), and
// an HTTP handler answering scrapes in Prometheus' text format.
//
// It is OpenTelemetry's Prometheus exporter on a registry of its own (no
// global registry, no global provider), so that several exporters can live
// in one process. Metric names follow the exporter's translation: dots
// become underscores and the unit and "_total" are appended, so
// rpc.server.duration is rpc_server_duration_milliseconds (a histogram)
// and dirac.rpc.client.bans is dirac_rpc_client_bans_total.
package promexport

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Path is where Serve answers scrapes.
const Path = "/metrics"

// Exporter is a MeterProvider whose metrics Handler serves.
type Exporter struct {
	mp      *sdkmetric.MeterProvider
	handler http.Handler
}

// New returns an exporter with an empty registry.
func New() (*Exporter, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	return &Exporter{
		mp:      sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}

// MeterProvider is the provider to give clients and servers.
func (e *Exporter) MeterProvider() *sdkmetric.MeterProvider { return e.mp }

// Handler answers a scrape with every metric recorded so far.
func (e *Exporter) Handler() http.Handler { return e.handler }

// Serve answers scrapes at Path on l until ctx ends, then stops the
// server and returns nil.
func (e *Exporter) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(Path, e.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown flushes and stops the meter provider.
func (e *Exporter) Shutdown(ctx context.Context) error { return e.mp.Shutdown(ctx) }
