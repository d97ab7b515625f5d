package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/gateway"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const service = testharness.DefaultService

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// world is a harness service (dips:// and https://) and a gateway in front
// of it, all on 127.0.0.1.
type world struct {
	h        *testharness.Harness
	gw       *gateway.Server
	events   *events
	disetURL string // dips://localhost:<gateway port>/<service>
	httpsURL string // https://localhost:<gateway port>/<service>
	adminURL string
}

type events struct {
	mu      sync.Mutex
	ev      []gateway.Event
	changed chan struct{} // closed (and replaced) at each event
}

func (e *events) Observe(ev gateway.Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	e.mu.Unlock()
}

// wait returns once n events were observed (the gateway is done with those
// calls: logged them too), or ctx's error. A DISET caller has its answer
// before the gateway ends the call.
func (e *events) wait(ctx context.Context, n int) error {
	for {
		e.mu.Lock()
		if len(e.ev) >= n {
			e.mu.Unlock()
			return nil
		}
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (e *events) all() []gateway.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]gateway.Event(nil), e.ev...)
}

type worldOpts struct {
	mode        selector.Mode
	trustedHost bool
	shadow      gateway.Mirror
	svc         *server.Service
	maxCalls    int
	ca          *pki.CA
	enc         server.Encoding
	admin       map[string]http.Handler
	logger      *slog.Logger // nil: quiet
	// editConfig, when set, edits the gateway's configuration (the
	// harness's cfg text).
	editConfig func(string) string
	// httpsServices are served over HTTPS in besides the harness service.
	httpsServices []string
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	svc := o.svc
	h := testharness.NewT(t, testharness.Options{Service: svc, CA: o.ca, Encoding: o.enc})
	text, err := os.ReadFile(h.ConfigFile)
	require.NoError(t, err)
	if o.editConfig != nil {
		text = []byte(o.editConfig(string(text)))
	}
	conf, err := cfg.Parse(h.ConfigFile, text)
	require.NoError(t, err)
	ev := &events{}
	logger := o.logger
	if logger == nil {
		logger = quiet
	}
	g, err := gateway.New(gateway.Config{
		Selector: selector.Options{
			Resolver: &endpoint.Resolver{Source: endpoint.Static(conf), Shuffle: func([]string) {}},
			Mode:     o.mode,
			Client:   diracrpc.Options{CAs: h.CA.Store(), Logger: quiet, Timeout: 120 * time.Second},
		},
		TrustedHost:    o.trustedHost,
		HostCredential: h.Files.Host,
		Shadow:         o.shadow,
		Observer:       ev,
		Logger:         logger,
	})
	require.NoError(t, err)
	ports := serveGateway(t, g, h.Files.Host, h.CA.Store(), gateway.ServerConfig{
		DISET:         server.DISETConfig{MaxConcurrentCalls: o.maxCalls},
		HTTPSServices: append([]string{service}, o.httpsServices...),
		Admin:         o.admin,
	})
	return &world{h: h, gw: ports.srv, events: ev,
		disetURL: fmt.Sprintf("dips://localhost:%d/%s", ports.dips, service),
		httpsURL: fmt.Sprintf("https://localhost:%d/%s", ports.https, service),
		adminURL: fmt.Sprintf("http://127.0.0.1:%d", ports.admin)}
}

// served is a gateway server running on 127.0.0.1 and its ports.
type served struct {
	srv                *gateway.Server
	dips, https, admin int
}

// serveGateway serves g over DISET, HTTPS and the admin listener on
// ephemeral 127.0.0.1 ports with host's certificate, cfg completing the
// configuration; it shuts the server down at the end of the test.
func serveGateway(t *testing.T, g *gateway.Gateway, host *credentials.Credential, cas *credentials.CAStore, cfg gateway.ServerConfig) served {
	t.Helper()
	var err error
	cfg.DISET.TLS, err = server.NewDISETTLSConfig(host, cas)
	require.NoError(t, err)
	cfg.HTTPS.TLS, err = server.NewHTTPSTLSConfig(host, cas)
	require.NoError(t, err)
	cfg.DISET.Logger, cfg.HTTPS.Logger = quiet, quiet
	srv := gateway.NewServer(g, cfg)
	var ls [3]net.Listener
	for i := range ls {
		ls[i], err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ls[0], ls[1], ls[2]) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
		assert.NoError(t, <-done)
	})
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }
	return served{srv: srv, dips: port(ls[0]), https: port(ls[1]), admin: port(ls[2])}
}

func (w *world) opts(cred *credentials.Credential) diracrpc.Options {
	o := w.h.Options()
	o.Logger = quiet
	o.Attempts = 1
	if cred != nil {
		o.Credential = cred
	}
	return o
}

// viaGateway is a DISET client of the gateway naming the real service.
func (w *world) viaGateway(t *testing.T, cred *credentials.Credential) *diracrpc.Client {
	t.Helper()
	c, err := disetclient.New([]string{w.disetURL}, w.opts(cred), disetclient.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// gatewayClient calls name through the gateway's side in (DIPS or HTTPS).
func (w *world) gatewayClient(t *testing.T, in diracrpc.Protocol, name string, cred *credentials.Credential) *diracrpc.Client {
	t.Helper()
	var c *diracrpc.Client
	var err error
	if in == diracrpc.HTTPS {
		c, err = httpsclient.New([]string{strings.TrimSuffix(w.httpsURL, service) + name}, w.opts(cred), httpsclient.Options{})
	} else {
		c, err = disetclient.New([]string{strings.TrimSuffix(w.disetURL, service) + name}, w.opts(cred), disetclient.Options{})
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (w *world) direct(t *testing.T, p diracrpc.Protocol, cred *credentials.Credential) *diracrpc.Client {
	t.Helper()
	return w.directClient(t, p, service, cred)
}

// directClient calls name at the harness's servers, bypassing the gateway.
func (w *world) directClient(t *testing.T, p diracrpc.Protocol, name string, cred *credentials.Credential) *diracrpc.Client {
	t.Helper()
	var c *diracrpc.Client
	var err error
	if p == diracrpc.HTTPS {
		c, err = httpsclient.New([]string{strings.Replace(w.h.HTTPSURL, service, name, 1)}, w.opts(cred), httpsclient.Options{})
	} else {
		c, err = disetclient.New([]string{strings.Replace(w.h.DIPSURL, service, name, 1)}, w.opts(cred), disetclient.Options{})
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() }) // before the harness stops: no idle connection left
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// identityOf is what authorisation decided, from whoami (not "identity":
// through a gateway a host is a proxy of itself, as with DIRAC's gateway).
func identityOf(t *testing.T, res *diracrpc.Result) map[string]any {
	t.Helper()
	var who map[string]any
	require.NoError(t, res.Decode(&who))
	out := map[string]any{}
	for _, k := range []string{"DN", "group", "username", "properties", "isLimitedProxy"} {
		out[k] = who[k]
	}
	return out
}

// TestGatewayDISETIn: a DISET client calls the service through the gateway
// in every mode; answers, S_ERRORs, framework errors and the identity are
// those of a direct call, results byte for byte.
func TestGatewayDISETIn(t *testing.T) {
	for _, mode := range []selector.Mode{selector.DISET, selector.HTTPS, selector.PreferHTTPS} {
		t.Run(string(mode), func(t *testing.T) {
			w := newWorld(t, worldOpts{mode: mode})
			ctx := ctxT(t)
			out := diracrpc.DIPS
			if mode != selector.DISET {
				out = diracrpc.HTTPS
			}
			gc := w.viaGateway(t, nil)
			dc := w.direct(t, out, nil)

			res, err := gc.Call(ctx, "add", 2, 3)
			require.NoError(t, err)
			assert.EqualValues(t, 5, res.Value)

			// Byte-faithful: the payload of a direct call to the protocol
			// the gateway used.
			arg := map[string]any{"t": []any{1, 2.5, "x"}, "n": nil}
			dres, err := dc.Call(ctx, "echoAny", arg)
			require.NoError(t, err)
			gres, err := gc.Call(ctx, "echoAny", arg)
			require.NoError(t, err)
			assert.Equal(t, string(dres.Raw), string(gres.Raw))

			// S_ERRORs with their errno, unknown methods.
			_, gerr := gc.Call(ctx, "failErrno", 1111, "custom")
			_, derr := dc.Call(ctx, "failErrno", 1111, "custom")
			var ge, de *diracrpc.Error
			require.ErrorAs(t, gerr, &ge)
			require.ErrorAs(t, derr, &de)
			assert.Equal(t, de.Errno, ge.Errno)
			assert.Equal(t, de.Message, ge.Message)
			_, gerr = gc.Call(ctx, "fail", "boom")
			_, derr = dc.Call(ctx, "fail", "boom")
			require.ErrorAs(t, gerr, &ge)
			require.ErrorAs(t, derr, &de)
			assert.Equal(t, de.Message, ge.Message)

			// The identity the service sees: the real user, through the
			// delegated proxy.
			gres, err = gc.Call(ctx, "whoami")
			require.NoError(t, err)
			dres, err = dc.Call(ctx, "whoami")
			require.NoError(t, err)
			assert.Equal(t, identityOf(t, dres), identityOf(t, gres))

			// One delegation for all those calls; every call forwarded over
			// the mode's protocol.
			evs := w.events.all()
			require.NotEmpty(t, evs)
			delegations := 0
			for _, e := range evs {
				if !e.CachedDelegation {
					delegations++
				}
				assert.Equal(t, out, e.Out, "%s", e.Method)
				assert.Equal(t, diracrpc.DIPS, e.In)
			}
			assert.Equal(t, 1, delegations)
		})
	}
}

// TestGatewayStubs: the replay stub of a call through the gateway is the
// client's own, replayable against the gateway.
func TestGatewayStubs(t *testing.T) {
	w := newWorld(t, worldOpts{mode: selector.DISET})
	ctx := ctxT(t)
	gc := w.viaGateway(t, nil)
	res, err := gc.Call(ctx, "add", 4, 5)
	require.NoError(t, err)
	require.NotNil(t, res.Stub)
	assert.Equal(t, "add", res.Stub.Method)
	_, err = gc.Call(ctx, "failErrno", 2, "gone")
	st := diracrpc.StubOf(err)
	require.NotNil(t, st)
	assert.Equal(t, "failErrno", st.Method)
	sel := selector.New(selector.Options{Client: w.opts(nil)})
	defer sel.Close()
	again, err := sel.Replay(ctx, res.Stub)
	require.NoError(t, err)
	assert.EqualValues(t, 9, again.Value)
}

// TestGatewayNeverWidensRights: through the gateway a caller is exactly what
// it is directly: a stranger's group claim stays demoted, a limited proxy
// stays limited, a refused chain is refused at the gateway's handshake, and
// a forged trusted-host forwarding is refused by the service.
func TestGatewayNeverWidensRights(t *testing.T) {
	w := newWorld(t, worldOpts{mode: selector.DISET})
	ctx := ctxT(t)
	must := pki.Must(t)
	stranger := must(w.h.CA.User("stranger"))
	cases := map[string]*credentials.Credential{
		"stranger claiming dirac_admin": must(w.h.CA.ProxyWith(stranger, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"})),
		"limited proxy":                 must(w.h.CA.ProxyWith(w.h.Files.User, pki.Limited, credentials.ProxyOptions{Group: "dirac_admin"})),
		"user proxy":                    w.h.Files.ProxyCred,
	}
	for name, cred := range cases {
		t.Run(name, func(t *testing.T) {
			gres, err := w.viaGateway(t, cred).Call(ctx, "whoami")
			require.NoError(t, err)
			dres, err := w.direct(t, diracrpc.DIPS, cred).Call(ctx, "whoami")
			require.NoError(t, err)
			assert.Equal(t, identityOf(t, dres), identityOf(t, gres))
		})
	}
	id := identityOf(t, must2(w.viaGateway(t, cases["stranger claiming dirac_admin"]).Call(ctx, "whoami")))
	assert.Equal(t, "visitor", id["group"])
	id = identityOf(t, must2(w.viaGateway(t, cases["limited proxy"]).Call(ctx, "whoami")))
	assert.Equal(t, true, id["isLimitedProxy"])

	t.Run("refused chain refused at the gateway", func(t *testing.T) {
		_, err := w.viaGateway(t, must(w.h.CA.Proxy(w.h.Files.User, pki.Legacy))).Call(ctx, "whoami")
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeTLS, diracrpc.CodeOf(err), "%v", err)
		_, err = w.viaGateway(t, must(w.h.CA.ForgedProxy(w.h.Files.User))).Call(ctx, "whoami")
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeTLS, diracrpc.CodeOf(err), "%v", err)
	})
	t.Run("host certificate and trusted host", func(t *testing.T) {
		// "hosts" and a trusted host acting for a user pass through the
		// gateway as they would directly: the same identity at the service.
		for name, o := range map[string]diracrpc.Options{
			"hosts":        {UseCertificates: true, Credential: w.h.Files.Host},
			"trusted host": {UseCertificates: true, Credential: w.h.Files.Host, DelegatedDN: credentials.SubjectDN(w.h.Files.User.Leaf()), DelegatedGroup: "dirac_admin"},
		} {
			base := w.opts(nil)
			base.Credential, base.UseCertificates, base.DelegatedDN, base.DelegatedGroup = o.Credential, o.UseCertificates, o.DelegatedDN, o.DelegatedGroup
			gc, err := disetclient.New([]string{w.disetURL}, base, disetclient.Options{})
			require.NoError(t, err)
			dc, err := disetclient.New([]string{w.h.DIPSURL}, base, disetclient.Options{})
			require.NoError(t, err)
			gres, err := gc.Call(ctx, "whoami")
			require.NoError(t, err, name)
			dres, err := dc.Call(ctx, "whoami")
			require.NoError(t, err, name)
			assert.Equal(t, identityOf(t, dres), identityOf(t, gres), name)
		}
	})
	t.Run("a URL as the service name", func(t *testing.T) {
		// The gateway resolves names only: it never connects where a
		// caller's proposal points.
		for _, target := range []string{w.h.DIPSURL, "dips://127.0.0.1:1/Framework/Other", "NoSlash"} {
			conn := proposeTo(t, w.disetURL, w.h.Files.ProxyCred, w.h.CA.Store(), target)
			r1, _, err := conn.Recv(0)
			require.NoError(t, err)
			_, err = diracrpc.ParseResult(r1)
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de, target)
			assert.Equal(t, target+" is not up in this server", de.Message)
		}
	})
	t.Run("user forging a trusted-host forwarding", func(t *testing.T) {
		o := w.opts(nil)
		o.DelegatedDN, o.DelegatedGroup = credentials.SubjectDN(stranger.Leaf()), "dirac_admin"
		c, err := disetclient.New([]string{w.disetURL}, o, disetclient.Options{})
		require.NoError(t, err)
		_, err = c.Call(ctx, "whoami")
		assert.Equal(t, diracrpc.CodeUnauthorized, diracrpc.CodeOf(err), "%v", err)
	})
}

func must2(res *diracrpc.Result, err error) *diracrpc.Result {
	if err != nil {
		panic(err)
	}
	return res
}

// TestGatewayHTTPSIn: HTTPS callers reach the DISET service through the
// gateway only when it is configured as a trusted host, never with a
// limited proxy.
func TestGatewayHTTPSIn(t *testing.T) {
	httpsClient := func(t *testing.T, w *world, cred *credentials.Credential) *diracrpc.Client {
		c, err := httpsclient.New([]string{w.httpsURL}, w.opts(cred), httpsclient.Options{})
		require.NoError(t, err)
		return c
	}
	t.Run("not configured", func(t *testing.T) {
		w := newWorld(t, worldOpts{mode: selector.DISET})
		_, err := httpsClient(t, w, nil).Call(ctxT(t), "whoami")
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de)
		assert.Contains(t, de.Message, "trusted host")
		assert.True(t, de.Has(diracrpc.ENOAUTH))
	})
	t.Run("trusted host", func(t *testing.T) {
		w := newWorld(t, worldOpts{mode: selector.DISET, trustedHost: true})
		ctx := ctxT(t)
		gres, err := httpsClient(t, w, nil).Call(ctx, "whoami")
		require.NoError(t, err)
		dres, err := w.direct(t, diracrpc.DIPS, nil).Call(ctx, "whoami")
		require.NoError(t, err)
		gid, did := identityOf(t, gres), identityOf(t, dres)
		assert.Equal(t, did["DN"], gid["DN"])
		assert.Equal(t, did["group"], gid["group"])
		assert.Equal(t, did["username"], gid["username"])
		res, err := httpsClient(t, w, nil).Call(ctx, "add", 1, 2)
		require.NoError(t, err)
		assert.EqualValues(t, 3, res.Value)
		_, err = httpsClient(t, w, nil).Call(ctx, "failErrno", 1111, "custom")
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de)
		assert.True(t, de.Has(1111))

		must := pki.Must(t)
		_, err = httpsClient(t, w, must(w.h.CA.Proxy(w.h.Files.User, pki.Limited))).Call(ctx, "whoami")
		require.ErrorAs(t, err, &de)
		assert.Contains(t, de.Message, "limited")
		stranger := must(w.h.CA.User("stranger"))
		gres, err = httpsClient(t, w, must(w.h.CA.ProxyWith(stranger, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"}))).Call(ctx, "whoami")
		require.NoError(t, err)
		assert.Equal(t, "visitor", identityOf(t, gres)["group"], "the stranger's claim stays demoted")
	})
}

// TestGatewayHealthAndShutdown: /healthz and /readyz; Shutdown lets a call
// in flight finish and turns readiness off.
func TestGatewayHealthAndShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	svc := testharness.NewTestService(service)
	svc.DefaultAuth = []string{"all"}
	svc.HandleFunc("block", func(ctx context.Context, req *server.Request) (any, error) {
		close(started)
		select {
		case <-release:
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	w := newWorld(t, worldOpts{mode: selector.DISET, svc: svc})
	ctx := ctxT(t)
	get := func(path string) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.adminURL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/healthz"))
	assert.Equal(t, http.StatusOK, get("/readyz"))

	gc := w.viaGateway(t, nil)
	type answer struct {
		res *diracrpc.Result
		err error
	}
	ans := make(chan answer, 1)
	go func() {
		res, err := gc.Call(ctx, "block")
		ans <- answer{res, err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		shut <- w.gw.Shutdown(sctx)
	}()
	// The gateway stops accepting: a new call fails to connect (polled, as
	// Shutdown closes the listener asynchronously).
	require.Eventually(t, func() bool {
		_, err := w.viaGateway(t, nil).Call(ctx, "add", 1, 1)
		return err != nil && errors.Is(err, diracrpc.ErrUnreachable)
	}, 20*time.Second, 20*time.Millisecond)
	close(release)
	a := <-ans
	require.NoError(t, a.err)
	assert.Equal(t, "done", a.res.Value)
	require.NoError(t, <-shut)
}

// TestGatewayRelaysA500AsDIRACReportsIt: a handler that raised behind an
// HTTPS service reaches the DISET caller as DIRAC's HTTPS client reports
// it ("500 Server Error: ..."), without this library's prefix.
func TestGatewayRelaysA500AsDIRACReportsIt(t *testing.T) {
	w := newWorld(t, worldOpts{mode: selector.HTTPS, svc: testharness.NewTestService("")})
	_, err := w.viaGateway(t, w.h.Files.ProxyCred).Call(ctxT(t), "crash")
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Regexp(t, "^500 Server Error", de.Message)
}

// TestGatewayLogsFailedCalls: one line per refused or failed call, as
// Config.Logger says, whichever protocol the call came in by; a service's
// own S_ERROR only at Debug.
func TestGatewayLogsFailedCalls(t *testing.T) {
	for _, in := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		t.Run(string(in), func(t *testing.T) {
			var buf testkit.SyncBuffer
			w := newWorld(t, worldOpts{mode: selector.DISET, svc: testharness.NewTestService(""), trustedHost: true,
				httpsServices: []string{"Framework/Nope"},
				logger:        slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			via := func(name string) *diracrpc.Client { return w.gatewayClient(t, in, name, nil) }
			ctx := ctxT(t)
			c := via(service)
			_, err := c.Call(ctx, "fail", "boom")
			require.Error(t, err)
			require.NoError(t, w.events.wait(ctx, 1))
			assert.NotContains(t, buf.String(), "gateway: call failed", "a service's S_ERROR is its answer")
			_, err = c.Call(ctx, "crash")
			require.Error(t, err)
			require.NoError(t, w.events.wait(ctx, 2))
			assert.Equal(t, 1, strings.Count(buf.String(), "gateway: call failed"), buf.String())
			assert.Contains(t, buf.String(), "method=crash")
			assert.Contains(t, buf.String(), `dn="`+credentials.SubjectDN(w.h.Files.User.Leaf())+`"`)

			// Refused by the gateway itself (no such service): the same line.
			_, err = via("Framework/Nope").Call(ctx, "ping")
			require.Error(t, err)
			require.NoError(t, w.events.wait(ctx, 3))
			assert.Equal(t, 2, strings.Count(buf.String(), "gateway: call failed"), buf.String())
			assert.Contains(t, buf.String(), "service=Framework/Nope")
		})
	}
}

// TestGatewayErrorsAsDirect: the gateway's own failures to lead a call to
// its service (a name its configuration does not define, a server that
// does not serve the service, an HTTPS service refusing the caller) reach
// the caller as DIRAC's DISET framework words them for a direct call
// ("<service> is not up in this server", "Unauthorized query" with
// ENOAUTH), so that CodeOf, and probe's exit code, are the direct call's:
// whichever protocol in and out.
func TestGatewayErrorsAsDirect(t *testing.T) {
	newSvc := func() *server.Service {
		svc := testharness.NewTestService(service)
		svc.Handle("admin", server.Method{Auth: []string{"ServiceAdministrator"}, Types: []server.Type{},
			Func: func(context.Context, *server.Request) (any, error) { return "done", nil }})
		return svc
	}
	// Framework/Gone: URLs of the harness's servers, which do not serve it.
	_, component, _ := strings.Cut(service, "/")
	addGone := func(text string) string {
		for line := range strings.Lines(text) {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), " = "); ok && k == component {
				gone := "        Gone = " + strings.ReplaceAll(v, service, "Framework/Gone") + "\n"
				return strings.Replace(text, line, line+gone, 1)
			}
		}
		t.Fatalf("no URLs of %s in\n%s", service, text)
		return ""
	}
	notUp := func(name string) string { return name + " is not up in this server" }
	cases := []struct {
		name, method string
		code         diracrpc.Code
		errno        int
		message      string
	}{
		{"Framework/Nope", "ping", diracrpc.CodeNotFound, 0, notUp("Framework/Nope")},
		{"Framework/Gone", "ping", diracrpc.CodeNotFound, 0, notUp("Framework/Gone")},
		{service, "admin", diracrpc.CodeUnauthorized, diracrpc.ENOAUTH, "Unauthorized query ( 1111 : Unauthorized query)"},
	}
	for _, mode := range []selector.Mode{selector.DISET, selector.HTTPS} {
		w := newWorld(t, worldOpts{mode: mode, svc: newSvc(), trustedHost: true, editConfig: addGone,
			httpsServices: []string{"Framework/Nope", "Framework/Gone"}})
		out := diracrpc.DIPS
		if mode == selector.HTTPS {
			out = diracrpc.HTTPS
		}
		for _, in := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s in %s out %s.%s", in, out, c.name, c.method), func(t *testing.T) {
					ctx := ctxT(t)
					_, derr := w.directClient(t, out, c.name, nil).Call(ctx, c.method)
					require.Error(t, derr)
					assert.Equal(t, c.code, diracrpc.CodeOf(derr), "direct: %v", derr)

					_, gerr := w.gatewayClient(t, in, c.name, nil).Call(ctx, c.method)
					require.Error(t, gerr)
					assert.Equal(t, diracrpc.CodeOf(derr), diracrpc.CodeOf(gerr), "through the gateway: %v", gerr)
					var de *diracrpc.Error
					require.ErrorAs(t, gerr, &de)
					assert.Equal(t, c.errno, de.Errno)
					assert.Equal(t, c.message, de.Message)
				})
			}
		}
	}
}

// TestGatewayRelaysUndecoded: a DISET caller's S_OK goes back as the
// service sent it, without the gateway decoding it (a large answer costs
// the gateway its bytes, not a model of its rows), over either protocol out.
func TestGatewayRelaysUndecoded(t *testing.T) {
	const rows = 100000
	list := make([]any, rows)
	for i := range list {
		list[i] = fmt.Sprintf("row %d", i)
	}
	listing := value.NewEncoded(list) // encoded once: the service costs no allocation per row either
	for _, mode := range []selector.Mode{selector.DISET, selector.HTTPS} {
		t.Run(string(mode), func(t *testing.T) {
			svc := testharness.NewTestService("")
			svc.Handle("listing", server.Method{Auth: []string{"all"}, Types: []server.Type{},
				Func: func(context.Context, *server.Request) (any, error) { return listing, nil }})
			w := newWorld(t, worldOpts{mode: mode, svc: svc})
			out := diracrpc.DIPS
			if mode == selector.HTTPS {
				out = diracrpc.HTTPS
			}
			gc := w.viaGateway(t, nil)
			ctx := diracrpc.WithRawResult(ctxT(t))
			res, err := gc.Call(ctx, "listing")
			require.NoError(t, err)
			dres, err := w.direct(t, out, nil).Call(ctx, "listing")
			require.NoError(t, err)
			assert.Equal(t, string(dres.Raw), string(res.Raw), "byte for byte")
			var got []string
			require.NoError(t, res.Decode(&got))
			assert.Len(t, got, rows)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const calls = 5
			for range calls {
				_, err := gc.Call(ctx, "listing")
				require.NoError(t, err)
			}
			runtime.ReadMemStats(&after)
			perCall := (after.TotalAlloc - before.TotalAlloc) / calls
			t.Logf("%d bytes allocated per relayed call of a %d-byte answer", perCall, len(res.Raw))
			assert.Less(t, perCall, uint64(len(res.Raw))*10, "the rows were decoded on the way")
		})
	}
}
