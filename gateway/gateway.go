// Package gateway is a DIRAC-compatible gateway (DIRAC's Framework/Gateway,
// PROTOCOL.md §4.10 and §4.12) that bridges DISET and HTTPS, so that
// unmodified DIRAC clients reach services whatever protocol they now speak.
//
// DISET in: DIRAC clients with /DIRAC/Gateways/<site> set send every DISET
// call to the gateway, still naming the real service in the proposal. The
// gateway asks the caller to delegate a proxy (once per identity, cached in
// memory for min(its lifetime, 1 h)), resolves the real service with a
// selector (its Mode decides the protocol per service, prefer-https
// included) and forwards the call with the delegated proxy, so the service
// sees the real user. Results, S_ERRORs and framework errors go back
// unchanged (a DISET or HTTPS result payload byte for byte); DISET file
// transfers are relayed chunk by chunk to services reached over DISET.
// Messaging connections (action Connection) are refused. A service the
// configuration does not lead to is refused before any delegation, as a
// server refuses one it does not serve ("<service> is not up in this
// server"); an HTTPS service's 404 and 401/403 reach callers in DISET's
// words ("not up", "Unauthorized query" with ENOAUTH), so that callers
// tell them apart as they would calling directly.
//
// HTTPS in: Tornado-style POSTs to https://gateway/<System>/<Component>
// reach the service, on DISET or HTTPS. HTTPS carries no delegation, so this
// direction needs the gateway's own host credential acting as a DIRAC trusted
// host (extraCredentials [DN, group]); it is refused unless
// Config.TrustedHost is set.
//
// Every refused or failed call, in by DISET or HTTPS, gets one log line
// ("gateway: call failed"; a service's own S_ERROR only at Debug).
//
// Configuration/Server.getCompressedDataIfNewer is forwarded to the
// Configuration Server like any call (DIRAC's gateway answers it from its own
// copy of the configuration): clients get the CS's current data, and the
// gateway holds no configuration it would have to keep fresh.
//
// The gateway never widens rights: the service authorises the delegated
// proxy (the caller's identity, group and limitation, checked by
// credentials.ProxyRequest.Accept); chains the gateway's verifier refuses
// (CRLs, ChainPolicy) are refused at the handshake; the host credential is
// used only for HTTPS-in calls, only when configured, never for limited
// proxies (forwarding would lose the limitation) and never for callers
// without a group.
//
// Metrics and traces: give MeterProvider and TracerProvider to
// ServerConfig.DISET and ServerConfig.HTTPS (the calls in: rpc.server.*,
// rpc.system of the protocol in) and to Config.Selector.Client (the calls
// out: rpc.client.*, retries, bans, breakers), and serve
// promexport's Handler through ServerConfig.Admin. A DISET-in call's server
// span is the parent of its forwarded call's client spans (DIRAC's
// protocols carry no trace context, so the chain starts at the gateway).
// Observer remains for other uses of each call's Event.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// Name is the gateway's own service name, as DIRAC names it.
const Name = "Framework/Gateway"

// DefaultDelegationTTL is DIRAC's gateway cache time for a delegated proxy.
const DefaultDelegationTTL = time.Hour

// Config configures a Gateway. Selector is required; the rest has defaults.
type Config struct {
	// Selector resolves and reaches the real services: its Resolver (the
	// configuration or CS), Mode and Services (the protocol per service,
	// prefer-https included), and Client options (CAs, timeouts, attempts,
	// breakers). Its Client.Credential, ExtraCredentials, DelegatedDN/Group,
	// Setup and VO are set per call from the caller.
	Selector selector.Options
	// DelegationTTL bounds how long a delegated proxy is kept (in memory
	// only); it is also cut to the proxy's lifetime. Default
	// DefaultDelegationTTL (DIRAC's hour).
	DelegationTTL time.Duration
	// TrustedHost enables HTTPS in: the gateway calls the service with
	// HostCredential, forwarding the caller's DN and group as DIRAC's trusted
	// hosts do. The host must have the TrustedHost property in the
	// Registry. Default false: HTTPS-in calls are refused.
	TrustedHost bool
	// HostCredential is the gateway's host certificate, used on a caller's
	// behalf only when TrustedHost is set.
	HostCredential *credentials.Credential
	// Shadow, when set, receives every forwarded RPC after its answer went
	// back, to mirror it to a candidate (package shadow).
	Shadow Mirror
	// MaxTransfers bounds the file transfers relayed at once; beyond it a
	// transfer is refused before anything is delegated. Default 16.
	MaxTransfers int
	// MaxTransferBytes bounds an upload's size (declared and actual), as
	// DIRAC's gateway does (100 MiB there). Default 0: no limit; the data is
	// relayed chunk by chunk, never held whole.
	MaxTransferBytes int64
	// Observer, when set, is told about every call (the seam for metrics
	// and traces).
	Observer Observer
	// Logger receives one line per refused or failed call; nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of the delegation cache; nil: time.Now.
	Now func() time.Time
}

// Mirror receives forwarded calls and their primary answers (package
// shadow implements it). Mirror must return at once: the primary's answer
// has been sent and nothing may wait for the mirror.
type Mirror interface {
	Mirror(call Call, primary Outcome)
}

// Call is a forwarded call: the service, method and arguments, and a way to
// make the same call again with the caller's identity (the A/A baseline).
type Call struct {
	Service, Method string
	Args            []any
	// Again makes the call again to the primary, as the same caller.
	Again func(ctx context.Context) (*diracrpc.Result, error)
	// Dial returns a client of another endpoint (a candidate's URL or
	// name) calling as the same caller (the delegated proxy, or the
	// trusted-host forwarding).
	Dial func(ctx context.Context, nameOrURL string) (*diracrpc.Client, error)
}

// Outcome is a primary's answer.
type Outcome struct {
	Result  *diracrpc.Result
	Err     error
	Elapsed time.Duration
}

// Gateway forwards calls. It implements server.DISETHandler for DISET in;
// HTTPSService serves HTTPS in. It is safe for concurrent use.
type Gateway struct {
	cfg       Config
	transfers chan struct{} // MaxTransfers tokens
	log       *slog.Logger
	now       func() time.Time
	cache     *cache
	// routes only plans routes (it never builds a client): whether the
	// configuration leads to a service, asked before delegating.
	routes *selector.RPCClientSelector
}

// New returns a gateway.
func New(cfg Config) (*Gateway, error) {
	if cfg.TrustedHost && cfg.HostCredential == nil {
		return nil, errors.New("gateway: TrustedHost needs HostCredential")
	}
	if cfg.DelegationTTL <= 0 {
		cfg.DelegationTTL = DefaultDelegationTTL
	}
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = 16
	}
	g := &Gateway{cfg: cfg, log: cfg.Logger, now: cfg.Now, transfers: make(chan struct{}, cfg.MaxTransfers)}
	if g.log == nil {
		g.log = slog.Default()
	}
	ro := cfg.Selector
	if ro.Logger == nil {
		ro.Logger = g.log
	}
	g.routes = selector.New(ro)
	if g.now == nil {
		g.now = time.Now
	}
	g.cache = newCache(g.now)
	return g, nil
}

// Close releases the cached delegated proxies and their clients.
func (g *Gateway) Close() error {
	return errors.Join(g.cache.close(), g.routes.Close())
}

// serviceName reports whether name is a "System/Component" name (not a URL).
func serviceName(name string) bool {
	if endpoint.IsURL(name) {
		return false
	}
	_, _, err := endpoint.SplitService(name)
	return err == nil
}

// takeTransfer takes a transfer slot, or returns nil when none is free.
func (g *Gateway) takeTransfer() (release func()) {
	select {
	case g.transfers <- struct{}{}:
		return func() { <-g.transfers }
	default:
		return nil
	}
}

// identity is the cache key of a delegated proxy: DIRAC's (DN, group,
// extraCredentials, isLimitedProxy).
type identity struct {
	DN, Group, Extra string
	Limited          bool
}

func identityOf(p *credentials.PeerCredentials, extra any) identity {
	return identity{DN: p.DN, Group: p.Group, Extra: extraKey(extra), Limited: p.IsLimitedProxy}
}

func extraKey(extra any) string {
	switch e := extra.(type) {
	case nil:
		return ""
	case string:
		return e
	}
	return compat.Repr(extra) // [DN, group] lists: one key per value
}

// ServeDISET serves one DISET connection (server.DISETHandler).
func (g *Gateway) ServeDISET(ctx context.Context, call *server.DISETCall) {
	ev := Event{In: diracrpc.DIPS, Service: call.Service, Method: call.Action, Action: call.ActionType}
	dn := ""
	if call.Peer != nil {
		dn = call.Peer.DN
	}
	defer g.finish(ctx, &ev, g.now(), dn, call.RemoteAddr, call.Done) // Done: the server's telemetry (the answer went back raw)
	if call.Peer == nil {
		ev.Err = errNoCertificate
		call.Refuse(&diracrpc.Error{Errno: diracrpc.ENOAUTH, Message: diracrpc.FormatMessage(diracrpc.ENOAUTH, "the gateway needs a client certificate (dips://)")})
		return
	}
	if !serviceName(call.Service) {
		// Only names the configuration resolves: a URL here would make the
		// gateway connect wherever a caller asks.
		ev.Err = errServiceName
		call.Refuse(diracrpc.NotUp(call.Service))
		return
	}
	if err := g.notServed(ctx, call.Service); err != nil {
		// Refused as a server refuses a service it does not serve, before
		// anything is delegated: the caller sees what a direct call shows.
		ev.Err = err
		call.Refuse(diracrpc.NotUp(call.Service))
		return
	}
	var release func()
	switch call.ActionType {
	case "RPC":
	case filetransfer.ActionType:
		if !filetransfer.Direction(call.Action).Valid() {
			ev.Err = errAction
			call.Refuse(&diracrpc.Error{Message: "Cannot forward unknown method " + call.Action})
			return
		}
		if release = g.takeTransfer(); release == nil {
			ev.Err = errTransfers
			call.Refuse(&diracrpc.Error{Message: "Too many file transfers through the gateway; try later"})
			return
		}
		defer release()
	default:
		ev.Err = errAction
		call.Refuse(&diracrpc.Error{Message: "Unknown type of action (" + call.ActionType + ")"})
		return
	}
	id := identityOf(call.Peer, call.ExtraCredentials)
	ent, cached, finish := g.cache.claim(ctx, id)
	ev.CachedDelegation = cached
	if !cached {
		cred, err := call.Delegate(ctx)
		if err != nil {
			finish(nil)
			ev.Err = fmt.Errorf("delegation: %w", err)
			return
		}
		ent = g.cache.put(id, cred, call.ExtraCredentials, nil, g.cfg.DelegationTTL)
		finish(ent)
	}
	if err := call.Accept(); err != nil {
		ev.Err = err
		return
	}
	if call.ActionType == filetransfer.ActionType {
		ev.Out = diracrpc.DIPS
		ev.Err = g.serveTransfer(ctx, call, ent, filetransfer.Direction(call.Action))
		return
	}
	av, _, err := call.Recv(0)
	if err != nil {
		ev.Err = fmt.Errorf("receiving the arguments: %w", err)
		return
	}
	args, err := parseArgs(av)
	if err != nil {
		ev.Err = err
		_ = call.Reply((&diracrpc.Error{Message: "Error while receiving file description: " + err.Error()}).Dict(false))
		return
	}
	sel, err := g.selectorFor(ent, call.Setup, call.VO)
	if err != nil {
		ev.Err = err
		_ = call.Reply((&diracrpc.Error{Message: err.Error()}).Dict(false))
		return
	}
	again := func(ctx context.Context) (*diracrpc.Result, error) {
		var out diracrpc.Protocol
		return forward(ctx, sel, &out, call.Service, call.Action, args)
	}
	var out diracrpc.Protocol
	fstart := g.now()
	// The answer goes back as it came (see reply): the client need not
	// decode an S_OK.
	res, err := forward(diracrpc.WithRawResult(ctx), sel, &out, call.Service, call.Action, args)
	elapsed := g.now().Sub(fstart)
	ev.Out, ev.Err = out, err
	if g.cfg.Shadow != nil {
		// Mirror only queues (it never blocks): done before the reply so
		// that a caller who got its answer knows the copy was queued.
		g.cfg.Shadow.Mirror(Call{Service: call.Service, Method: call.Action, Args: args, Again: again, Dial: sel.Select},
			Outcome{Result: res, Err: err, Elapsed: elapsed})
	}
	g.reply(call, res, err)
}

// finish ends a call through the gateway, whichever protocol it came in
// by: one log line when it was refused or failed, done (when set) and the
// Observer told. A service's own S_ERROR is its answer, worth a line only
// when debugging.
func (g *Gateway) finish(ctx context.Context, ev *Event, start time.Time, dn, remote string, done func(error)) {
	ev.Duration = g.now().Sub(start)
	if ev.Err != nil {
		level := slog.LevelInfo
		if diracrpc.CodeOf(ev.Err) == diracrpc.CodeServiceError {
			level = slog.LevelDebug
		}
		g.log.Log(ctx, level, "gateway: call failed", "service", ev.Service, "method", ev.Method, "action", ev.Action,
			"dn", dn, "remote", remote, "err", ev.Err)
	}
	if done != nil {
		done(ev.Err)
	}
	if g.cfg.Observer != nil {
		g.cfg.Observer.Observe(*ev)
	}
}

// notServed returns why the gateway's configuration does not lead to
// service (a name it does not define, no URL for the selector's mode...),
// or nil. Other failures, a Configuration Server out of reach among them
// (CodeOf gives its own code), are left for the call to report.
func (g *Gateway) notServed(ctx context.Context, service string) error {
	_, err := g.routes.Route(ctx, service)
	if diracrpc.CodeOf(err) == diracrpc.CodeConfiguration {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

var (
	errNoCertificate = errors.New("gateway: caller without certificate")
	errTransfers     = errors.New("gateway: too many file transfers")
	errAction        = errors.New("gateway: unknown action type")
	errServiceName   = errors.New("gateway: not a System/Component service name")
)

// forward makes the call with the service's client from sel; out receives
// the protocol the service was called with (where the answer came from, or
// the client's protocol for an S_ERROR).
func forward(ctx context.Context, sel *selector.RPCClientSelector, out *diracrpc.Protocol, service, method string, args []any) (*diracrpc.Result, error) {
	c, err := sel.Select(ctx, service)
	if err != nil {
		return nil, err
	}
	res, err := c.Call(ctx, method, args...)
	switch {
	case res != nil:
		*out = res.Protocol
	default:
		*out = c.Protocol()
		var te *diracrpc.TransportError
		if errors.As(err, &te) {
			*out = te.Protocol
		}
	}
	return res, err
}

// reply sends the service's answer as it came: a result payload byte for
// byte when it is a DIRAC result structure, an S_ERROR with its Errno,
// Message and CallStack; a failure to reach the service becomes an S_ERROR
// as DIRAC's RPCClient reports it to DIRAC's gateway.
func (g *Gateway) reply(call *server.DISETCall, res *diracrpc.Result, err error) {
	if err == nil {
		if res.Undecoded || res.Raw != nil && isResultPayload(res.Raw) {
			_ = call.ReplyRaw(res.Raw)
			return
		}
		_ = call.Reply(diracrpc.OK(res.Value))
		return
	}
	_ = call.Reply(errorDict(call.Service, err))
}

// unauthorizedQuery is DIRAC's DISET framework refusal of a caller.
var unauthorizedQuery = diracrpc.NewError(diracrpc.ENOAUTH, "Unauthorized query")

// errorDict is the S_ERROR answering a call to service that failed with
// err. The service's own S_ERRORs (its results, its DISET framework's
// refusals) go back as they came. The gateway's failures to lead the call
// there are said as DIRAC's DISET framework says them of a direct call, so
// that callers classify them alike (diracrpc.Error.Code): a service the
// configuration does not lead to, or whose server does not serve it (an
// HTTPS 404), is "not up in this server"; an HTTPS service's refusal of
// the caller (401, 403) is "Unauthorized query" (ENOAUTH).
func errorDict(service string, err error) *value.Dict {
	var de *diracrpc.Error
	if errors.As(err, &de) && !de.Local {
		return de.Dict(true)
	}
	switch diracrpc.CodeOf(err) {
	case diracrpc.CodeNotFound, diracrpc.CodeConfiguration:
		return diracrpc.NotUp(service).Dict(false)
	case diracrpc.CodeUnauthorized:
		return unauthorizedQuery.Dict(false)
	}
	if de != nil {
		// What DIRAC's HTTPS client makes up for the answer (a 501's
		// ENOSYS), as it reports it.
		return de.Dict(true)
	}
	var te *diracrpc.TransportError
	if errors.As(err, &te) && te.Protocol == diracrpc.HTTPS && te.Code == diracrpc.CodeServerFailure {
		// A Tornado handler that raised: its "500 Server Error: ..." as
		// DIRAC's HTTPS client reports it, without this library's prefix.
		return (&diracrpc.Error{Message: te.Err.Error()}).Dict(false)
	}
	return (&diracrpc.Error{Message: err.Error()}).Dict(false)
}

func isResultPayload(raw []byte) bool {
	v, _, err := mixed.Decode(raw)
	if err != nil {
		return false
	}
	d, ok := v.(*value.Dict)
	return ok && d.Has("OK")
}

func parseArgs(v any) ([]any, error) {
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return nil, err
	}
	switch a := val.(type) {
	case []any:
		return a, nil
	case value.Tuple:
		return []any(a), nil
	}
	return nil, fmt.Errorf("arguments are a %T, not a list", val)
}

// selectorFor returns the selector calling with ent's credential for this
// setup and VO: one per (identity, setup, VO), so that its clients, bans
// and breakers last across calls.
func (g *Gateway) selectorFor(ent *entry, setup, vo string) (*selector.RPCClientSelector, error) {
	return ent.selector(setup+"\x00"+vo, func() *selector.RPCClientSelector {
		o := g.cfg.Selector
		o.Client.Credential = ent.cred
		o.Client.UseCertificates = false
		o.Client.ProxyLocation = ""
		o.Client.ExtraCredentials, o.Client.DelegatedDN, o.Client.DelegatedGroup = "", "", ""
		o.Client.Setup, o.Client.VO = setup, vo
		if ent.trusted != nil {
			o.Client.UseCertificates = true
			o.Client.DelegatedDN, o.Client.DelegatedGroup = ent.trusted.DN, ent.trusted.Group
		} else {
			setExtra(&o.Client, ent.extra)
		}
		if o.Logger == nil {
			o.Logger = g.log
		}
		if o.Client.Logger == nil {
			o.Client.Logger = g.log
		}
		return selector.New(o)
	}), nil
}

// setExtra puts the caller's extraCredentials on the forwarded call: a
// string as it is ("hosts", a group), a [DN, group] list as DIRAC's
// delegatedDN/delegatedGroup (the service then checks the caller is a
// trusted host, as it would for a direct call).
func setExtra(o *diracrpc.Options, extra any) {
	switch e := extra.(type) {
	case string:
		o.ExtraCredentials = e
	case []any:
		if len(e) == 2 {
			dn, _ := e[0].(string)
			group, _ := e[1].(string)
			o.DelegatedDN, o.DelegatedGroup = dn, group
		}
	case value.Tuple:
		setExtra(o, []any(e))
	}
}
