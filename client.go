package diracrpc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// Client calls one DIRAC service, over DISET or HTTPS: the protocol is its
// transport's (see packages disetclient and httpsclient, whose New functions
// build it, and selector, which picks the protocol for a service name).
// Callers never need to know which protocol they got.
//
// Every call goes through one loop, the same for both protocols:
//   - URL choice: main URLs in random order, failover URLs after them, URLs
//     that failed banned for Options.BanFor;
//   - attempts: at most Options.Attempts (DIRAC's rule by default), with one
//     exponential backoff between them;
//   - idempotency: a call that may have reached the service (Reached) is
//     never sent again, unless its method (Options.Idempotent) or the call
//     (WithIdempotent) is marked idempotent; an answer of the service
//     (S_ERROR, unauthorised, no such method) is never retried;
//   - a circuit breaker per server (Options.Breaker): an open one is skipped
//     without dialling;
//   - the replay stub (Result.Stub, StubOf) and the classification of
//     failures (CodeOf, Reached, the sentinel errors).
//
// A Client is safe for concurrent use; its calls share bans, breakers and
// the transport's connections.
type Client struct {
	opts     Options
	service  string
	stubOpts *value.Dict
	routes   []*route
	tel      *clientTelemetry // nil: instrumentation off
}

// route is a transport with its URLs, bans and breakers. A client has one,
// or two when built by Fallback.
type route struct {
	protocol  Protocol
	transport Transport
	pool      *pool
	breakers  *breakers
	attempts  int
}

var _ Caller = (*Client)(nil)

// NewClient returns a client for the service at urls (main URLs) plus
// opts.FailoverURLs, over the transport newTransport builds. It is what the
// protocol packages call: use disetclient.New or httpsclient.New.
func NewClient(urls []string, opts Options, newTransport NewTransport) (*Client, error) {
	if len(urls)+len(opts.FailoverURLs) == 0 {
		return nil, fmt.Errorf("diracrpc: %w: no URL given", ErrNoURL)
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	main := slices.Clone(urls)
	if len(main) == 0 {
		// Failover URLs only: they become the main ones.
		main, o.FailoverURLs = o.FailoverURLs, nil
	}
	all := append(slices.Clone(main), o.FailoverURLs...)
	c := &Client{opts: o, service: o.Service, stubOpts: opts.stubOptions()}
	if c.service == "" {
		c.service = all[0]
		if len(all) > 1 {
			c.service = servicePath(all[0])
		}
	}
	t, err := newTransport(&TransportConfig{
		URLs: all, Setup: o.Setup, VO: o.VO, ExtraCredentials: o.extraCredentials(),
		Timeout: o.EffectiveTimeout(), ConnectTimeout: o.ConnectTimeout, Logger: o.Logger, opts: o,
	})
	if err != nil {
		return nil, err
	}
	if c.tel, err = newClientTelemetry(&o, servicePath(all[0])); err != nil {
		return nil, err
	}
	p := newPool(main, o.FailoverURLs, o.BanFor)
	attempts := o.Attempts
	if attempts <= 0 {
		attempts = p.attempts()
	}
	proto := schemeOf(all[0])
	c.routes = []*route{{protocol: proto, transport: t, pool: p,
		breakers: newBreakers(all, o.Breaker, o.Logger, c.tel.breakerChanged(proto)), attempts: attempts}}
	return c, nil
}

// Fallback returns a client that calls through primary and, when every
// breaker of primary's servers is open (so nothing was sent), through
// fallback: the selector's prefer-https mode. It keeps primary's options,
// name and stubs; each side keeps its own URLs, bans and breakers.
func Fallback(primary, fallback *Client) *Client {
	c := *primary
	c.routes = append(slices.Clone(primary.routes), fallback.routes...)
	return &c
}

func servicePath(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return strings.Trim(u.Path, "/")
	}
	return raw
}

func schemeOf(raw string) Protocol {
	scheme, _, _ := strings.Cut(raw, "://")
	return Protocol(strings.ToLower(scheme))
}

// Service returns the name the client reports and its stubs record: the
// name or URL the caller used (Options.Service).
func (c *Client) Service() string { return c.service }

// URLs returns every URL of the client, main ones first (those of its
// fallback after them).
func (c *Client) URLs() []string {
	var out []string
	for _, r := range c.routes {
		out = append(out, r.pool.urls()...)
	}
	return out
}

// Protocol returns the protocol of the client's URLs (of its primary ones,
// with a fallback).
func (c *Client) Protocol() Protocol { return c.routes[0].protocol }

// Close releases the idle connections. Calls in flight finish normally and
// the client stays usable.
func (c *Client) Close() error {
	var errs []error
	for _, r := range c.routes {
		errs = append(errs, r.transport.Close())
	}
	return errors.Join(errs...)
}

// callState is one call's attempt budget on a route, shared with the
// transport (see Attempt.Again).
type callState struct {
	left, attempts int
	lo, hi         time.Duration // Options.BackoffMin, BackoffMax
}

// backoff is the wait before the next attempt.
func (st *callState) backoff() time.Duration { return backoff(st.lo, st.hi, max(st.attempts, 1)) }

// Call calls method with args on the service. The S_OK value is in the
// Result. Every failure is a *CallError carrying the replay stub: an
// S_ERROR is a *Error (errors.As), every failure has a Code (CodeOf) and
// matches its sentinel error (errors.Is), and Reached tells whether the
// service may have run the call. When every attempt failed the error also
// matches ErrNoURL. ctx's deadline and cancellation end the call at once.
func (c *Client) Call(ctx context.Context, method string, args ...any) (*Result, error) {
	cs := newCallStub(c, method, args)
	cs.attempt.Undecoded = wantsRawResult(ctx)
	idem := isIdempotent(ctx) || slices.Contains(c.opts.Idempotent, method)
	res, err := c.run(ctx, &cs.attempt, idem)
	if err != nil {
		return nil, &CallError{Err: err.err, Stub: &cs.stub, Reached: err.reached}
	}
	res.Stub = &cs.stub
	return res, nil
}

// callStub is what a call allocates, in one piece: its stub, the stub's
// copy of the arguments when they are few, and its Attempt.
type callStub struct {
	stub    Stub
	attempt Attempt
	args    [4]any
}

// newCallStub copies args for the stub; the copy is also what the
// attempts send, so that the caller's slice does not escape (a variadic
// call allocates nothing for it).
func newCallStub(c *Client, method string, args []any) *callStub {
	cs := &callStub{stub: Stub{Service: c.service, Options: c.stubOpts, Method: method}}
	if len(args) <= len(cs.args) {
		cs.stub.Args = cs.args[:len(args):len(args)]
		copy(cs.stub.Args, args)
	} else {
		cs.stub.Args = slices.Clone(args)
	}
	cs.attempt = Attempt{Method: method, Args: cs.stub.Args}
	return cs
}

// loopError is the loop's failure and whether an attempt may have reached
// the service.
type loopError struct {
	err     error
	reached bool
}

// run is the one loop of calls and transfers (a.Transfer non-nil): the
// routes in turn (the fallback only when every breaker of the one before
// was open), each through callRoute, with a as every attempt.
func (c *Client) run(ctx context.Context, a *Attempt, idem bool) (*Result, *loopError) {
	method := a.Method
	var ct *callTelemetry
	if c.tel != nil {
		ctx, ct = c.tel.startCall(ctx, c.routes[0].protocol, method)
	}
	var err error
	reached := false
	for i, r := range c.routes {
		var res *Result
		var rr bool
		res, rr, err = c.callRoute(ctx, r, a, idem, ct)
		reached = reached || rr
		if err == nil {
			ct.end(nil)
			return res, nil
		}
		if i+1 < len(c.routes) && !reached && CodeOf(err) == CodeCircuitOpen && ctx.Err() == nil {
			c.opts.Logger.DebugContext(ctx, "diracrpc: every breaker open, calling through the fallback",
				"service", c.service, "method", method, "from", r.protocol, "to", c.routes[i+1].protocol)
			continue
		}
		break
	}
	ct.end(err)
	return nil, &loopError{err: err, reached: reached}
}

// callRoute runs the attempts of one call on one route, all with a (the
// transport is done with it when its Attempt returns), whose budget it
// sets. It reports whether an attempt may have reached the service. ct is
// the call's telemetry (nil when off).
func (c *Client) callRoute(ctx context.Context, r *route, a *Attempt, idem bool, ct *callTelemetry) (*Result, bool, error) {
	o := &c.opts
	method, x := a.Method, a.Transfer
	a.state = callState{left: r.attempts, lo: o.BackoffMin, hi: o.BackoffMax}
	st := &a.state
	order := r.pool.order()
	var skip map[string]bool // URLs whose breaker refused this call (made when needed)
	var last, open error
	reached, failed := false, false
	for st.left > 0 {
		if failed {
			d := st.backoff()
			ct.pause(d)
			if err := pause(ctx, d); err != nil {
				return nil, reached, c.gaveUp(r, err, last)
			}
			failed = false
		}
		u, ok := r.pool.pick(order, skip)
		if !ok {
			break
		}
		a.URL = u
		st.left--
		st.attempts++
		at := ct.attempt(r, u, st.attempts)
		res, err := r.breakers.run(r.protocol, a, func() (*Result, error) { return r.attempt(ctx, a) })
		if err == nil {
			at.end(ctx, nil, st.attempts, false)
			return res, reached, nil
		}
		code := CodeOf(err)
		if code == CodeCircuitOpen {
			// Nothing was sent: not an attempt, try the next server.
			st.left++
			st.attempts--
			at.end(ctx, err, st.attempts, false)
			skip = skipURL(skip, u)
			open = err
			continue
		}
		reached = reached || Reached(err)
		last = err
		if !retryable(ctx, err, code, idem) || !x.rewind() {
			at.end(ctx, err, st.attempts, false)
			return nil, reached, err
		}
		r.pool.ban(u)
		at.end(ctx, err, st.attempts, true)
		var te *TransportError
		if code == CodeNotFound || errors.Is(err, ErrWrongProtocol) || errors.As(err, &te) && te.RetryAfter > 0 {
			// The server does not serve the service (it would answer the
			// same again), speaks the other protocol, or asked for time:
			// not again in this call.
			skip = skipURL(skip, u)
		}
		failed = true
		o.Logger.DebugContext(ctx, "diracrpc: attempt failed, trying again", "url", u, "method", method,
			"code", code.String(), "err", err)
	}
	if last == nil && open != nil {
		return nil, false, open
	}
	if last == nil {
		return nil, reached, &TransportError{Protocol: r.protocol, Code: CodeNoURL, Err: ErrNoURL}
	}
	return nil, reached, fmt.Errorf("%w after %d attempts: %w", ErrNoURL, st.attempts, last)
}

func skipURL(skip map[string]bool, u string) map[string]bool {
	if skip == nil {
		skip = make(map[string]bool)
	}
	skip[u] = true
	return skip
}

// gaveUp is the error when the call's context ended (or would end) during
// the pause between attempts.
func (c *Client) gaveUp(r *route, err, last error) error {
	if last != nil && errors.Is(err, errNoTime) {
		// The pause would only have run into the deadline.
		return fmt.Errorf("%w (no time left for another attempt): %w", ErrNoURL, last)
	}
	code := CodeTimeout
	if errors.Is(err, context.Canceled) {
		code = CodeCanceled
	}
	if last != nil {
		err = fmt.Errorf("%w (last attempt: %w)", err, last)
	}
	return &TransportError{Protocol: r.protocol, Code: code, Reached: Reached(last), Err: err}
}

// retryable is the one attempt rule of both protocols: answers of the
// service are final; a failure that did not reach the service is tried
// again (on another URL when there is one); one that may have reached it
// only when the call is idempotent and the failure transient (a lost
// connection, a timeout, an unavailable server, a garbled answer), not
// when the service's handler failed.
func retryable(ctx context.Context, err error, code Code, idem bool) bool {
	// The caller's deadline or cancellation ends the call, also when the
	// attempt noticed the deadline (a connection deadline set from ctx's) a
	// moment before ctx itself did.
	if ctx.Err() != nil {
		return false
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return false
	}
	switch code {
	case CodeUnreachable, CodeTLS, CodeNotFound, CodeUnavailable, CodeTimeout:
		return !Reached(err) || idem
	case CodeServerFailure:
		return !Reached(err)
	case CodeProtocol:
		// A server of the other protocol ran nothing: the other URLs may
		// be right.
		return Reached(err) && idem || errors.Is(err, ErrWrongProtocol)
	}
	return false
}
