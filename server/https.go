package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// DefaultHTTPSPort is the port of DIRAC's Tornado server.
const DefaultHTTPSPort = 8443

// DefaultMaxBodyBytes is Tornado's request body limit (100 MiB).
const DefaultMaxBodyBytes = 100 << 20

// tornadoWhoamiAuth is Tornado's rule for the built-in whoami
// (TornadoService.auth_whoami); DISET's is "all".
var tornadoWhoamiAuth = []string{"authenticated"}

// DefaultMaxConcurrentCalls bounds the calls each server reads or runs at
// once, on DISET and HTTPS alike, unless configured otherwise.
const DefaultMaxConcurrentCalls = 64

// gzipMinLength: shorter answers are not compressed (Tornado's rule).
const gzipMinLength = 1024

// RawContent is what a handler returns to answer a rawContent request
// (DIRAC's streamToClient) with raw bytes. A handler may also return an
// io.Reader, streamed to the client without being held in memory (closed
// afterwards if it is an io.Closer). Anything else, in raw mode too, is a
// normal result, JSON-encoded, as Tornado encodes a dictionary.
type RawContent []byte

// TokenIdentity is what a bearer token maps to: the user's DN and group, as
// DIRAC's identity providers map a token's subject.
type TokenIdentity struct {
	DN, Group string
}

// HTTPSConfig configures an HTTPS server. The zero value (with TLS set)
// behaves as DIRAC's Tornado server.
type HTTPSConfig struct {
	// TLS is the server's TLS configuration; build it with NewHTTPSTLSConfig
	// (client certificate requested, optional, verified with proxy support
	// when sent). Nil serves plain HTTP, for tests behind a TLS terminator:
	// every caller is then anonymous unless it sends a token.
	TLS *tls.Config
	// TokenAuth authenticates "Authorization: Bearer" tokens (DIRAC's JWT
	// scheme), tried when the caller sent no certificate. Nil: tokens are
	// refused. It must verify the token (signature, issuer, expiry).
	TokenAuth func(ctx context.Context, token string) (TokenIdentity, error)
	// AllowAnonymous lets callers without certificate or token reach
	// authorisation (DIRAC's VISITOR scheme), where only "all" rules pass.
	// Default: they get 401, as from DIRAC.
	AllowAnonymous bool
	// MaxBodyBytes bounds a request body (after gzip decoding). Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConcurrentCalls bounds the calls being read or run at once (64 by
	// default, as on DISET); further calls wait for a slot, or for their
	// client to give up. With MaxBodyBytes it bounds the memory that request
	// bodies can take.
	MaxConcurrentCalls int
	// MaxBufferedBytes bounds the memory that request bodies hold together
	// (after gzip decoding), from their first byte to the end of their call;
	// Tornado has no such bound. A body takes memory as its bytes arrive. One
	// that cannot have more waits for calls to give theirs back (bodies are
	// let through only while all those being read can still complete, so
	// they never wait for each other in a circle), up to MaxBufferedWait or
	// until its client gives up. If that wait ends first, the rest of the
	// body is read and dropped (so that a client still sending it reads the
	// answer: DIRAC's does only once it has sent everything) and the call is
	// answered 503 with Retry-After, which clients retry safely since the
	// handler never ran. A body larger than MaxBufferedBytes itself is
	// refused as one over MaxBodyBytes. Default: room for one body of
	// MaxBodyBytes.
	MaxBufferedBytes int64
	// MaxBufferedWait bounds a body's wait for MaxBufferedBytes (default
	// 60 s, within the 120 s that DIRAC's client waits at the least).
	MaxBufferedWait time.Duration
	// ReadHeaderTimeout bounds the TLS handshake and the reading of a
	// request's headers (default 30 s); IdleTimeout closes idle keep-alive
	// connections (default 600 s).
	ReadHeaderTimeout, IdleTimeout time.Duration
	// BodyReadTimeout bounds the wait for each piece of a request body
	// (default 30 s): a client that stops sending in the middle of a body is
	// disconnected, so that stalled uploads cannot hold the call slots.
	// Large bodies that keep arriving are not cut short.
	BodyReadTimeout time.Duration
	// Logger receives refused and malformed requests; nil: slog.Default().
	// Refused and failed calls are also logged to their Service.Logger.
	Logger *slog.Logger
	// MeterProvider and TracerProvider receive the server's OpenTelemetry
	// metrics and spans, as DISETConfig's.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// HTTPS serves Services over DIRAC's HTTPS protocol (Tornado): POST
// /<System>/<Component>, many services on one port. It is an http.Handler,
// so it can also be mounted in another server.
//
// Differences from DIRAC, on purpose: method argument types (Method.Types)
// are checked as on DISET, failures answered with DISET's S_ERROR text;
// raw answers are RawContent or an io.Reader (see RawContent).
type HTTPS struct {
	serving // Addr

	cfg HTTPSConfig
	log *slog.Logger
	tel *serverTelemetry // nil: off

	mu     sync.RWMutex
	routes map[string]*Service
	srv    *http.Server
	calls  chan struct{} // MaxConcurrentCalls tokens
	budget *byteBudget   // MaxBufferedBytes
	// stop is closed when the server closes at once: bodies waiting for
	// the budget stop waiting.
	stop     chan struct{}
	stopOnce sync.Once
	chains   *chainCache
	// fresh holds the connections that have not sent a request yet
	// (http.StateNew): Shutdown closes them at once, as nothing of theirs
	// is in flight, where net/http would wait 5 s before counting them idle.
	fresh sync.Map // net.Conn -> struct{}
}

// byteBudget shares MaxBufferedBytes among the request bodies. A body
// takes bytes as it grows, up to its claim (its declared length, else the
// most it may grow to), so a client that declares a large body and sends
// nothing holds next to nothing. A body that cannot have the bytes it asks
// for waits; so that bodies never wait for each other in a circle, a body is
// given bytes only when, afterwards, the bodies still growing could all be
// completed in some order from the bytes left plus those the completed ones
// give back (the banker's rule). A body that gets its whole claim at once
// (the usual small request) cannot break that rule: it takes its bytes
// without a lock.
type byteBudget struct {
	total   int64
	free    atomic.Int64
	mu      sync.Mutex
	growing map[*bodyShare]struct{} // holding less than their claim
	queue   []*budgetWaiter         // in the order they came
	waiting atomic.Int32            // len(queue), and bodies about to join it
	needs   []bodyNeed              // scratch for safe
}

// bodyShare is what one body holds of the budget and may still ask for.
// Its owner reads it; it changes under byteBudget.mu once in growing.
type bodyShare struct {
	held, claim int64
}

type budgetWaiter struct {
	s     *bodyShare
	n     int64
	ready chan struct{} // closed once n bytes were added to s
}

type bodyNeed struct{ need, held int64 }

func newByteBudget(n int64) *byteBudget {
	b := &byteBudget{total: n, growing: make(map[*bodyShare]struct{})}
	b.free.Store(n)
	return b
}

// tryTake takes n bytes if they are free.
func (b *byteBudget) tryTake(n int64) bool {
	for {
		f := b.free.Load()
		if n > f {
			return false
		}
		if b.free.CompareAndSwap(f, f-n) {
			return true
		}
	}
}

// grow adds n bytes to s, waiting for them up to d, until ctx ends or stop
// is closed (errBusy when d ran out); waited tells whether it waited.
func (b *byteBudget) grow(ctx context.Context, stop <-chan struct{}, s *bodyShare, n int64, d time.Duration) (waited bool, err error) {
	if s.held+n > s.claim || s.claim > b.total {
		return false, errOverBudget
	}
	if s.held == 0 && n == s.claim && b.tryTake(n) {
		s.held = n // all it will hold: no lock, no rule to check
		return false, nil
	}
	b.mu.Lock()
	// Counted before the attempt, so that a release either is seen by it
	// or sees this body waiting.
	b.waiting.Add(1)
	if b.grant(s, n) {
		b.waiting.Add(-1)
		b.mu.Unlock()
		return false, nil
	}
	w := &budgetWaiter{s: s, n: n, ready: make(chan struct{})}
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ready:
		return true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-stop:
		err = ErrServerClosed
	case <-t.C:
		err = errBusy
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // served meanwhile: keep the bytes
		return true, nil
	default:
	}
	b.queue = slices.DeleteFunc(b.queue, func(q *budgetWaiter) bool { return q == w })
	b.waiting.Add(-1)
	return true, fmt.Errorf("waiting for %d bytes of MaxBufferedBytes: %w", n, err)
}

// grant, with mu held, adds n bytes to s if the rule allows it.
func (b *byteBudget) grant(s *bodyShare, n int64) bool {
	if !b.safe(s, n) || !b.tryTake(n) {
		return false
	}
	s.held += n
	if s.held < s.claim {
		b.growing[s] = struct{}{}
	} else {
		delete(b.growing, s)
	}
	return true
}

// safe, with mu held, tells whether after giving n more bytes to s the
// growing bodies could all complete in turn, the smallest need first.
// Other bodies that hold their whole claim need nothing more: the bytes
// they will give back are not counted on, which only errs on the side of
// waiting, and their release serves the waiters (bytes taken meanwhile
// without the lock are such bodies' too).
func (b *byteBudget) safe(s *bodyShare, n int64) bool {
	f := b.free.Load() - n
	if f < 0 {
		return false
	}
	// s counts even when n completes it: the bytes it gives back then are
	// what the others may be counting on.
	needs := append(b.needs[:0], bodyNeed{s.claim - s.held - n, s.held + n})
	for g := range b.growing {
		if g != s {
			needs = append(needs, bodyNeed{g.claim - g.held, g.held})
		}
	}
	slices.SortFunc(needs, func(x, y bodyNeed) int { return cmp.Compare(x.need, y.need) })
	b.needs = needs[:0]
	for _, x := range needs {
		if x.need > f {
			return false
		}
		f += x.held
	}
	return true
}

// done marks s as grown for good (its body is read): it asks for nothing more.
func (b *byteBudget) done(s *bodyShare) {
	if s.held == s.claim {
		return
	}
	b.mu.Lock()
	s.claim = s.held
	delete(b.growing, s)
	b.serve()
	b.mu.Unlock()
}

// release gives back what s holds and serves the waiting bodies.
func (b *byteBudget) release(s *bodyShare) {
	if s.held == 0 {
		return
	}
	n := s.held
	if s.held < s.claim {
		b.mu.Lock()
		delete(b.growing, s)
		s.held = 0
		b.free.Add(n)
		b.serve()
		b.mu.Unlock()
		return
	}
	s.held = 0
	b.free.Add(n)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		b.serve()
		b.mu.Unlock()
	}
}

// serve, with mu held, gives their bytes to the waiting bodies that the
// rule lets through, in the order they came.
func (b *byteBudget) serve() {
	b.queue = slices.DeleteFunc(b.queue, func(w *budgetWaiter) bool {
		if !b.grant(w.s, w.n) {
			return false
		}
		close(w.ready)
		b.waiting.Add(-1)
		return true
	})
}

// errBusy: the body waited MaxBufferedWait for memory without getting it.
var errBusy = errors.New("request bodies use all of MaxBufferedBytes")

// errOverBudget: the body is larger than MaxBufferedBytes.
var errOverBudget = errors.New("body over MaxBufferedBytes")

// NewHTTPS returns an HTTPS server for services.
func NewHTTPS(cfg HTTPSConfig, services ...*Service) *HTTPS {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 30 * time.Second
	}
	if cfg.MaxConcurrentCalls <= 0 {
		cfg.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = cfg.MaxBodyBytes + 1 // a body's buffer holds one byte more, to see its end
	}
	if cfg.MaxBufferedWait <= 0 {
		cfg.MaxBufferedWait = 60 * time.Second
	}
	if cfg.BodyReadTimeout <= 0 {
		cfg.BodyReadTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 600 * time.Second
	}
	h := &HTTPS{cfg: cfg, log: cfg.Logger, routes: make(map[string]*Service), chains: newChainCache(),
		tel:   newServerTelemetry(diracrpc.HTTPS, cfg.MeterProvider, cfg.TracerProvider),
		calls: make(chan struct{}, cfg.MaxConcurrentCalls), budget: newByteBudget(cfg.MaxBufferedBytes),
		stop: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	for _, s := range services {
		h.Handle(s)
	}
	h.srv = &http.Server{
		Handler:           h,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		// HTTP/1.1 only, as Tornado.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, peerCacheKey{}, &peerCache{chains: h.chains})
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				h.fresh.Store(c, struct{}{})
			case http.StateIdle:
				// Only StateActive follows StateIdle, and it removed c.
			default:
				h.fresh.Delete(c)
			}
		},
	}
	if cfg.BodyReadTimeout >= cfg.ReadHeaderTimeout {
		// Then net/http's ReadTimeout can bound the first read of the body
		// (see readBody): it sets that deadline once the headers are in,
		// instead of clearing theirs, which saves a deadline update per
		// request. It also bounds the TLS handshake, at most as tightly as
		// ReadHeaderTimeout does already.
		h.srv.ReadTimeout = cfg.BodyReadTimeout
	}
	return h
}

// NewHTTPSTLSConfig returns the TLS configuration of DIRAC's Tornado server:
// host certificate, client certificate requested but optional, verified with
// proxy support (depth credentials.VerifyDepth, as DISET) when sent; a bad one aborts the handshake.
// For the named relaxations (credentials.ChainPolicy) build the config with
// credentials.NewServerTLSConfig and set NextProtos to "http/1.1".
func NewHTTPSTLSConfig(host *credentials.Credential, cas *credentials.CAStore) (*tls.Config, error) {
	cfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{
		Credential: host, CAs: cas,
	})
	if err != nil {
		return nil, err
	}
	cfg.NextProtos = []string{"http/1.1"}
	return cfg, nil
}

// Handle adds (or replaces) a service, under its name and its aliases.
func (h *HTTPS) Handle(s *Service) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes["/"+s.Name] = s
	for _, a := range s.Aliases {
		h.routes["/"+a] = s
	}
	s.Start()
}

// ListenAndServe listens on addr (":8443", "127.0.0.1:0") and serves.
func (h *HTTPS) ListenAndServe(addr string) error { return listenAndServe(addr, h.Serve) }

// Serve accepts connections on l (TLS is added when HTTPSConfig.TLS is set)
// until Shutdown or Close, then returns ErrServerClosed.
func (h *HTTPS) Serve(l net.Listener) error {
	h.setAddr(l.Addr())
	if h.cfg.TLS != nil {
		l = tls.NewListener(l, h.cfg.TLS)
	}
	err := h.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// URL returns https://<host>:<port>/<service> for the listener's address,
// with host as the host name, or the listener's IP when host is "".
func (h *HTTPS) URL(host, service string) string { return h.url(diracrpc.HTTPS, host, service) }

// Shutdown stops accepting, lets the calls in flight finish and closes idle
// connections; if ctx ends first it closes everything and returns ctx's error.
func (h *HTTPS) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	// A client's spare connection (dialled, never used) is no call in
	// flight: close it now rather than wait out net/http's 5 s rule.
	h.fresh.Range(func(c, _ any) bool {
		_ = c.(net.Conn).Close()
		return true
	})
	err := <-done
	if err != nil {
		h.Close()
	}
	return err
}

// Close stops the server at once.
func (h *HTTPS) Close() error {
	h.stopOnce.Do(func() { close(h.stop) })
	return h.srv.Close()
}

// tornadoPage is the body of Tornado's error pages.
func tornadoPage(code int) string {
	t := strconv.Itoa(code) + ": " + http.StatusText(code)
	return "<html><title>" + t + "</title><body>" + t + "</body></html>"
}

// notFoundPage is the page for paths that are not a service.
const notFoundPage = "<html><title>404: Not Found</title><body>Not found.</body></html>"

func writePage(w http.ResponseWriter, code int) {
	body := tornadoPage(code)
	if code == http.StatusNotFound {
		body = notFoundPage
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=UTF-8")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Vary", "Accept-Encoding")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// badRequest answers an oversized or malformed request as Tornado does:
// an empty 400 and the connection closed.
func badRequest(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusBadRequest)
}

// ServeHTTP answers one DIRAC HTTPS call (PROTOCOL.md §5.2-5.4).
func (h *HTTPS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	svc, ok := h.routes[r.URL.Path]
	h.mu.RUnlock()
	if !ok {
		writePage(w, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		writePage(w, http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > h.cfg.MaxBodyBytes {
		badRequest(w)
		return
	}
	select {
	case h.calls <- struct{}{}:
	default:
		// No free slot: wait for one or for the client to give up (asking
		// for Done only now spares most calls making its channel).
		select {
		case h.calls <- struct{}{}:
		case <-r.Context().Done():
			return
		}
	}
	defer func() { <-h.calls }()
	pc := peerCacheOf(r.Context()) // nil when mounted in another server
	var share bodyShare
	body, err := h.readBody(w, r, pc != nil, &share)
	if errors.Is(err, errBusy) {
		h.budget.release(&share)
		h.log.WarnContext(r.Context(), "diracrpc https: busy", "remote", r.RemoteAddr, "err", err)
		if !h.drainBody(w, r) {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Retry-After", "1")
		writePage(w, http.StatusServiceUnavailable)
		return
	}
	defer h.budget.release(&share)
	if err != nil {
		h.log.InfoContext(r.Context(), "diracrpc https: bad request body", "remote", r.RemoteAddr, "err", err)
		badRequest(w)
		return
	}
	form := parseRequestForm(r.URL.RawQuery, headerValue(r.Header, "Content-Type"), body)
	method, ok := form.get("method", false)
	if !ok {
		writePage(w, http.StatusBadRequest)
		return
	}
	// The name the client asked for: the service's own or an alias.
	name := r.URL.Path[1:]
	if h.tel != nil {
		ctx, sc := h.tel.start(r.Context(), name, method, localAddr(r), r.RemoteAddr)
		defer sc.end()
		r, w = r.WithContext(ctx), &telemetryWriter{ResponseWriter: w, sc: sc}
	}
	m, ok := svc.Lookup(method)
	xfer, isXfer := Direction(""), false
	if !ok {
		xfer, isXfer = svc.httpsTransfer(method)
	}
	if !ok && !isXfer {
		writePage(w, http.StatusNotImplemented)
		return
	}
	ctx := r.Context()
	req := &Request{Service: name, Method: method, Protocol: diracrpc.HTTPS, RemoteAddr: r.RemoteAddr}
	if isXfer {
		req.Method = xfer.AuthPath()
	}
	req.ClientSetup, _ = form.get("clientSetup", false)
	req.ClientVO, _ = form.get("clientVO", false)
	extraText, hasExtra := form.get("extraCredentials", false)
	p, policyKey := svc.policyAndKey()
	grantKey := grantKey{svc: svc, policy: policyKey, method: method, authPath: req.Method,
		extra: extraText, hasExtra: hasExtra}
	if !h.recallGrant(pc, r, req, grantKey) {
		var extra any
		if hasExtra {
			if extra, err = jencode.Decode(readOnlyBytes(extraText)); err != nil {
				h.fail(w, r, svc, method, fmt.Errorf("extraCredentials: %w", err))
				return
			}
		}
		if !h.authenticate(ctx, pc, r, svc, req, extra) {
			writePage(w, http.StatusUnauthorized)
			return
		}
		rules := svc.rules(p, req.Method) // a transfer is authorised under FileTransfer/<Direction>
		if _, own := p.authorization[method]; method == "whoami" && !own && m == builtins["whoami"] {
			rules = tornadoWhoamiAuth
		}
		if e := svc.authorize(ctx, req, p.registry, rules); e != nil {
			writePage(w, http.StatusUnauthorized)
			return
		}
		if req.Credentials.Peer != nil {
			pc.remember(grantKey, req.Credentials)
		}
	}
	argsText, ok := form.get("args", true)
	if !ok {
		argsText = "[]"
	}
	decoded, err := jencode.Decode(readOnlyBytes(argsText))
	if err != nil {
		h.fail(w, r, svc, method, fmt.Errorf("args: %w", err))
		return
	}
	args, ok := decoded.([]any)
	if !ok {
		h.fail(w, r, svc, method, fmt.Errorf("args is a %T, not a list", decoded))
		return
	}
	req.Args = args
	if isXfer {
		h.serveTransfer(w, r, svc, req, xfer)
		return
	}
	_, rawMode := form.get("rawContent", false)
	rawMode = rawMode && form.nonEmpty("rawContent")
	o := svc.invoke(ctx, req)
	switch {
	case o.kind == failed:
		// A Python handler raising gives 500 on HTTPS; so does a Go error
		// or panic (invoke logged it).
		writePage(w, http.StatusInternalServerError)
	case rawMode && o.kind == returnedValue:
		if !h.writeRaw(w, o.value) {
			h.writeJSON(w, r, o.result, jsonUTF8Type)
		}
	default:
		h.writeJSON(w, r, o.result, jsonType)
	}
}

func (h *HTTPS) fail(w http.ResponseWriter, r *http.Request, svc *Service, method string, err error) {
	svc.logger().ErrorContext(r.Context(), "diracrpc https: call failed", "service", svc.Name, "method", method,
		"remote", r.RemoteAddr, "err", err)
	writePage(w, http.StatusInternalServerError)
}

// recallGrant sets req.Credentials from the connection's last successful
// authorisation when it was made under k, and reports whether it did. The
// chain's validity is checked again on every call.
func (h *HTTPS) recallGrant(pc *peerCache, r *http.Request, req *Request, k grantKey) bool {
	if pc == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || pc.granted.Load() == nil {
		return false
	}
	peer, err := pc.peerOf(r.TLS, h.clock())
	if err != nil {
		return false // authenticate refuses it, and says why
	}
	req.Credentials = pc.recall(k, peer)
	return req.Credentials != nil
}

// clock is the verifier's clock: the TLS configuration's, else nil (now).
func (h *HTTPS) clock() func() time.Time {
	if h.cfg.TLS != nil {
		return h.cfg.TLS.Time
	}
	return nil
}

// authenticate builds req.Credentials: the client certificate (verified
// during the handshake), else a bearer token, else anonymous if allowed.
// pc is the connection's cache (nil: none).
func (h *HTTPS) authenticate(ctx context.Context, pc *peerCache, r *http.Request, svc *Service, req *Request, extra any) bool {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer, err := pc.peerOf(r.TLS, h.clock())
		if err != nil {
			h.log.InfoContext(ctx, "diracrpc https: client certificate refused", "remote", r.RemoteAddr, "err", err)
			return false
		}
		req.Credentials = newCredentials(peer, pc.peerEntries(), extra, svc.CurrentRegistry())
		return true
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.cfg.TokenAuth != nil {
		id, err := h.cfg.TokenAuth(ctx, strings.TrimSpace(tok))
		if err != nil || id.DN == "" {
			h.log.InfoContext(ctx, "diracrpc https: bearer token refused", "remote", r.RemoteAddr, "err", err)
			return false
		}
		c := NewCredentials(nil, nil, svc.CurrentRegistry())
		c.dict().Set("DN", id.DN)
		if id.Group != "" {
			c.dict().Set("group", id.Group)
		}
		c.sync()
		req.Credentials = c
		return true
	}
	if h.cfg.AllowAnonymous {
		req.Credentials = NewCredentials(nil, nil, svc.CurrentRegistry())
		return true
	}
	return false
}

// readOnlyBytes is s as bytes without a copy, for readers that never write
// to them (the decoders).
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// readOnlyString is b as a string without a copy: nothing may write to b
// afterwards.
func readOnlyString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// headerValue is h.Get(key) for a key in canonical form, without
// canonicalising it again.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readBody reads the request body within the limit, gunzipping it when the
// client compressed it. The buffer grows with the bytes that actually arrive
// (a declared Content-Length reserves at most the first chunk, bodyChunk),
// each growth taken from the server's byte budget into share, waiting for
// it if need be (see byteBudget); the caller must release share. own: the
// request came through this HTTPS server's own http.Server (not mounted in
// another).
func (h *HTTPS) readBody(w http.ResponseWriter, r *http.Request, own bool, share *bodyShare) (body []byte, err error) {
	// Each read must make progress within BodyReadTimeout; to save a timer
	// update per read, the deadline is moved on only once an eighth of it
	// has passed, so a stalled client is cut off after 7/8 to 8/8 of it.
	// A deadline left set would make net/http's watch for a closed
	// connection fail while the handler runs, cancelling the call: net/http
	// clears it when it starts that watch at the end of the body, and it is
	// cleared here too when a gzip reader above the body may have stopped
	// short of that end. After a failure it stays, so that nothing waits on
	// the client again and the connection closes.
	//
	// In this package's server, net/http's ReadTimeout may bound the first
	// read already, from the start of the request (so more tightly); else,
	// or mounted in another server, the handler sets the deadline.
	rc := http.NewResponseController(w)
	var armed time.Time
	deadlines := true
	arm := func() {
		armed = time.Now()
		deadlines = rc.SetReadDeadline(armed.Add(h.cfg.BodyReadTimeout)) == nil
	}
	if !own || h.srv.ReadTimeout == 0 {
		arm()
	}
	// take adds n bytes to share; a wait for them restarts the read
	// deadline, which it may have outlasted.
	take := func(n int64) error {
		waited, err := h.budget.grow(r.Context(), h.stop, share, n, h.cfg.MaxBufferedWait)
		if waited && err == nil {
			arm()
		}
		return err
	}
	limit := h.cfg.MaxBodyBytes
	// The buffer never grows beyond limit+1 bytes (or a declared length
	// and its end), which bounds the reads; behind gzip the compressed
	// bytes need their own bound.
	share.claim = min(limit+1, h.budget.total)
	var src io.Reader = r.Body
	if strings.EqualFold(headerValue(r.Header, "Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		defer func() {
			if deadlines && err == nil {
				_ = rc.SetReadDeadline(time.Time{})
			}
		}()
		src = io.LimitReader(zr, limit+1)
	} else if n := r.ContentLength; n >= 0 {
		share.claim = n + 1 // the body and its end
		if n < bodyChunk {
			// Room for all of it: no second read into a new chunk.
			if err := take(n + 1); err != nil {
				return nil, err
			}
			body = make([]byte, 0, n+1)
		}
	}
	for {
		if len(body) == cap(body) {
			grow := int64(max(cap(body)/2, bodyChunk))
			grow = min(grow, share.claim-int64(cap(body)))
			if grow <= 0 {
				return nil, fmt.Errorf("body over %d bytes", limit)
			}
			if need := int64(cap(body)) + grow - share.held; need > 0 {
				if err := take(need); err != nil {
					return nil, err
				}
			}
			body = slices.Grow(body, int(grow))
		}
		if deadlines && len(body) > 0 {
			if now := time.Now(); now.Sub(armed) > h.cfg.BodyReadTimeout/8 {
				armed = now
				deadlines = rc.SetReadDeadline(now.Add(h.cfg.BodyReadTimeout)) == nil
			}
		}
		n, rerr := src.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	h.budget.done(share)
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("body over %d bytes", limit)
	}
	return body, nil
}

// drainBody reads and drops the rest of a body that will not be served, at
// most MaxBodyBytes, each piece within BodyReadTimeout, so that a client
// still sending it reads the answer: DIRAC's client (requests) reads it only
// once it has sent the whole body, and sees a broken connection when the
// server answers and closes before. It reports whether the body ended.
func (h *HTTPS) drainBody(w http.ResponseWriter, r *http.Request) bool {
	rc := http.NewResponseController(w)
	bp := bufpool.Get(32 << 10)
	buf := (*bp)[:cap(*bp)]
	defer bufpool.Release(bp, buf)
	left := h.cfg.MaxBodyBytes + 1
	for left > 0 {
		if err := rc.SetReadDeadline(time.Now().Add(h.cfg.BodyReadTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		n, err := r.Body.Read(buf[:min(int64(len(buf)), left)])
		left -= int64(n)
		if err == io.EOF {
			_ = rc.SetReadDeadline(time.Time{})
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// bodyChunk is the first (and smallest) growth of a request body buffer.
const bodyChunk = 16 << 10

// gzipPool holds the compressors of answers (klauspost/compress: 1.8 times
// faster than compress/gzip at the same level on a JSON job listing, for a
// slightly smaller output). Tornado compresses at level 6; level 1
// (BestSpeed) takes a fraction of its time for answers of about the same
// size (JSON result lists), which costs a large answer less on the wire
// than the compression saves on the server. Data that is already
// compressed (getCompressedData's base64 of zlib) goes in stored blocks, at
// the speed of a copy, where compress/gzip spent 20 times longer to save
// its base64 quarter.
var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// writeJSON writes a result as JEncode text, gzip-compressed when the client
// accepts it and the body is not tiny. Both are built in recycled buffers.
func (h *HTTPS) writeJSON(w http.ResponseWriter, r *http.Request, d *value.Dict, contentType []string) {
	callOf(w).answer(d)
	bp := bufpool.Get(4096)
	// Long strings stay out of body, written from their own memory.
	body, pieces, err := jencode.AppendMarshalBuffers(*bp, d, bufpool.LongString)
	// w.Write copies the answer: the buffers can serve again after it.
	defer bufpool.Release(bp, body)
	if err != nil {
		h.log.ErrorContext(r.Context(), "diracrpc https: cannot encode result", "err", err)
		writePage(w, http.StatusInternalServerError)
		return
	}
	if pieces == nil {
		pieces = net.Buffers{body}
	}
	size := 0
	for _, p := range pieces {
		size += len(p)
	}
	hd := w.Header()
	// Direct assignments of shared values: net/http copies them.
	hd["Content-Type"] = contentType
	hd["Vary"] = varyAcceptEncoding
	if size >= gzipMinLength && acceptsGzip(r) {
		zp := bufpool.Get(size / 4)
		zb := &bufpool.Writer{B: *zp}
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(zb)
		for _, p := range pieces {
			zw.Write(p)
		}
		zw.Close()
		zw.Reset(io.Discard) // no hold on the buffer from the pool
		gzipPool.Put(zw)
		defer bufpool.Release(zp, zb.B)
		pieces, size = net.Buffers{zb.B}, len(zb.B)
		hd["Content-Encoding"] = contentEncodingGzip
	}
	hd["Content-Length"] = []string{strconv.Itoa(size)}
	w.WriteHeader(http.StatusOK)
	for _, p := range pieces {
		w.Write(p)
	}
}

// Header values of JSON answers.
var (
	jsonType            = []string{"application/json"}
	jsonUTF8Type        = []string{"application/json; charset=UTF-8"}
	varyAcceptEncoding  = []string{"Accept-Encoding"}
	contentEncodingGzip = []string{"gzip"}
)

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

// writeRaw writes a rawContent answer (RawContent or a stream); false
// when v is something else, which is then JSON-encoded as Tornado does.
func (h *HTTPS) writeRaw(w http.ResponseWriter, v any) bool {
	hd := w.Header()
	switch v := v.(type) {
	case RawContent:
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.Itoa(len(v)))
		w.Write(v)
	case io.Reader:
		if c, ok := v.(io.Closer); ok {
			defer c.Close()
		}
		hd.Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		io.Copy(w, v)
	default:
		return false
	}
	return true
}

// requestForm holds the arguments of a request as Tornado collects them:
// query arguments, then body arguments, each name keeping every value, in
// the order they came.
type requestForm struct {
	query, body []formField
}

// formField is one name=value of a query string or a form.
type formField struct{ name, value string }

// get returns Tornado's get_argument (last value, body over query) or, with
// bodyOnly, get_body_argument. Values are stripped of surrounding white
// space and ASCII control characters become spaces, as Tornado does.
func (f requestForm) get(name string, bodyOnly bool) (string, bool) {
	v, ok := lastValue(f.body, name)
	if !ok && !bodyOnly {
		v, ok = lastValue(f.query, name)
	}
	if !ok {
		return "", false
	}
	return cleanArgument(v), true
}

func lastValue(fields []formField, name string) (string, bool) {
	for i := len(fields) - 1; i >= 0; i-- {
		if fields[i].name == name {
			return fields[i].value, true
		}
	}
	return "", false
}

func (f requestForm) nonEmpty(name string) bool {
	v, ok := f.get(name, false)
	return ok && v != ""
}

func cleanArgument(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x08 || (c >= 0x0e && c <= 0x1f) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c <= 0x08 || (c >= 0x0e && c <= 0x1f) {
					b[j] = ' '
				}
			}
			s = string(b)
			break
		}
	}
	return strings.TrimSpace(s)
}

const formType = "application/x-www-form-urlencoded"

// parseRequestForm parses the query string and, for form or multipart
// bodies, the body's fields. It never fails: malformed parts are skipped or
// kept literally, as Python's parse_qs does.
//
// It takes body over: the fields of a form body are views of its bytes
// (no copy of a body that may be 100 MiB), so nothing may write to body
// afterwards.
func parseRequestForm(rawQuery, contentType string, body []byte) requestForm {
	f := requestForm{query: parseQuery(rawQuery)}
	if contentType == formType { // what every DIRAC client sends
		f.body = parseQuery(readOnlyString(body))
		return f
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return f
	}
	switch mt {
	case formType:
		f.body = parseQuery(readOnlyString(body))
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FileName() == "" && p.FormName() != "" {
				v, err := io.ReadAll(p)
				if err == nil {
					f.body = append(f.body, formField{p.FormName(), string(v)})
				}
			}
			p.Close()
		}
	}
	return f
}

// parseQuery is Python's parse_qs(keep_blank_values=True): fields split on
// "&", "+" is a space, bad percent escapes stay as they are.
func parseQuery(s string) []formField {
	if s == "" {
		return nil
	}
	out := make([]formField, 0, 1+strings.Count(s, "&"))
	for s != "" {
		var field string
		field, s, _ = strings.Cut(s, "&")
		if field == "" {
			continue
		}
		k, v, _ := strings.Cut(field, "=")
		out = append(out, formField{unquotePlus(k), unquotePlus(v)})
	}
	return out
}

func unquotePlus(s string) string {
	// Two vectorised scans beat strings.ContainsAny's generic one.
	first := strings.IndexByte(s, '%')
	if p := strings.IndexByte(s, '+'); p >= 0 && (first < 0 || p < first) {
		first = p
	}
	if first < 0 {
		return s
	}
	b := make([]byte, first, len(s))
	copy(b, s[:first])
	for i := first; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
