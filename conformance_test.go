package diracrpc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/faults"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

// These tests hold the two protocols side by side, through their own
// constructors and through the selector: the same situations must give the
// same codes, sentinels, attempts and idempotency.

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// protocols are the two wire protocols under test.
var protocols = []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS}

// builder makes the client of urls (all of one protocol) with o.
type builder struct {
	name  string
	build func(t *testing.T, p diracrpc.Protocol, urls []string, o diracrpc.Options) *diracrpc.Client
}

var builders = []builder{
	{"direct", func(t *testing.T, p diracrpc.Protocol, urls []string, o diracrpc.Options) *diracrpc.Client {
		var c *diracrpc.Client
		var err error
		if p == diracrpc.HTTPS {
			c, err = httpsclient.New(urls, o, httpsclient.Options{})
		} else {
			c, err = disetclient.New(urls, o, disetclient.Options{})
		}
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}},
	{"selector", func(t *testing.T, _ diracrpc.Protocol, urls []string, o diracrpc.Options) *diracrpc.Client {
		// By name, resolved in a configuration listing urls.
		conf := cfg.MustParse("DIRAC\n{\n  Setup = Test\n  Setups\n  {\n    Test\n    {\n      Framework = Production\n    }\n  }\n}\n")
		require.NoError(t, conf.Set("/Systems/Framework/Production/URLs/Conformance", strings.Join(urls, ", ")))
		sel := selector.New(selector.Options{Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)}, Client: o, Logger: quiet})
		t.Cleanup(func() { _ = sel.Close() })
		c, err := sel.Select(ctxT(t), "Framework/Conformance")
		require.NoError(t, err)
		assert.Equal(t, "Framework/Conformance", c.Service())
		return c
	}},
}

// world is a harness serving the test service over dips:// and https://,
// plus an adminOnly method the harness user may not call.
type world struct {
	h    *testharness.Harness
	runs atomic.Int64 // runs of add
}

func newWorld(t *testing.T, opts testharness.Options) *world {
	w := &world{}
	svc := testharness.NewTestService("")
	svc.Handle("adminOnly", server.Method{Auth: []string{"ServiceAdministrator"},
		Func: func(context.Context, *server.Request) (any, error) { return true, nil }})
	testharness.CountCalls(svc, "add", &w.runs)
	opts.Service, opts.Logger = svc, quiet
	w.h = testharness.NewT(t, opts)
	return w
}

func (w *world) options() diracrpc.Options {
	o := w.h.Options()
	o.Logger = quiet
	o.BackoffMin, o.BackoffMax = time.Millisecond, 2*time.Millisecond
	return o
}

// deadURL is a URL of protocol p on a port nobody listens on.
func deadURL(t *testing.T, p diracrpc.Protocol) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return string(p) + "://" + addr + "/" + testharness.DefaultService
}

// TestSameErrorsBothProtocols: each situation gives the same sentinel, code
// and Reached over DISET and HTTPS, built directly or by the selector.
func TestSameErrorsBothProtocols(t *testing.T) {
	w := newWorld(t, testharness.Options{DIPAddr: "-"})
	other, err := w.h.CA.Untrusted()
	require.NoError(t, err)
	stranger := pki.Must(t)(other.User("stranger"))

	type situation struct {
		name    string
		urls    func(p diracrpc.Protocol) []string
		tune    func(o *diracrpc.Options)
		method  string
		args    []any
		timeout time.Duration
		prime   int // calls made first, with the same client
		want    error
		code    diracrpc.Code
		reached bool
		noURL   bool
		// attempts, when set, is the number of attempts the error reports.
		attempts int
	}
	live := func(p diracrpc.Protocol) []string { return []string{w.h.URL(p)} }
	for _, s := range []situation{
		{name: "unknown method", urls: live, method: "doesNotExist", want: diracrpc.ErrNotImplemented,
			code: diracrpc.CodeNotImplemented},
		{name: "S_ERROR", urls: live, method: "fail", args: []any{"boom"}, code: diracrpc.CodeServiceError, reached: true},
		{name: "unauthorized", urls: live, method: "adminOnly", want: diracrpc.ErrUnauthorized, code: diracrpc.CodeUnauthorized},
		{name: "one unreachable URL", urls: func(p diracrpc.Protocol) []string { return []string{deadURL(t, p)} },
			method: "ping", want: diracrpc.ErrUnreachable, code: diracrpc.CodeUnreachable, noURL: true},
		{name: "TLS refused", urls: live, tune: func(o *diracrpc.Options) { o.Credential = stranger },
			method: "ping", want: diracrpc.ErrTLS, code: diracrpc.CodeTLS, noURL: true},
		{name: "server failure", urls: live, method: "crash", want: diracrpc.ErrServerFailure,
			code: diracrpc.CodeServerFailure, reached: true},
		{name: "timeout", urls: live, method: "sleep", args: []any{30}, timeout: 300 * time.Millisecond,
			want: context.DeadlineExceeded, code: diracrpc.CodeTimeout, reached: true},
		{name: "circuit open", urls: func(p diracrpc.Protocol) []string { return []string{deadURL(t, p)} },
			tune: func(o *diracrpc.Options) {
				o.Breaker = diracrpc.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Hour}
			}, prime: 1, method: "ping", want: diracrpc.ErrCircuitOpen, code: diracrpc.CodeCircuitOpen},
		// No such service: each URL is tried once (the server would answer
		// the same again), every URL once.
		{name: "no such service", urls: func(p diracrpc.Protocol) []string {
			return []string{strings.Replace(w.h.URL(p), testharness.DefaultService, "Framework/NoSuch", 1)}
		}, tune: func(o *diracrpc.Options) { o.Attempts = 0 }, // DIRAC's rule: 3 for one URL
			method: "ping", want: diracrpc.ErrNotFound, code: diracrpc.CodeNotFound, noURL: true, attempts: 1},
		{name: "all URLs dead", urls: func(p diracrpc.Protocol) []string { return []string{deadURL(t, p), deadURL(t, p)} },
			tune: func(o *diracrpc.Options) { o.Attempts = 0 }, method: "ping", want: diracrpc.ErrUnreachable,
			code: diracrpc.CodeUnreachable, noURL: true},
	} {
		for _, b := range builders {
			for _, p := range protocols {
				t.Run(s.name+"/"+b.name+"/"+string(p), func(t *testing.T) {
					o := w.options()
					if s.tune != nil {
						s.tune(&o)
					}
					c := b.build(t, p, s.urls(p), o)
					for range s.prime {
						_, _ = c.Call(ctxT(t), s.method, s.args...)
					}
					ctx := ctxT(t)
					if s.timeout > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, s.timeout)
						defer cancel()
					}
					_, err := c.Call(ctx, s.method, s.args...)
					require.Error(t, err)
					if s.want != nil {
						assert.ErrorIs(t, err, s.want)
					}
					assert.Equal(t, s.code, diracrpc.CodeOf(err), "%v", err)
					assert.Equal(t, s.reached, diracrpc.Reached(err), "%v", err)
					assert.Equal(t, s.noURL, errors.Is(err, diracrpc.ErrNoURL), "%v", err)
					if s.attempts > 0 {
						assert.Contains(t, err.Error(), fmt.Sprintf("after %d attempts", s.attempts))
					}
					if stub := diracrpc.StubOf(err); assert.NotNil(t, stub) {
						assert.Equal(t, s.method, stub.Method)
					}
				})
			}
		}
	}
}

// armed is a faults.When that fires once each time it is armed.
type armed struct{ on atomic.Bool }

func (a *armed) when(int, *rand.Rand) bool { return a.on.CompareAndSwap(true, false) }

// TestIdempotencyBothProtocols: a connection dropped after the arguments
// reached the handler (proven by the server's counter). Without a mark the
// handler runs once and the caller learns the call may have run; with a
// mark per call (WithIdempotent) or per method (Options.Idempotent) the
// call is sent again and succeeds, on both protocols.
func TestIdempotencyBothProtocols(t *testing.T) {
	var trigger armed
	plan := faults.NewPlan(1).Add(trigger.when, faults.Fault{Kind: faults.DropAfterRequest})
	w := newWorld(t, testharness.Options{DIPSAddr: "-",
		WrapHandler: func(h http.Handler) http.Handler { return faults.HTTPMiddleware(plan, h) }})
	proxy, err := faults.StartProxy(faults.ProxyConfig{Target: hostPort(w.h.DIPURL),
		Protocol: faults.DISET, Plan: plan})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	urls := map[diracrpc.Protocol]string{
		diracrpc.DIP:   "dip://" + proxy.Addr() + "/" + testharness.DefaultService,
		diracrpc.HTTPS: w.h.HTTPSURL,
	}
	for _, b := range builders {
		for p, url := range urls {
			t.Run(b.name+"/"+string(p), func(t *testing.T) {
				o := w.options()
				o.Attempts = 3
				c := b.build(t, p, []string{url}, o)
				call := func(ctx context.Context, c *diracrpc.Client) (int64, error) {
					before := w.runs.Load()
					trigger.on.Store(true)
					_, err := c.Call(ctx, "add", 1, 2)
					trigger.on.Store(false)
					return w.runs.Load() - before, err
				}
				runs, err := call(ctxT(t), c)
				require.Error(t, err)
				assert.True(t, diracrpc.Reached(err), "%v", err)
				assert.Equal(t, diracrpc.CodeUnreachable, diracrpc.CodeOf(err))
				assert.EqualValues(t, 1, runs, "not idempotent: run once")

				runs, err = call(diracrpc.WithIdempotent(ctxT(t)), c)
				require.NoError(t, err)
				assert.EqualValues(t, 2, runs, "idempotent call: sent again")

				o.Idempotent = []string{"add"}
				runs, err = call(ctxT(t), b.build(t, p, []string{url}, o))
				require.NoError(t, err)
				assert.EqualValues(t, 2, runs, "idempotent method: sent again")
			})
		}
	}
}

func hostPort(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	return rest[:strings.Index(rest, "/")]
}

// TestBreakerDISET: the breaker of a DISET server opens after
// ConsecutiveFailures failures, then refuses calls without dialling, lets
// a probe through after OpenTimeout and closes again; the caller's own
// cancellations never count.
func TestBreakerDISET(t *testing.T) {
	w := newWorld(t, testharness.Options{DIPSAddr: "-", HTTPSAddr: "-"})
	started := make(chan struct{}, 8)
	w.h.Service.HandleFunc("block", func(ctx context.Context, _ *server.Request) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	plan := faults.NewPlan(1)
	proxy, err := faults.StartProxy(faults.ProxyConfig{Target: hostPort(w.h.DIPURL), Protocol: faults.DISET, Plan: plan})
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	var mu sync.Mutex
	var changes []string
	o := w.options()
	o.Attempts = 1
	o.Breaker = diracrpc.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 200 * time.Millisecond,
		OnStateChange: func(_, from, to string) { mu.Lock(); changes = append(changes, from+"->"+to); mu.Unlock() }}
	c, err := disetclient.New([]string{"dip://" + proxy.Addr() + "/" + testharness.DefaultService}, o, disetclient.Options{})
	require.NoError(t, err)

	// Cancellations, in the handler and before dialling: never counted.
	for range 4 {
		ctx, cancel := context.WithCancel(ctxT(t))
		go func() { <-started; cancel() }()
		_, err := c.Call(ctx, "block")
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err))
		cancel()
	}
	gone, cancel := context.WithCancel(ctxT(t))
	cancel()
	for range 4 {
		_, err := c.Call(gone, "ping")
		require.ErrorIs(t, err, context.Canceled)
	}
	_, err = c.Call(ctxT(t), "ping")
	require.NoError(t, err, "cancellations did not open the breaker")
	mu.Lock()
	assert.Empty(t, changes)
	mu.Unlock()

	// The server fails: connections reset as they are accepted.
	plan.Add(faults.Every(), faults.Fault{Kind: faults.Refuse})
	for range 3 {
		_, err := c.Call(ctxT(t), "ping")
		require.Error(t, err)
		assert.NotErrorIs(t, err, diracrpc.ErrCircuitOpen)
	}
	conns := proxy.Stats().Conns
	for range 5 {
		_, err := c.Call(ctxT(t), "ping")
		require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		assert.False(t, diracrpc.Reached(err))
	}
	assert.Equal(t, conns, proxy.Stats().Conns, "an open breaker does not dial")

	// The server recovers: after OpenTimeout one probe goes through and
	// closes the breaker; until then calls fail fast.
	plan.Clear()
	require.Eventually(t, func() bool {
		_, err := c.Call(ctxT(t), "ping")
		if err != nil {
			require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
		}
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, conns+1, proxy.Stats().Conns, "exactly one probe dialled")
	mu.Lock()
	assert.Equal(t, []string{"closed->open", "open->half-open", "half-open->closed"}, changes)
	mu.Unlock()
}

// TestTornadoURLByName: DIRAC ≥ 8.1 serves System/<Handler> over HTTPS as
// https://host:8443/System/Tornado<Handler>. Reached by its name through
// the selector, such a URL is called as resolved, failing over from a dead
// one, and the stub keeps the name the caller used.
func TestTornadoURLByName(t *testing.T) {
	svc := testharness.NewTestService("Framework/TornadoFoo")
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPSAddr: "-", DIPAddr: "-", Logger: quiet})
	live := "https://127.0.0.1:" + strings.Split(hostPort(h.HTTPSURL), ":")[1] + "/Framework/TornadoFoo"
	dead, err := faults.StartProxy(faults.ProxyConfig{Target: "127.0.0.1:1",
		Plan: faults.NewPlan(1).Add(faults.Every(), faults.Fault{Kind: faults.Refuse})})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dead.Close() })
	deadURL := "https://" + dead.Addr() + "/Framework/TornadoFoo"

	conf := cfg.MustParse("DIRAC\n{\n  Setup = Production\n  Setups\n  {\n    Production\n    {\n      Framework = Production\n    }\n  }\n}\n")
	// The dead URL is the main one, the live one its failover: the dead one
	// is always tried first.
	require.NoError(t, conf.Set("/Systems/Framework/Production/URLs/Foo", deadURL))
	require.NoError(t, conf.Set("/Systems/Framework/Production/FailoverURLs/Foo", live))
	o := h.Options()
	o.Logger, o.Attempts = quiet, 0
	o.BackoffMin, o.BackoffMax = time.Millisecond, 2*time.Millisecond
	sel := selector.New(selector.Options{Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)}, Client: o, Logger: quiet})
	t.Cleanup(func() { _ = sel.Close() })

	for range 3 {
		res, err := sel.Call(ctxT(t), "Framework/Foo", "echo", "hello")
		require.NoError(t, err)
		assert.Equal(t, "hello", res.Value)
		assert.Equal(t, live, res.URL)
		assert.Equal(t, diracrpc.HTTPS, res.Protocol)
		assert.Equal(t, "Framework/Foo", res.Stub.Service)
	}
	assert.GreaterOrEqual(t, dead.Stats().Conns, int64(1), "the dead URL was tried first")
	res, err := sel.Call(ctxT(t), "Framework/Foo", "ping")
	require.NoError(t, err)
	assert.Equal(t, live, res.URL)
}

// TestAttemptTotalsEqual: for the same set of dead URLs both protocols make
// the same number of attempts: DIRAC's rule, 3 per URL with one or two
// URLs, 2 per URL with more.
func TestAttemptTotalsEqual(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{Logger: quiet})
	for n, want := range map[int]int64{1: 3, 2: 6, 3: 6} {
		totals := map[diracrpc.Protocol]int64{}
		for _, p := range protocols {
			var proxies []*faults.Proxy
			var urls []string
			for range n {
				px, err := faults.StartProxy(faults.ProxyConfig{Target: "127.0.0.1:1",
					Plan: faults.NewPlan(1).Add(faults.Every(), faults.Fault{Kind: faults.Refuse})})
				require.NoError(t, err)
				t.Cleanup(func() { _ = px.Close() })
				proxies = append(proxies, px)
				urls = append(urls, string(p)+"://"+px.Addr()+"/"+testharness.DefaultService)
			}
			o := h.Options()
			o.Logger, o.Attempts = quiet, 0
			o.BackoffMin, o.BackoffMax = time.Millisecond, 2*time.Millisecond
			o.Breaker.Disabled = true
			c := builders[0].build(t, p, urls, o)
			_, err := c.Call(ctxT(t), "ping")
			require.ErrorIs(t, err, diracrpc.ErrNoURL)
			assert.False(t, diracrpc.Reached(err))
			for _, px := range proxies {
				totals[p] += px.Stats().Conns
			}
		}
		assert.Equal(t, want, totals[diracrpc.DIPS], "%d URLs over DISET", n)
		assert.Equal(t, totals[diracrpc.DIPS], totals[diracrpc.HTTPS], "%d URLs: same attempts over both protocols", n)
	}
}

// TestOracleTornadoByName calls a real DIRAC Tornado service by a name whose
// URL is its Tornado<Handler> path (opt-in: DIRACRPC_ORACLE_HTTPS_URL, with
// X509_USER_PROXY and X509_CERT_DIR, see README).
func TestOracleTornadoByName(t *testing.T) {
	url := oracle.Require(t, oracle.HTTPSURL, "a DIRAC Tornado service (e.g. https://localhost:8443/Framework/OracleTornado)")
	conf := cfg.MustParse(oracle.Config("", "", ""))
	require.NoError(t, conf.Set("/Systems/Framework/Production/URLs/Oracle", url))
	sel := selector.New(selector.Options{Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)},
		Client: diracrpc.Options{Logger: quiet}, Logger: quiet})
	t.Cleanup(func() { _ = sel.Close() })
	res, err := sel.Call(ctxT(t), "Framework/Oracle", "echo", "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", res.Value)
	assert.Equal(t, url, res.URL)
	assert.Equal(t, "Framework/Oracle", res.Stub.Service)
	_, err = sel.Call(ctxT(t), "Framework/Oracle", "doesNotExist")
	assert.Equal(t, diracrpc.CodeNotImplemented, diracrpc.CodeOf(err))
}

// TestExtraKeysBothProtocols: the keys a service adds to its S_OK beside
// Value (JobManager's submitJob adds JobID and requireProxyUpload) reach
// the caller in Result.Extra, over both protocols.
func TestExtraKeysBothProtocols(t *testing.T) {
	svc := testharness.NewTestService("")
	svc.HandleFunc("submit", func(context.Context, *server.Request) (any, error) {
		return server.Answer(value.NewDict("OK", true, "Value", int64(7), "JobID", int64(7), "requireProxyUpload", true)), nil
	})
	h := testharness.NewT(t, testharness.Options{Service: svc, Logger: quiet})
	for _, p := range protocols {
		c := builders[0].build(t, p, []string{h.URL(p)}, h.Options())
		res, err := c.Call(ctxT(t), "submit")
		require.NoError(t, err)
		assert.Equal(t, int64(7), res.Value)
		assert.True(t, value.Equal(value.NewDict("JobID", int64(7), "requireProxyUpload", true), res.Extra), "%s: %v", p, res.Extra)
		res, err = c.Call(ctxT(t), "add", 1, 2)
		require.NoError(t, err)
		assert.Nil(t, res.Extra, "no extra keys")
	}
}
