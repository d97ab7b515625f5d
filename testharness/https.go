package testharness

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
)

// startHTTPS serves the service over HTTPS on l (TLS added by the server).
func (h *Harness) startHTTPS(l net.Listener, host string, cas *credentials.CAStore, logger *slog.Logger,
	opts *Options) (string, error) {
	wrap := opts.WrapHandler
	tlsCfg, err := server.NewHTTPSTLSConfig(h.Files.Host, cas)
	if err != nil {
		return "", err
	}
	srv := server.NewHTTPS(server.HTTPSConfig{TLS: tlsCfg, Logger: logger,
		MeterProvider: opts.MeterProvider, TracerProvider: opts.TracerProvider}, h.Service)
	if wrap != nil {
		// The handler is wrapped (fault injection inside the TLS server, so
		// client certificates still reach the service): serve it with an
		// http.Server of our own, configured as server.HTTPS configures its.
		hs := &http.Server{
			Handler:           wrap(srv),
			TLSConfig:         tlsCfg,
			ReadHeaderTimeout: 30 * time.Second,
			TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		}
		h.serve(func() error {
			err := hs.Serve(tls.NewListener(l, tlsCfg))
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}, hs.Shutdown, hs.Close)
	} else {
		h.serve(func() error {
			err := srv.Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}, srv.Shutdown, srv.Close)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "https://" + net.JoinHostPort(host, port) + "/" + h.Service.Name, nil
}
