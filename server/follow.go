package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/internal/periodic"
)

// Follower keeps services configured from a DIRAC configuration that
// changes: a local file, or the Configuration Service through an
// endpoint.Bootstrap. It applies the configuration (Service.ApplyConfig:
// Registry, Authorization, Default) to every service at start and again
// each time the source gives a new snapshot, swapping the rules of running
// services at once, as DIRAC's services follow their CS.
type Follower struct {
	// Source gives the configuration; an endpoint.Bootstrap is refreshed by
	// Run. Required.
	Source endpoint.Source
	// Setup overrides /DIRAC/Setup when finding the services' sections.
	Setup string
	// Services are configured; required.
	Services []*Service
	// Interval is the period of Run. Default: the Source's RefreshInterval
	// when it has one (endpoint.Bootstrap: /DIRAC/Configuration/RefreshTime),
	// else endpoint.DefaultRefreshInterval.
	Interval time.Duration
	// OnApply, when set, is called after each application with the
	// configuration applied and the error (nil when every service took it).
	OnApply func(c *cfg.Config, err error)
	// Logger receives failed refreshes and applications; nil: slog.Default().
	Logger *slog.Logger

	mu   sync.Mutex
	last *cfg.Config
}

// Apply fetches the source's configuration and, if it is not the snapshot
// applied last, applies it to every service. It reports whether it applied.
// A service the configuration does not describe keeps its rules; the errors
// are joined.
func (f *Follower) Apply(ctx context.Context) (bool, error) {
	if f.Source == nil {
		return false, errors.New("server: Follower without a Source")
	}
	c, err := f.Source.Config(ctx)
	if err != nil {
		return false, fmt.Errorf("server: configuration: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c == f.last {
		return false, nil
	}
	var errs []error
	for _, s := range f.Services {
		if _, err := s.ApplyConfig(c, f.Setup); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		}
	}
	err = errors.Join(errs...)
	if err == nil {
		f.last = c
	}
	if f.OnApply != nil {
		f.OnApply(c, err)
	}
	return true, err
}

// Run applies the configuration now, then every Interval refreshes the
// source (when it has a Refresh method, as endpoint.Bootstrap) and applies
// what changed, until ctx ends; it then returns ctx's error. Failures are
// logged and the rules in force kept. A failure of the first application
// is returned at once.
func (f *Follower) Run(ctx context.Context) error {
	if _, err := f.Apply(ctx); err != nil {
		return err
	}
	return periodic.Run(ctx, f.interval, func(ctx context.Context) {
		if r, ok := f.Source.(interface{ Refresh(context.Context) error }); ok {
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				f.logger().WarnContext(ctx, "diracrpc server: configuration refresh failed; rules kept", "err", err)
			}
		}
		if _, err := f.Apply(ctx); err != nil && ctx.Err() == nil {
			f.logger().WarnContext(ctx, "diracrpc server: configuration not applied; rules kept", "err", err)
		}
	})
}

func (f *Follower) interval() time.Duration {
	if f.Interval > 0 {
		return f.Interval
	}
	if r, ok := f.Source.(interface{ RefreshInterval() time.Duration }); ok {
		return r.RefreshInterval()
	}
	return endpoint.DefaultRefreshInterval
}

func (f *Follower) logger() *slog.Logger {
	return cmp.Or(f.Logger, slog.Default())
}
