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
var ErrLegacyAdapter = errors.New("selector: the DiracX legacy adapter is enabled for this service, and DiracX is not supported")

// ErrMixedProtocols is returned (in auto mode) for a service whose main URLs
// mix DISET and HTTPS and whose Protocol option does not choose: DIRAC would
// pick one at random. Choose with a Mode or the service's Protocol option.
var ErrMixedProtocols = errors.New("selector: the service's URLs mix dips:// and https://; choose a protocol with a Mode")

// ErrNoURLForMode is returned when the Mode asks for a protocol the service
// has no URL for.
var ErrNoURLForMode = errors.New("selector: the service has no URL for the protocol its Mode asks for")

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
	return "", fmt.Errorf("selector: unknown protocol mode %q (auto, dips, https, prefer-https)", s)
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

// Keywords are the client options DIRAC users pass as keyword arguments and
// that a replay stub keeps. Zero fields leave the clients' configuration
// alone.
type Keywords struct {
	Setup, VO                   string // DIRAC "setup", "VO"
	ExtraCredentials            string // DIRAC "extraCredentials" (a group or "hosts")
	DelegatedDN, DelegatedGroup string // DIRAC "delegatedDN", "delegatedGroup"
	ProxyLocation               string // DIRAC "proxyLocation"
	Timeout                     time.Duration
}

// Target is what a Dialer needs to build the client of one service.
type Target struct {
	// Name is what the caller gave: a "System/Component" name or a URL
	// (replay stubs name it).
	Name string
	// Service is "System/Component".
	Service string
	// Protocol is DIPS (dips:// and dip:// URLs, one DISET client) or HTTPS.
	Protocol diracrpc.Protocol
	// Main and Failover are the URLs (see endpoint.Resolution).
	Main, Failover []string
	// Defaults fill what the dialer's base configuration leaves empty: the
	// setup and VO of the configuration, a timeout from /DIRAC/ConnConf.
	Defaults Keywords
	// Keywords override the base configuration: a replayed stub's options.
	Keywords Keywords
}

// Dialer builds a client for a Target.
type Dialer func(ctx context.Context, t Target) (diracrpc.Caller, error)

// Options configures an RPCClientSelector. The zero value accepts URLs only
// and builds clients with the zero configurations of disetclient and
// httpsclient.
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
	// DISET and HTTPS build the protocol clients. Default: DISETDialer and
	// HTTPSDialer with the zero configuration (a proxy and CA directory found
	// the usual way); see NewDialers.
	DISET, HTTPS Dialer
	// Logger receives the fallbacks of PreferHTTPS; nil: slog.Default().
	Logger *slog.Logger
}

// RPCClientSelector turns an endpoint (a DIRAC service name or URL) into a
// diracrpc.Caller of the right protocol, as DIRAC's RPCClientSelector does,
// without its silent fallbacks. It keeps the client it built for each
// service, so that connection reuse and the HTTPS circuit breakers last
// across calls, and builds a new one when the service's URLs change (after
// a configuration refresh). It is safe for concurrent use.
type RPCClientSelector struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	key    string
	caller diracrpc.Caller
}

// New returns a selector.
func New(opts Options) *RPCClientSelector {
	if opts.DISET == nil || opts.HTTPS == nil {
		d, h := NewDialers(DialerConfig{})
		if opts.DISET == nil {
			opts.DISET = d
		}
		if opts.HTTPS == nil {
			opts.HTTPS = h
		}
	}
	s := &RPCClientSelector{opts: opts, log: opts.Logger, cache: make(map[string]cached)}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Select returns the Caller for nameOrURL.
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
func (s *RPCClientSelector) Select(ctx context.Context, nameOrURL string) (diracrpc.Caller, error) {
	return s.selectWith(ctx, nameOrURL, nil)
}

func (s *RPCClientSelector) selectWith(ctx context.Context, nameOrURL string, kw *Keywords) (diracrpc.Caller, error) {
	name := strings.TrimSpace(nameOrURL)
	isURL := endpoint.IsURL(name)
	res, conf, err := s.resolve(ctx, name, isURL)
	if err != nil {
		return nil, err
	}
	mode := Auto
	if !isURL {
		if conf != nil {
			if on, _ := conf.GetBool("/DiracX/LegacyClientEnabled/" + res.Service); on {
				return nil, fmt.Errorf("%w: %s (/DiracX/LegacyClientEnabled/%s)", ErrLegacyAdapter, res.Service, res.Service)
			}
		}
		if mode, err = s.mode(conf, res.Service); err != nil {
			return nil, err
		}
	}
	defaults := s.keywords(conf, res)
	var keywords Keywords
	if kw != nil {
		keywords = *kw
	}

	// The main URLs come shuffled from every resolution: the key must not
	// depend on their order, or each Select would build a new client.
	key := fmt.Sprint(mode, serviceProtocol(conf, res), sorted(res.Main), res.Failover, defaults)
	if kw == nil {
		s.mu.Lock()
		c, ok := s.cache[name]
		s.mu.Unlock()
		if ok && c.key == key {
			return c.caller, nil
		}
	}
	caller, err := s.build(ctx, name, mode, conf, res, defaults, keywords)
	if err != nil {
		return nil, err
	}
	if kw == nil {
		s.mu.Lock()
		old, had := s.cache[name]
		s.cache[name] = cached{key: key, caller: caller}
		s.mu.Unlock()
		if had {
			closeIdle(old.caller)
		}
	}
	return caller, nil
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

// keywords are the options the configuration implies: its setup and VO, and
// the timeout of /DIRAC/ConnConf when every URL of the service shares one
// host. Other ConnConf options (skipCACheck in particular) are ignored on
// purpose: switching TLS verification off is the caller's decision, never
// the remote configuration's.
func (s *RPCClientSelector) keywords(conf *cfg.Config, res *endpoint.Resolution) Keywords {
	var kw Keywords
	if s.opts.Resolver != nil {
		kw.Setup, kw.VO = s.opts.Resolver.Setup, s.opts.Resolver.VO
	}
	if conf != nil {
		if kw.Setup == "" {
			kw.Setup = strings.TrimSpace(conf.GetDefault("/DIRAC/Setup", ""))
		}
		if kw.VO == "" {
			kw.VO = strings.TrimSpace(conf.GetDefault("/DIRAC/VirtualOrganization", ""))
		}
	}
	if res.Setup != "" {
		kw.Setup = res.Setup
	}
	if len(res.ConnConf) == 1 && len(hosts(res.URLs())) == 1 {
		for _, opts := range res.ConnConf {
			if n, err := strconv.ParseFloat(strings.TrimSpace(opts["timeout"]), 64); err == nil && n > 0 {
				kw.Timeout = time.Duration(n * float64(time.Second))
			}
		}
	}
	return kw
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

// With returns k with the non-zero fields of over replacing its own.
func (k Keywords) With(over Keywords) Keywords {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&k.Setup, over.Setup)
	set(&k.VO, over.VO)
	set(&k.ExtraCredentials, over.ExtraCredentials)
	set(&k.DelegatedDN, over.DelegatedDN)
	set(&k.DelegatedGroup, over.DelegatedGroup)
	set(&k.ProxyLocation, over.ProxyLocation)
	if over.Timeout > 0 {
		k.Timeout = over.Timeout
	}
	return k
}

func isDISET(p diracrpc.Protocol) bool { return p == diracrpc.DIPS || p == diracrpc.DIP }
func isHTTPS(p diracrpc.Protocol) bool { return p == diracrpc.HTTPS }

// build makes the client(s) for a resolution in a mode.
func (s *RPCClientSelector) build(ctx context.Context, name string, mode Mode, conf *cfg.Config, res *endpoint.Resolution,
	defaults, kw Keywords) (diracrpc.Caller, error) {
	diset := res.Filter(isDISET)
	https := res.Filter(isHTTPS)
	target := func(r *endpoint.Resolution, p diracrpc.Protocol) Target {
		return Target{Name: name, Service: res.Service, Protocol: p, Main: r.Main, Failover: r.Failover,
			Defaults: defaults, Keywords: kw}
	}
	dial := func(r *endpoint.Resolution, p diracrpc.Protocol) (diracrpc.Caller, error) {
		if len(r.Main) == 0 {
			// Failover URLs only: they become the main ones.
			r = &endpoint.Resolution{Service: r.Service, Main: r.Failover}
		}
		d := s.opts.DISET
		if p == diracrpc.HTTPS {
			d = s.opts.HTTPS
		}
		c, err := d(ctx, target(r, p))
		if err != nil {
			return nil, fmt.Errorf("selector: %s client for %s: %w", p, res.Service, err)
		}
		return c, nil
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
			return dial(https, diracrpc.HTTPS)
		default:
			if diset == nil {
				return nil, noURL("dips:// or dip://")
			}
			return dial(diset, diracrpc.DIPS)
		}
	case DISET:
		if diset == nil {
			return nil, noURL("dips:// or dip://")
		}
		return dial(diset, diracrpc.DIPS)
	case HTTPS:
		if https == nil {
			return nil, noURL("https://")
		}
		return dial(https, diracrpc.HTTPS)
	case PreferHTTPS:
		switch {
		case https == nil:
			return dial(diset, diracrpc.DIPS)
		case diset == nil:
			return dial(https, diracrpc.HTTPS)
		}
		primary, err := dial(https, diracrpc.HTTPS)
		if err != nil {
			return nil, err
		}
		fallback, err := dial(diset, diracrpc.DIPS)
		if err != nil {
			closeIdle(primary)
			return nil, err
		}
		return &preferCaller{primary: primary, fallback: fallback, service: res.Service, log: s.log}, nil
	}
	return nil, fmt.Errorf("selector: unknown mode %q", mode)
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

// preferCaller calls primary, and fallback when primary refused the call
// because its circuit breaker is open (so nothing was sent).
type preferCaller struct {
	primary, fallback diracrpc.Caller
	service           string
	log               *slog.Logger
}

func (p *preferCaller) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	res, err := p.primary.Call(ctx, method, args...)
	if err == nil || !errors.Is(err, diracrpc.ErrCircuitOpen) || ctx.Err() != nil {
		return res, err
	}
	p.log.DebugContext(ctx, "selector: HTTPS circuit open, calling over DISET", "service", p.service, "method", method, "err", err)
	return p.fallback.Call(ctx, method, args...)
}

// CloseIdleConnections forwards to both clients.
func (p *preferCaller) CloseIdleConnections() {
	closeIdle(p.primary)
	closeIdle(p.fallback)
}

// closeIdle releases what a client keeps between calls without disturbing
// calls in progress.
func closeIdle(c diracrpc.Caller) {
	switch c := c.(type) {
	case interface{ CloseIdleConnections() }:
		c.CloseIdleConnections()
	case *httpsclient.Client:
		_ = c.Close() // closes idle connections only
	}
}

// Close releases the idle connections of every client the selector built.
// Callers already handed out keep working.
func (s *RPCClientSelector) Close() error {
	s.mu.Lock()
	cache := s.cache
	s.cache = make(map[string]cached)
	s.mu.Unlock()
	for _, c := range cache {
		closeIdle(c.caller)
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
// options, then the method with the arguments. The options honoured are
// setup, VO, extraCredentials (a string), delegatedDN, delegatedGroup,
// proxyLocation and timeout (seconds); skipCACheck in a stub is ignored on
// purpose: a stub may come from a queue others write to, and TLS
// verification is only switched off by the caller's own configuration.
func (s *RPCClientSelector) Replay(ctx context.Context, stub *diracrpc.Stub) (*diracrpc.Result, error) {
	if stub == nil {
		return nil, errors.New("selector: Replay of a nil stub")
	}
	kw, err := stubKeywords(stub.Options)
	if err != nil {
		return nil, err
	}
	c, err := s.selectWith(ctx, stub.Service, &kw)
	if err != nil {
		return nil, err
	}
	return c.Call(ctx, stub.Method, stub.Args...)
}

func stubKeywords(opts *value.Dict) (Keywords, error) {
	var kw Keywords
	if opts == nil {
		return kw, nil
	}
	str := func(key string, dst *string) error {
		v, ok := opts.Lookup(key)
		if !ok || v == nil {
			return nil
		}
		sv, ok := v.(string)
		if !ok {
			return fmt.Errorf("selector: stub option %s is a %T, not a string", key, v)
		}
		*dst = sv
		return nil
	}
	// extraCredentials may hold the delegation pair [DN, group], as DIRAC's
	// clients derive it from delegatedDN and delegatedGroup.
	if v, ok := opts.Lookup("extraCredentials"); ok {
		if pair, ok := v.([]any); ok && len(pair) == 2 {
			dn, okDN := pair[0].(string)
			group, okGroup := pair[1].(string)
			if !okDN || !okGroup {
				return kw, fmt.Errorf("selector: stub option extraCredentials is not [DN, group]: %v", v)
			}
			kw.DelegatedDN, kw.DelegatedGroup = dn, group
			opts = cloneWithout(opts, "extraCredentials")
		}
	}
	for key, dst := range map[string]*string{
		"setup": &kw.Setup, "VO": &kw.VO, "extraCredentials": &kw.ExtraCredentials,
		"delegatedDN": &kw.DelegatedDN, "delegatedGroup": &kw.DelegatedGroup, "proxyLocation": &kw.ProxyLocation,
	} {
		if err := str(key, dst); err != nil {
			return kw, err
		}
	}
	if v, ok := opts.Lookup("timeout"); ok {
		switch t := v.(type) {
		case int64:
			kw.Timeout = time.Duration(t) * time.Second
		case float64:
			kw.Timeout = time.Duration(t * float64(time.Second))
		case nil:
		default:
			return kw, fmt.Errorf("selector: stub option timeout is a %T, not a number", v)
		}
	}
	return kw, nil
}

func cloneWithout(d *value.Dict, key string) *value.Dict {
	out := value.NewDict()
	for k, v := range d.All() {
		if k != key {
			out.Set(k, v)
		}
	}
	return out
}

// DialURL returns a client for one URL, of the protocol of its scheme: the
// endpoint.DialFunc that endpoint.Bootstrap needs to reach configuration
// servers. Modes and gateways do not apply (the Bootstrap handles gateways).
func (s *RPCClientSelector) DialURL(ctx context.Context, url string) (diracrpc.Caller, error) {
	u, err := endpoint.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	p, d := diracrpc.DIPS, s.opts.DISET
	if u.Protocol == diracrpc.HTTPS {
		p, d = diracrpc.HTTPS, s.opts.HTTPS
	}
	return d(ctx, Target{Name: url, Service: u.Service(), Protocol: p, Main: []string{u.String()}})
}

// NewFromConfig returns a selector whose names are resolved in the
// configuration a DIRAC client would use: local (the merged local files,
// cfg.Load) completed by the Configuration Service named in its
// /DIRAC/Configuration/Servers, reached with the selector's own dialers. It
// also returns the Bootstrap, to Refresh it or Run it in the background.
// opts.Resolver, when set, gives the setup, VO, site and gateway settings;
// its Source is replaced by the Bootstrap. bc.Local and bc.Dial are set by
// this function.
func NewFromConfig(local *cfg.Config, opts Options, bc endpoint.BootstrapConfig) (*RPCClientSelector, *endpoint.Bootstrap, error) {
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
