package server

import (
	"context"
	"errors"
	"net"
	"time"
)

// DefaultShutdownGrace is how long ServeBoth lets calls in flight finish
// once its context ends.
const DefaultShutdownGrace = 30 * time.Second

// ServeBoth serves svc over DISET on disetL and over HTTPS on httpsL at the
// same time, the same handlers answering both (the server side of DIRAC's
// migration from dips:// to https://). It returns when ctx ends, after
// shutting both servers down gracefully (calls in flight get
// DefaultShutdownGrace to finish), or as soon as one of them fails, after
// closing the other. A clean shutdown returns nil.
func ServeBoth(ctx context.Context, svc *Service, disetL, httpsL net.Listener, dcfg DISETConfig, hcfg HTTPSConfig) error {
	d := NewDISET(svc, dcfg)
	h := NewHTTPS(hcfg, svc)
	errs := make(chan error, 2)
	go func() { errs <- d.Serve(disetL) }()
	go func() { errs <- h.Serve(httpsL) }()
	var first error
	pending := 2
	select {
	case <-ctx.Done():
	case first = <-errs:
		pending--
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultShutdownGrace)
	defer cancel()
	_ = d.Shutdown(sctx)
	_ = h.Shutdown(sctx)
	for ; pending > 0; pending-- {
		if err := <-errs; first == nil {
			first = err
		}
	}
	if errors.Is(first, ErrServerClosed) {
		return nil
	}
	return first
}
