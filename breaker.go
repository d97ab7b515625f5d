package diracrpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/sony/gobreaker/v2"
)

// breakers holds one gobreaker circuit breaker per server (host:port) of a
// route, for both protocols. DIRAC has none; here a server that keeps
// failing is left alone for a while instead of costing every call its
// timeouts.
type breakers struct {
	settings BreakerSettings
	log      *slog.Logger
	changed  func(server, to string) // telemetry; nil when off

	mu sync.Mutex
	by map[string]*gobreaker.CircuitBreaker[*Result]
	// byURL holds by's entries by URL, made with the route and read-only
	// after: no URL parsing or locking per call.
	byURL map[string]*gobreaker.CircuitBreaker[*Result]
}

// newBreakers returns the breakers of a route's urls.
func newBreakers(urls []string, s BreakerSettings, log *slog.Logger, changed func(server, to string)) *breakers {
	b := &breakers{settings: s, log: log, changed: changed, by: make(map[string]*gobreaker.CircuitBreaker[*Result]),
		byURL: make(map[string]*gobreaker.CircuitBreaker[*Result], len(urls))}
	if !s.Disabled {
		for _, u := range urls {
			b.byURL[u] = b.get(serverOf(u))
		}
	}
	return b
}

// serverOf is the breaker key of a URL: its host:port, lower-cased.
func serverOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return strings.ToLower(u.Host)
}

func (b *breakers) get(server string) *gobreaker.CircuitBreaker[*Result] {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.by[server]; ok {
		return cb
	}
	s := b.settings
	cb := gobreaker.NewCircuitBreaker[*Result](gobreaker.Settings{
		Name:        server,
		MaxRequests: s.HalfOpenRequests,
		Interval:    s.Interval,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.ConsecutiveFailures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.log.Warn("diracrpc: circuit breaker state change", "server", name, "from", from.String(), "to", to.String())
			if b.changed != nil {
				b.changed(name, to.String())
			}
			if s.OnStateChange != nil {
				s.OnStateChange(name, from.String(), to.String())
			}
		},
		IsSuccessful: breakerSuccess,
		IsExcluded:   breakerExcluded,
	})
	b.by[server] = cb
	return cb
}

// breakerSuccess: answers of the service are successes, whatever they say.
func breakerSuccess(err error) bool {
	switch CodeOf(err) {
	case CodeServiceError, CodeUnauthorized, CodeNotImplemented, CodeNotFound:
		return true
	}
	return err == nil
}

// breakerExcluded: the caller's own cancellation, and failures that never
// left the client, say nothing about the server.
func breakerExcluded(err error) bool {
	switch CodeOf(err) {
	case CodeCanceled, CodeUnknown:
		return err != nil
	}
	return false
}

// run makes attempt a through the breaker of its server. An open breaker
// gives a *TransportError with CodeCircuitOpen and nothing is sent.
func (b *breakers) run(p Protocol, a *Attempt, fn func() (*Result, error)) (*Result, error) {
	if b.settings.Disabled {
		return fn()
	}
	cb, ok := b.byURL[a.URL]
	if !ok { // not one of the route's URLs (none such is called)
		cb = b.get(serverOf(a.URL))
	}
	res, err := cb.Execute(fn)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, &TransportError{Protocol: p, URL: a.URL, Code: CodeCircuitOpen,
			Err: fmt.Errorf("circuit breaker of %s: %w", cb.Name(), err)}
	}
	return res, err
}
