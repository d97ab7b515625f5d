package selector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/value"
)

// ErrLegacyAdapter is returned for a service the configuration routes to
// DiracX's legacy adapter (/DiracX/LegacyClientEnabled/<System>/<Component>):
// DiracX speaks another protocol, which diracrpc does not implement. DIRAC
// itself would silently fall back to DISET when the client class has no
// DiracX client.
var ErrLegacyAdapter error = configError("selector: the DiracX legacy adapter is enabled for this service, and DiracX is not supported")

// ErrMixedProtocols is returned (in auto mode) for a service whose main URLs
// mix DISET and HTTPS and whose Protocol option does not choose: DIRAC would
// pick one at random. Choose with a Mode or the service's Protocol option.
var ErrMixedProtocols error = configError("selector: the service's URLs mix dips:// and https://; choose a protocol with a Mode")

// ErrNoURLForMode is returned when the Mode asks for a protocol the service
// has no URL for.
var ErrNoURLForMode error = configError("selector: the service has no URL for the protocol its Mode asks for")

// errBadMode: a mode that is none of the modes.
var errBadMode error = configError("selector: unknown protocol mode")

// configError is a selector sentinel: the configuration does not lead to
// the service, diracrpc.ErrConfiguration (CodeConfiguration).
type configError string

func (e configError) Error() string        { return string(e) }
func (e configError) Is(target error) bool { return target == diracrpc.ErrConfiguration }

// Mode says which protocol the selector uses for a service.
type Mode string

// The modes. In cfg options they are written as the strings below (any case).
const (
	// Auto: the scheme of the URLs decides, as DIRAC's ClientSelector does.
	// When the main URLs mix the protocols, the service's Protocol option
	// (/Systems/<System>/<Instance>/Services/<Component>/Protocol, dips or
	// https, which tells DIRAC's servers who serves the service) decides;
	// without it the mix is an error (ErrMixedProtocols).
	Auto Mode = "auto"
	// DISET: only the dips:// and dip:// URLs of the service are used.
	DISET Mode = "dips"
	// HTTPS: only the https:// URLs of the service are used.
	HTTPS Mode = "https"
	// PreferHTTPS: calls go to the HTTPS URLs; while the HTTPS client
	// refuses them because its circuit breaker is open
	// (diracrpc.ErrCircuitOpen: nothing was sent), they go to the DISET URLs.
	// A service with URLs of one protocol only just uses them.
	PreferHTTPS Mode = "prefer-https"
)

// ParseMode reads a mode as written in the configuration: auto, dips (or
// dip, diset), https, prefer-https. Empty means Auto.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "dips", "dip", "diset":
		return DISET, nil
	case "https":
		return HTTPS, nil
	case "prefer-https", "preferhttps":
		return PreferHTTPS, nil
	}
	return "", fmt.Errorf("%w %q (auto, dips, https, prefer-https)", errBadMode, s)
}

// Configuration paths read by the selector. The per-service option
// overrides the global one.
const (
	// CfgProtocol is the mode of every service.
	CfgProtocol = "/DIRAC/Selector/Protocol"
	// CfgServices holds one option per service: <System>/<Component> = <mode>,
	// that is /DIRAC/Selector/Services/<System>/<Component>.
	CfgServices = "/DIRAC/Selector/Services"
)

// Options configures an RPCClientSelector. The zero value accepts URLs only
// and builds clients with the zero options (a proxy and CA directory found
// the usual way).
type Options struct {
	// Resolver resolves service names (and supplies gateways, the legacy
	// adapter switch, the selector's cfg options, the setup and the VO). Nil:
	// only URLs are accepted.
	Resolver *endpoint.Resolver
	// Mode is the mode of every service; it wins over /DIRAC/Selector/Protocol.
	// Empty: the configuration's, else Auto.
	Mode Mode
	// Services sets the mode of single services ("System/Component"); it
	// wins over /DIRAC/Selector/Services/<System>/<Component> and over every
	// global mode.
	Services map[string]Mode
	// Client holds the options every client shares: credentials, CAs,
	// timeouts, attempts, breakers... The configuration fills what it leaves
	// empty (the setup and VO, a timeout from /DIRAC/ConnConf); a replayed
	// stub's keywords override it. Its Service and FailoverURLs are set per
	// service.
	Client diracrpc.Options
	// DISET and HTTPS are the protocols' own options.
	DISET disetclient.Options
	HTTPS httpsclient.Options
	// Logger receives the fallbacks of PreferHTTPS; nil: slog.Default().
	Logger *slog.Logger
}

// RPCClientSelector turns an endpoint (a DIRAC service name or URL) into a
// *diracrpc.Client of the right protocol, as DIRAC's RPCClientSelector
// does, without its silent fallbacks. It keeps the client it built for each
// service, so that connection reuse, bans and circuit breakers last across
// calls, and builds a new one when the service's URLs change (after a
// configuration refresh). It is safe for concurrent use.
type RPCClientSelector struct {
	opts Options
	log  *slog.Logger
	// build makes the client of one protocol (tests replace it).
	build func(p diracrpc.Protocol, main []string, o diracrpc.Options) (*diracrpc.Client, error)

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	key    string
	client *diracrpc.Client
}

// New returns a selector.
func New(opts Options) *RPCClientSelector {
	s := &RPCClientSelector{opts: opts, log: opts.Logger, cache: make(map[string]cached)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.build = s.newClient
	return s
}

// newClient builds the client of protocol p.
func (s *RPCClientSelector) newClient(p diracrpc.Protocol, main []string, o diracrpc.Options) (*diracrpc.Client, error) {
	if p == diracrpc.HTTPS {
		return httpsclient.New(main, o, s.opts.HTTPS)
	}
	return disetclient.New(main, o, s.opts.DISET)
}

// Select returns the client for nameOrURL.
//
// A URL (starting with "dip" or "http", as DIRAC tests it) is used as given:
// its scheme decides (dips://, dip:// → DISET, https:// → HTTPS), modes do
// not apply; a gateway still does (see endpoint.Resolver). A
// "System/Component" name is resolved first, then:
//   - if /DiracX/LegacyClientEnabled/<System>/<Component> is true, the error
//     is ErrLegacyAdapter;
//   - the mode (Options.Services, /DIRAC/Selector/Services/<System>/<Component>,
//     Options.Mode, /DIRAC/Selector/Protocol, Auto, first found wins) chooses
//     the URLs and the protocol.
//
// Every failure is returned: where DIRAC's selector would log a warning and
// fall back to DISET, this one does not guess.
func (s *RPCClientSelector) Select(ctx context.Context, nameOrURL string) (*diracrpc.Client, error) {
	return s.selectWith(ctx, nameOrURL, nil)
}

// selectWith selects with stub's keywords applied (nil: the selector's
// options, and the cache).
func (s *RPCClientSelector) selectWith(ctx context.Context, nameOrURL string, stub *value.Dict) (*diracrpc.Client, error) {
	name := strings.TrimSpace(nameOrURL)
	res, conf, mode, err := s.resolveMode(ctx, name)
	if err != nil {
		return nil, err
	}
	o := s.options(conf, res)
	o.Service = name // the stubs name what the caller gave
	if stub != nil {
		if o, err = o.WithStub(stub); err != nil {
			return nil, err
		}
	}

	// The main URLs come shuffled from every resolution: the key must not
	// depend on their order, or each Select would build a new client.
	key := fmt.Sprint(mode, serviceProtocol(conf, res), sorted(res.Main), res.Failover, o.Setup, o.VO, o.Timeout)
	if stub == nil {
		s.mu.Lock()
		c, ok := s.cache[name]
		s.mu.Unlock()
		if ok && c.key == key {
			return c.client, nil
		}
	}
	r, err := plan(mode, conf, res)
	if err != nil {
		return nil, err
	}
	client, err := s.buildRoute(r, o)
	if err != nil {
		return nil, err
	}
	if stub == nil {
		s.mu.Lock()
		old, had := s.cache[name]
		s.cache[name] = cached{key: key, client: client}
		s.mu.Unlock()
		if had {
			_ = old.client.Close() // idle connections only
		}
	}
	return client, nil
}

// resolveMode resolves name (a URL or a service name) and finds its mode:
// Auto for a URL; for a name, the mode Select documents, after the DiracX
// legacy adapter check.
func (s *RPCClientSelector) resolveMode(ctx context.Context, name string) (*endpoint.Resolution, *cfg.Config, Mode, error) {
	isURL := endpoint.IsURL(name)
	res, conf, err := s.resolve(ctx, name, isURL)
	if err != nil || isURL {
		return res, conf, Auto, err
	}
	if conf != nil {
		if on, _ := conf.GetBool("/DiracX/LegacyClientEnabled/" + res.Service); on {
			return nil, nil, "", fmt.Errorf("%w: %s (/DiracX/LegacyClientEnabled/%s)", ErrLegacyAdapter, res.Service, res.Service)
		}
	}
	mode, err := s.mode(conf, res.Service)
	return res, conf, mode, err
}

// resolve returns the resolution and the configuration (nil without a
// Resolver).
func (s *RPCClientSelector) resolve(ctx context.Context, name string, isURL bool) (*endpoint.Resolution, *cfg.Config, error) {
	if s.opts.Resolver == nil {
		if !isURL {
			return nil, nil, fmt.Errorf("selector: %q is not a URL and the selector has no Resolver for service names", name)
		}
		u, err := endpoint.ParseURL(name)
		if err != nil {
			return nil, nil, fmt.Errorf("selector: %w", err)
		}
		return &endpoint.Resolution{Service: u.Service(), Main: []string{u.String()}}, nil, nil
	}
	conf, err := s.opts.Resolver.Config(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("selector: configuration for %q: %w", name, err)
	}
	res, err := s.opts.Resolver.Resolve(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("selector: %w", err)
	}
	return res, conf, nil
}

// mode applies the precedence documented on Select.
func (s *RPCClientSelector) mode(conf *cfg.Config, service string) (Mode, error) {
	if m, ok := s.opts.Services[service]; ok && m != "" {
		return ParseMode(string(m))
	}
	if conf != nil {
		if v, ok := conf.Get(CfgServices + "/" + service); ok {
			m, err := ParseMode(v)
			if err != nil {
				return "", fmt.Errorf("%w (option %s/%s)", err, CfgServices, service)
			}
			return m, nil
		}
	}
	if s.opts.Mode != "" {
		return ParseMode(string(s.opts.Mode))
	}
	if conf != nil {
		if v, ok := conf.Get(CfgProtocol); ok {
			m, err := ParseMode(v)
			if err != nil {
				return "", fmt.Errorf("%w (option %s)", err, CfgProtocol)
			}
			return m, nil
		}
	}
	return Auto, nil
}

// options are the selector's client options completed by what the
// configuration implies: its setup and VO, and the timeout of
// /DIRAC/ConnConf when every URL of the service shares one host. The
// selector's own values win. Other ConnConf options (skipCACheck in
// particular) are ignored on purpose: switching TLS verification off is the
// caller's decision, never the remote configuration's.
func (s *RPCClientSelector) options(conf *cfg.Config, res *endpoint.Resolution) diracrpc.Options {
	o := s.opts.Client
	if o.Logger == nil {
		o.Logger = s.opts.Logger
	}
	setup, vo := "", ""
	if s.opts.Resolver != nil {
		setup, vo = s.opts.Resolver.Setup, s.opts.Resolver.VO
	}
	if conf != nil {
		if setup == "" {
			setup = strings.TrimSpace(conf.GetDefault("/DIRAC/Setup", ""))
		}
		if vo == "" {
			vo = strings.TrimSpace(conf.GetDefault("/DIRAC/VirtualOrganization", ""))
		}
	}
	if res.Setup != "" {
		setup = res.Setup
	}
	if o.Setup == "" {
		o.Setup = setup
	}
	if o.VO == "" {
		o.VO = vo
	}
	if o.Timeout == 0 && len(res.ConnConf) == 1 && len(hosts(res.URLs())) == 1 {
		for _, opts := range res.ConnConf {
			if n, err := strconv.ParseFloat(strings.TrimSpace(opts["timeout"]), 64); err == nil && n > 0 {
				o.Timeout = time.Duration(n * float64(time.Second))
			}
		}
	}
	return o
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func hosts(urls []string) []string {
	var out []string
	for _, raw := range urls {
		if u, err := endpoint.ParseURL(raw); err == nil && !slices.Contains(out, u.Addr()) {
			out = append(out, u.Addr())
		}
	}
	return out
}

func isDISET(p diracrpc.Protocol) bool { return p == diracrpc.DIPS || p == diracrpc.DIP }
func isHTTPS(p diracrpc.Protocol) bool { return p == diracrpc.HTTPS }

// Route is where the selector sends the calls of one service: the
// protocol its mode picks and that protocol's URLs.
type Route struct {
	// Service is the resolved "System/Component" (for a URL, its path).
	Service string
	// Mode is the mode that chose the route (Auto for a URL).
	Mode Mode
	// Protocol is DIPS for the DISET family (dips:// and dip:// URLs alike),
	// or HTTPS.
	Protocol diracrpc.Protocol
	// Main and Failover are the URLs of that protocol, Main shuffled.
	Main, Failover []string
	// Fallback is set in PreferHTTPS mode when the service has URLs of both
	// protocols: the DISET route taken while the HTTPS client's circuit
	// breaker is open.
	Fallback *Route
}

// Route returns the route the selector takes for nameOrURL, without
// building a client: the decision Select makes (see Select), for tools that
// report or make the call themselves.
func (s *RPCClientSelector) Route(ctx context.Context, nameOrURL string) (*Route, error) {
	name := strings.TrimSpace(nameOrURL)
	res, conf, mode, err := s.resolveMode(ctx, name)
	if err != nil {
		return nil, err
	}
	return plan(mode, conf, res)
}

// plan chooses the protocol and URLs of a resolution in a mode.
func plan(mode Mode, conf *cfg.Config, res *endpoint.Resolution) (*Route, error) {
	diset := res.Filter(isDISET)
	https := res.Filter(isHTTPS)
	routeOf := func(r *endpoint.Resolution, p diracrpc.Protocol) *Route {
		return &Route{Service: res.Service, Mode: mode, Protocol: p, Main: r.Main, Failover: r.Failover}
	}
	noURL := func(want string) error {
		return fmt.Errorf("%w: %s has no %s URL (mode %s; URLs: %s)", ErrNoURLForMode, res.Service, want, mode,
			strings.Join(res.URLs(), ", "))
	}
	switch mode {
	case Auto:
		mainDISET, mainHTTPS := false, false
		for _, u := range res.Main {
			p := diracrpc.Protocol(u[:strings.Index(u, ":")])
			mainDISET = mainDISET || isDISET(p)
			mainHTTPS = mainHTTPS || isHTTPS(p)
		}
		if mainDISET && mainHTTPS {
			// The service section's Protocol option (read by DIRAC's servers
			// to decide who serves the service) settles it when present.
			switch serviceProtocol(conf, res) {
			case diracrpc.HTTPS:
				mainDISET = false
			case diracrpc.DIPS, diracrpc.DIP:
				mainHTTPS = false
			default:
				return nil, fmt.Errorf("%w: %s: %s", ErrMixedProtocols, res.Service, strings.Join(res.Main, ", "))
			}
		}
		switch {
		case mainHTTPS:
			// Failover URLs of the other protocol cannot be used by this client.
			return routeOf(https, diracrpc.HTTPS), nil
		case diset == nil:
			return nil, noURL("dips:// or dip://")
		}
		return routeOf(diset, diracrpc.DIPS), nil
	case DISET:
		if diset == nil {
			return nil, noURL("dips:// or dip://")
		}
		return routeOf(diset, diracrpc.DIPS), nil
	case HTTPS:
		if https == nil {
			return nil, noURL("https://")
		}
		return routeOf(https, diracrpc.HTTPS), nil
	case PreferHTTPS:
		switch {
		case https == nil:
			return routeOf(diset, diracrpc.DIPS), nil
		case diset == nil:
			return routeOf(https, diracrpc.HTTPS), nil
		}
		r := routeOf(https, diracrpc.HTTPS)
		r.Fallback = routeOf(diset, diracrpc.DIPS)
		return r, nil
	}
	return nil, fmt.Errorf("selector: unknown mode %q", mode)
}

// buildRoute makes the client of a route: one client, or in PreferHTTPS mode the
// HTTPS client falling back to the DISET one.
func (s *RPCClientSelector) buildRoute(r *Route, o diracrpc.Options) (*diracrpc.Client, error) {
	dial := func(r *Route) (*diracrpc.Client, error) {
		o := o
		o.FailoverURLs = r.Failover
		c, err := s.build(r.Protocol, r.Main, o)
		if err != nil {
			return nil, fmt.Errorf("selector: %s client for %s: %w", r.Protocol, r.Service, err)
		}
		return c, nil
	}
	primary, err := dial(r)
	if err != nil || r.Fallback == nil {
		return primary, err
	}
	fallback, err := dial(r.Fallback)
	if err != nil {
		_ = primary.Close()
		return nil, err
	}
	return diracrpc.Fallback(primary, fallback), nil
}

// serviceProtocol reads /Systems/<System>/<Instance>/Services/<Component>/Protocol
// ("" when absent or not resolved through the configuration).
func serviceProtocol(conf *cfg.Config, res *endpoint.Resolution) diracrpc.Protocol {
	if conf == nil || res.Instance == "" {
		return ""
	}
	system, component, _ := strings.Cut(res.Service, "/")
	v := conf.GetDefault("/Systems/"+system+"/"+res.Instance+"/Services/"+component+"/Protocol", "")
	return diracrpc.Protocol(strings.ToLower(strings.TrimSpace(v)))
}

// Close releases the idle connections of every client the selector built.
// Callers already handed out keep working.
func (s *RPCClientSelector) Close() error {
	s.mu.Lock()
	cache := s.cache
	s.cache = make(map[string]cached)
	s.mu.Unlock()
	for _, c := range cache {
		_ = c.client.Close()
	}
	return nil
}

// Call selects the client for nameOrURL and calls method on it: DIRAC's
// Client(url=...).method(...) in one line.
func (s *RPCClientSelector) Call(ctx context.Context, nameOrURL, method string, args ...any) (*diracrpc.Result, error) {
	c, err := s.Select(ctx, nameOrURL)
	if err != nil {
		return nil, err
	}
	return c.Call(ctx, method, args...)
}

// Replay makes the call a stub describes again, as DIRAC's executeRPCStub
// does: a client for the stub's service (name or URL) with the stub's
// keywords (see diracrpc.Options.WithStub: skipCACheck in a stub is ignored
// on purpose), then the method with the arguments.
func (s *RPCClientSelector) Replay(ctx context.Context, stub *diracrpc.Stub) (*diracrpc.Result, error) {
	if stub == nil {
		return nil, errors.New("selector: Replay of a nil stub")
	}
	opts := stub.Options
	if opts == nil {
		opts = value.NewDict()
	}
	c, err := s.selectWith(ctx, stub.Service, opts)
	if err != nil {
		return nil, err
	}
	return c.Call(ctx, stub.Method, stub.Args...)
}

// DialURL returns a client for one URL, of the protocol of its scheme: the
// endpoint.DialFunc that endpoint.Bootstrap needs to reach configuration
// servers. Modes and gateways do not apply (the Bootstrap handles gateways).
func (s *RPCClientSelector) DialURL(ctx context.Context, url string) (diracrpc.Caller, error) {
	u, err := endpoint.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	o := s.options(nil, &endpoint.Resolution{Service: u.Service(), Main: []string{url}})
	o.Service = url
	c, err := s.build(u.Protocol, []string{url}, o)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// NewFromConfig returns a selector whose names are resolved in the
// configuration a DIRAC client would use: local (the merged local files,
// cfg.Load) completed by the Configuration Service named in its
// /DIRAC/Configuration/Servers, reached with the selector's own dialers. It
// also returns the Bootstrap, to Refresh it or Run it in the background.
// opts.Resolver, when set, gives the setup, VO, site and gateway settings;
// its Source is replaced by the Bootstrap. bc.Local and bc.Dial are set by
// this function. Where credentials are (the CA directory of
// /DIRAC/Security/CALocation, ...) comes from local, as in DIRAC (see
// endpoint.SecurityLocator), unless opts.Client.Locator says; so does
// /DIRAC/Security/UseServerCertificate, which turns opts.Client.UseCertificates
// on when opts.Client names no credential (DIRAC's BaseClient takes it from
// gConfig when useCertificates is not given).
func NewFromConfig(local *cfg.Config, opts Options, bc endpoint.BootstrapConfig) (*RPCClientSelector, *endpoint.Bootstrap, error) {
	opts.Client.Locator = endpoint.SecurityLocator(local, opts.Client.Locator)
	if opts.Client.Credential == nil && opts.Client.ProxyLocation == "" && endpoint.UseServerCertificate(local) {
		opts.Client.UseCertificates = true
	}
	r := &endpoint.Resolver{}
	if opts.Resolver != nil {
		copied := *opts.Resolver
		r = &copied
	}
	opts.Resolver = r
	s := New(opts)
	bc.Local, bc.Dial = local, s.DialURL
	if bc.Site == "" {
		bc.Site = r.Site
	}
	bc.IgnoreGateways = bc.IgnoreGateways || r.IgnoreGateways
	b, err := endpoint.NewBootstrap(bc)
	if err != nil {
		return nil, nil, err
	}
	r.Source = b
	return s, b, nil
}
