package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/value"
)

// Encoding selects what the server writes (it reads both).
type Encoding = diset.Encoding

// Encodings.
const (
	JSON    = diset.JSON    // DIRAC ≥ 8.1's default
	DEncode = diset.DEncode // DIRAC_USE_JSON_ENCODE=no
)

// DISETConfig configures a DISET server. The zero value serves plain dip://
// with DIRAC's limits.
type DISETConfig struct {
	// TLS makes it a dips:// server. Build it with NewDISETTLSConfig (DIRAC
	// requires a client certificate and verifies proxy chains). Nil: dip://,
	// where every caller is anonymous.
	TLS *tls.Config
	// Encoding is what the server writes; JSON by default, as DIRAC ≥ 8.1.
	Encoding Encoding
	// HandshakeTimeout bounds the TLS handshake; default 10 s (DIRAC's
	// DEFAULT_CONNECTION_TIMEOUT).
	HandshakeTimeout time.Duration
	// ReadTimeout bounds the reading of each of the proposal and argument
	// frames; default 120 s. DIRAC allows 600 s, but its clients send both
	// frames at once.
	ReadTimeout time.Duration
	// WriteTimeout bounds the writing of each answer; default 600 s
	// (DIRAC's socket timeout).
	WriteTimeout time.Duration
	// MaxFrameSize bounds the argument frame; default 100 MiB (DIRAC: no
	// limit below the 9-digit maximum). The proposal is always limited to
	// 1024 bytes.
	MaxFrameSize int
	// MaxConns bounds the open connections; beyond it the server stops
	// accepting until one closes, as DIRAC's reactor does. Default 1024.
	MaxConns int
	// MaxConcurrentCalls bounds the handlers running at once; further calls
	// wait for a slot. Default 64 (DIRAC: 15 threads).
	MaxConcurrentCalls int
	// Logger receives connection-level events; nil: the Service's logger.
	// Refused and failed calls are logged to Service.Logger.
	Logger *slog.Logger
	// Handler, when set, takes over every connection once its proposal is
	// read, whatever service it names (a gateway); the Service's methods are
	// then not served. Each connection holds one MaxConcurrentCalls slot
	// while the handler runs. Nil: the Service answers.
	Handler DISETHandler
	// MeterProvider and TracerProvider receive the server's OpenTelemetry
	// metrics and spans (see the package documentation, "Metrics and
	// traces"). One left nil is a no-op provider; both nil (the default)
	// turn instrumentation off. The global providers are never used.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// NewDISETTLSConfig returns the TLS configuration of a DIRAC DISET server
// (dips://): host certificate, client certificate required and verified with
// proxy support (depth credentials.VerifyDepth). For the named relaxations
// (credentials.ChainPolicy) use credentials.NewServerTLSConfig with
// RequireClientCert.
func NewDISETTLSConfig(host *credentials.Credential, cas *credentials.CAStore) (*tls.Config, error) {
	return credentials.NewServerTLSConfig(credentials.ServerTLSOptions{
		Credential: host, CAs: cas, RequireClientCert: true,
	})
}

// DISET serves one Service over DISET, as DIRAC serves each service on its
// own port: one call per connection (proposal, S_OK, arguments, result,
// close).
type DISET struct {
	serving // Addr

	svc *Service
	cfg DISETConfig
	log *slog.Logger
	tel *serverTelemetry // nil: off

	conns  chan struct{} // MaxConns tokens
	calls  chan struct{} // MaxConcurrentCalls tokens
	chains *chainCache

	baseCtx    context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	active    map[*disetConn]struct{}
	closing   bool
	idle      chan struct{} // closed when active becomes empty during Shutdown
}

type disetConn struct {
	nc   net.Conn
	busy atomic.Bool // the proposal was read: let the call finish on Shutdown
}

// NewDISET returns a DISET server for svc.
func NewDISET(svc *Service, cfg DISETConfig) *DISET {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 120 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 600 * time.Second
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = 100 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	if cfg.MaxConcurrentCalls <= 0 {
		cfg.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	log := cfg.Logger
	if log == nil {
		log = svc.logger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	proto := diracrpc.DIP
	if cfg.TLS != nil {
		proto = diracrpc.DIPS
	}
	return &DISET{chains: newChainCache(),
		svc: svc, cfg: cfg, log: log, tel: newServerTelemetry(proto, cfg.MeterProvider, cfg.TracerProvider),
		conns:      make(chan struct{}, cfg.MaxConns),
		calls:      make(chan struct{}, cfg.MaxConcurrentCalls),
		baseCtx:    ctx,
		cancelBase: cancel,
		listeners:  make(map[net.Listener]struct{}),
		active:     make(map[*disetConn]struct{}),
	}
}

// Protocol returns dips or dip.
func (s *DISET) Protocol() diracrpc.Protocol {
	if s.cfg.TLS != nil {
		return diracrpc.DIPS
	}
	return diracrpc.DIP
}

// URL returns the service URL for the address of the listener Serve was
// given ("" before Serve started), with host as the host name (e.g.
// "localhost" to match a host certificate), or the listener's IP when host is
// "".
func (s *DISET) URL(host string) string { return s.url(s.Protocol(), host, s.svc.Name) }

// ListenAndServe listens on addr (":9135", "127.0.0.1:0") and serves.
func (s *DISET) ListenAndServe(addr string) error { return listenAndServe(addr, s.Serve) }

// Serve accepts connections on l until Shutdown or Close, then returns
// ErrServerClosed. It closes l on return.
func (s *DISET) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	s.setAddr(l.Addr())
	s.svc.Start()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var tempDelay time.Duration
	for {
		select {
		case s.conns <- struct{}{}:
		case <-s.baseCtx.Done():
			return ErrServerClosed
		}
		nc, err := l.Accept()
		if err != nil {
			<-s.conns
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				s.log.Warn("diracrpc server: accept error, retrying", "err", err, "delay", tempDelay)
				t := time.NewTimer(tempDelay)
				select {
				case <-t.C:
				case <-s.baseCtx.Done():
					t.Stop()
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		tempDelay = 0
		c := &disetConn{nc: nc}
		if !s.track(c) {
			nc.Close()
			<-s.conns
			return ErrServerClosed
		}
		go s.serveConn(c)
	}
}

func (s *DISET) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *DISET) track(c *disetConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active[c] = struct{}{}
	return true
}

func (s *DISET) untrack(c *disetConn) {
	s.mu.Lock()
	delete(s.active, c)
	if s.closing && len(s.active) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	<-s.conns
}

// Shutdown stops accepting, closes connections that have not yet sent a
// complete proposal, and waits for the running calls to finish. If ctx ends
// first it closes everything (Close) and returns ctx's error.
func (s *DISET) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.active {
		if !c.busy.Load() {
			c.nc.Close()
		}
	}
	var idle chan struct{}
	if len(s.active) > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
	s.cancelBase()
	return nil
}

// Close stops the server at once: listeners and connections are closed and
// the handlers' context is cancelled.
func (s *DISET) Close() error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.active {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancelBase()
	return nil
}

// serveConn runs one DISET call (PROTOCOL.md §4.6).
func (s *DISET) serveConn(c *disetConn) {
	defer s.untrack(c)
	defer c.nc.Close()
	remote := c.nc.RemoteAddr().String()
	log := s.log.With("remote", remote, "service", s.svc.Name)

	var peer *credentials.PeerCredentials
	nc := c.nc
	if s.cfg.TLS != nil {
		tc := tls.Server(c.nc, s.cfg.TLS)
		hctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Debug("diracrpc server: TLS handshake failed", "err", err)
			return
		}
		cs := tc.ConnectionState()
		p, err := s.chains.peerInfo(&cs, s.cfg.TLS.Time)
		if err != nil {
			log.Info("diracrpc server: no usable client certificate", "err", err)
			return
		}
		peer = p
		nc = tc
	}
	conn := diset.NewConn(nc, s.cfg.Encoding)
	method := "" // the proposal's action, once read
	sendErr := func(d *value.Dict) error {
		_ = nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		err := sendFrame(conn, d)
		if err != nil {
			logSendError(log, method, err)
		}
		return err
	}
	send := func(d *value.Dict) bool { return sendErr(d) == nil }
	var sc *serverCall // telemetry, from the proposal on
	defer func() { sc.end() }()
	final := func(d *value.Dict) { // the call's answer
		sc.answer(d)
		if errors.Is(sendErr(d), diset.ErrEncode) {
			// The client sees the connection close, as from DIRAC; the
			// failure is the server's.
			sc.fail(diracrpc.CodeServerFailure)
		}
	}
	refuse := func(e *diracrpc.Error) { final(s.svc.PreHandlerError(e)) }

	// F1: the proposal.
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	pv, _, err := conn.Recv(frame.ProposalLimit)
	if err != nil {
		log.Debug("diracrpc server: no valid proposal", "err", err)
		refuse(&diracrpc.Error{Message: "Invalid action proposal"})
		return
	}
	c.busy.Store(true)
	prop, perr := parseProposal(pv)
	if perr != nil {
		log.Info("diracrpc server: invalid proposal", "err", perr)
		refuse(&diracrpc.Error{Message: "Invalid action proposal"})
		return
	}
	method = prop.action
	ctx := s.baseCtx
	if s.tel != nil {
		method := prop.action
		if prop.actionType != "RPC" {
			method = prop.actionType + "/" + prop.action
		}
		ctx, sc = s.tel.start(ctx, prop.service, method, c.nc.LocalAddr(), remote)
	}
	if s.cfg.Handler != nil {
		select {
		case s.calls <- struct{}{}:
		case <-s.baseCtx.Done():
			return
		}
		defer func() { <-s.calls }()
		s.cfg.Handler.ServeDISET(ctx, &DISETCall{
			Service: prop.service, Setup: prop.setup, VO: prop.vo,
			ActionType: prop.actionType, Action: prop.action,
			ExtraCredentials: prop.extra, ClientVersion: prop.version,
			Peer: peer, RemoteAddr: remote, conn: conn, s: s, log: log, sc: sc,
		})
		return
	}
	req := &Request{
		Service:       prop.service,
		Method:        prop.action,
		Credentials:   NewCredentials(peer, prop.extra, s.svc.CurrentRegistry()),
		Protocol:      s.Protocol(),
		RemoteAddr:    remote,
		ClientSetup:   prop.setup,
		ClientVO:      prop.vo,
		ClientVersion: prop.version,
	}
	if !s.svc.HasName(prop.service) {
		refuse(diracrpc.NotUp(prop.service))
		return
	}
	authPath := prop.action
	switch prop.actionType {
	case "RPC":
	case "FileTransfer":
		authPath = "FileTransfer/" + prop.action
	case "Connection", "Message":
		authPath = prop.actionType + "/Default"
	default:
		refuse(&diracrpc.Error{Message: prop.actionType + " is not a known action type"})
		return
	}
	req.Method = authPath
	if e := s.svc.Authorize(ctx, req); e != nil {
		refuse(e)
		return
	}
	req.Method = prop.action
	if prop.actionType != "RPC" && prop.actionType != "FileTransfer" {
		// Messaging is not implemented by this server.
		refuse(&diracrpc.Error{Message: "Unknown action " + prop.actionType})
		return
	}
	if m, ok := s.svc.Lookup(prop.action); ok && m.Delegate {
		// The method works with the caller's proxy: ask for it (§4.12).
		if req.Delegated, err = delegate(ctx, conn, s, peer); err != nil {
			log.Info("diracrpc server: delegation failed", "method", prop.action, "err", err)
			return
		}
	}
	// R1.
	if !send(diracrpc.OK(nil)) {
		return
	}
	if prop.actionType == "FileTransfer" {
		req.Method = authPath
		s.serveTransfer(ctx, conn, req, prop.action, send, final, sc, log)
		return
	}
	// F2: the arguments.
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	av, _, err := conn.Recv(s.cfg.MaxFrameSize)
	if err != nil {
		log.Info("diracrpc server: cannot receive arguments", "method", prop.action, "err", err)
		return
	}
	// A client waiting long for the answer may send a keep-alive ping we
	// never read: that is fine, the connection closes after the result.
	_ = nc.SetReadDeadline(time.Time{})
	args, err := parseArgs(av)
	if err != nil {
		log.Info("diracrpc server: invalid arguments", "method", prop.action, "err", err)
		final(errDict("Invalid arguments: " + err.Error()))
		return
	}
	req.Args = args
	select {
	case s.calls <- struct{}{}:
	case <-ctx.Done():
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	gone := watchPeer(nc, cancel)
	res := s.svc.invoke(ctx, req).result
	cancel()
	<-s.calls
	gone()
	final(res)
}

// sendFrame sends v on conn, a panic while encoding it (a Marshaler's)
// turned into an encode error: the connection's goroutine must not take the
// whole server down, as net/http's recovery keeps an HTTPS answer's panic to
// its own call. Nothing was written when the encoding panicked.
func sendFrame(conn *diset.Conn, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: encoding panicked: %v", diset.ErrEncode, p)
		}
	}()
	return conn.Send(v)
}

// logSendError logs a frame the server could not send: at Error when it
// could not be encoded (a result DIRAC's encoder refuses too: the client only
// sees the connection close, so the log is where the fault shows), at Debug
// when the peer went away or stalled (its business).
func logSendError(log *slog.Logger, method string, err error) {
	if errors.Is(err, diset.ErrEncode) {
		log.Error("diracrpc server: cannot encode answer", "method", method, "err", err)
		return
	}
	log.Debug("diracrpc server: send failed", "method", method, "err", err)
}

// watchPeer cancels the handler's context when the client goes away while
// the handler runs (DISET clients send nothing more after the arguments, except
// at most one keep-alive ping, which is read and ignored). The returned
// function stops the watch and waits for it.
func watchPeer(nc net.Conn, cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	var stopping atomic.Bool
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			if _, err := nc.Read(buf); err != nil {
				if !stopping.Load() {
					cancel()
				}
				return
			}
		}
	}()
	return func() {
		stopping.Store(true)
		_ = nc.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = nc.SetReadDeadline(time.Time{})
	}
}

type proposal struct {
	service, setup, vo string
	actionType, action string
	extra              any
	version            string
}

// parseProposal reads S_OK([[service, setup, vo], [type, name], extra, version]),
// accepting the older forms without VO and without version.
func parseProposal(v any) (*proposal, error) {
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return nil, err
	}
	items, ok := seq(val)
	if !ok || len(items) < 2 {
		return nil, fmt.Errorf("proposal is %T with %d items", val, len(items))
	}
	p := &proposal{}
	svc, ok := seq(items[0])
	if !ok || len(svc) < 1 {
		return nil, errors.New("proposal's service item is not a list")
	}
	if p.service, ok = svc[0].(string); !ok {
		return nil, errors.New("proposal's service name is not a string")
	}
	if len(svc) > 1 {
		p.setup = text(svc[1])
	}
	if len(svc) > 2 {
		p.vo = text(svc[2])
	}
	act, ok := seq(items[1])
	if !ok || len(act) != 2 {
		return nil, errors.New("proposal's action is not [type, name]")
	}
	p.actionType, ok = act[0].(string)
	if !ok {
		return nil, errors.New("proposal's action type is not a string")
	}
	p.action, ok = act[1].(string)
	if !ok {
		return nil, errors.New("proposal's action name is not a string")
	}
	if len(items) > 2 {
		p.extra = items[2]
	}
	if len(items) > 3 {
		p.version = text(items[3])
	}
	return p, nil
}

func parseArgs(v any) ([]any, error) {
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return nil, err
	}
	args, ok := seq(val)
	if !ok {
		return nil, fmt.Errorf("arguments are a %T, not a list", val)
	}
	return args, nil
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprint(v)
}
