package endpoint

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// ErrNotFound is matched (errors.Is) by resolution errors caused by a
// missing configuration option; the *ResolveError says which one.
var ErrNotFound = errors.New("endpoint: not found in the configuration")

// ResolveError is a failure to turn a service name into URLs. Path is the
// configuration path that was missing or wrong, so that the message tells an
// operator what to fix.
type ResolveError struct {
	Service string // what was being resolved
	Path    string // the configuration path at fault; "" if none
	Reason  string
	Err     error // ErrNotFound, ErrBadURL or a Source's error
}

func (e *ResolveError) Error() string {
	var b strings.Builder
	b.WriteString("endpoint: cannot resolve " + strconv.Quote(e.Service) + ": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	if e.Err != nil && e.Err != ErrNotFound {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *ResolveError) Unwrap() error { return e.Err }

// Is makes every resolution error match diracrpc.ErrConfiguration, so that
// diracrpc.CodeOf gives CodeConfiguration (or, for a Configuration Service
// that could not be reached, the code of that failure).
func (e *ResolveError) Is(target error) bool { return target == diracrpc.ErrConfiguration }

// Source provides the configuration a Resolver reads. Config may block (to
// fetch the configuration from the Configuration Service, see Bootstrap) and
// may return a different snapshot over time; callers must not modify it.
type Source interface {
	Config(ctx context.Context) (*cfg.Config, error)
}

type staticSource struct{ c *cfg.Config }

func (s staticSource) Config(context.Context) (*cfg.Config, error) { return s.c, nil }

// Static returns a Source that always gives c (for example a configuration
// read with cfg.Load, when all the URLs are local).
func Static(c *cfg.Config) Source { return staticSource{c} }

// Resolver resolves DIRAC service names ("System/Component") into URLs the
// way DIRAC's PathFinder does. Fields left zero take the configuration's
// values.
type Resolver struct {
	// Source gives the configuration; required.
	Source Source
	// Setup overrides /DIRAC/Setup.
	Setup string
	// VO overrides /DIRAC/VirtualOrganization (DIRAC also takes the proxy's
	// VO); it selects /Operations/<VO>/MainServers.
	VO string
	// Site overrides /LocalSite/Site, which selects /DIRAC/Gateways/<Site>.
	Site string
	// IgnoreGateways disables gateways (DIRAC's ignoreGateways keyword).
	IgnoreGateways bool
	// Shuffle puts URLs in random order. Default: math/rand/v2's Shuffle;
	// tests set a deterministic one.
	Shuffle func(urls []string)
}

// Resolution is where a service can be reached.
type Resolution struct {
	// Service is "System/Component".
	Service string
	// Setup and Instance are the setup and the system instance used ("" when
	// the name was a URL or a gateway serves it).
	Setup, Instance string
	// Main are the main URLs, normalised and shuffled; Failover the failover
	// URLs in configuration order, tried once every main URL failed. This is
	// what failover.New takes.
	Main, Failover []string
	// Gateway is true when the URLs are those of a gateway
	// (/DIRAC/Gateways/<Site>) forwarding to the service.
	Gateway bool
	// ConnConf holds the per-host client options of /DIRAC/ConnConf/<host:port>
	// for the hosts of Main and Failover that have some, keyed by host:port.
	ConnConf map[string]map[string]string
}

// URLs returns Main then Failover.
func (r *Resolution) URLs() []string { return append(slices.Clone(r.Main), r.Failover...) }

// Protocols returns the distinct protocols of the URLs, main URLs first.
func (r *Resolution) Protocols() []diracrpc.Protocol {
	var out []diracrpc.Protocol
	for _, u := range r.URLs() {
		if p := protocolOf(u); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Filter returns a copy holding only the URLs whose protocol keep accepts,
// or nil when none is left.
func (r *Resolution) Filter(keep func(diracrpc.Protocol) bool) *Resolution {
	out := *r
	pick := func(us []string) []string {
		var o []string
		for _, u := range us {
			if keep(protocolOf(u)) {
				o = append(o, u)
			}
		}
		return o
	}
	out.Main, out.Failover = pick(r.Main), pick(r.Failover)
	if len(out.Main)+len(out.Failover) == 0 {
		return nil
	}
	return &out
}

// protocolOf reads the scheme of a URL normalised by ParseURL.
func protocolOf(u string) diracrpc.Protocol {
	scheme, _, _ := strings.Cut(u, "://")
	return diracrpc.Protocol(scheme)
}

// IsURL reports whether s is a URL rather than a service name, with DIRAC's
// rule: it starts with "dip" (dip://, dips://) or "http" (https://).
func IsURL(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(s, "dip") || strings.HasPrefix(s, "http")
}

// Config returns the configuration of the Source.
func (r *Resolver) Config(ctx context.Context) (*cfg.Config, error) {
	if r.Source == nil {
		return nil, errors.New("endpoint: Resolver without a Source")
	}
	return r.Source.Config(ctx)
}

// Resolve returns the URLs of service, a "System/Component" name or a URL.
//
// For a name, as DIRAC's PathFinder: the setup is r.Setup or /DIRAC/Setup;
// the instance /DIRAC/Setups/<Setup>/<System>; the main URLs
// /Systems/<System>/<Instance>/URLs/<Component> and the failover URLs
// .../FailoverURLs/<Component> (optional), both comma lists in which an item
// holding $MAINSERVERS$ stands for one URL per entry of
// /Operations/<VO>/MainServers (else /Operations/Defaults/MainServers).
// Each URL is normalised: an empty path becomes /<System>/<Component>, an
// https URL without port gets 443, a dips or dip URL without port is an
// error (see ParseURL). Duplicates are removed and the main URLs shuffled.
// (DIRAC's DISET client does not expand $MAINSERVERS$ in failover URLs, its
// HTTPS client does; this always does.)
//
// A URL is used as it is (normalised). In both cases, when
// /DIRAC/Gateways/<Site> (Site = r.Site or /LocalSite/Site) is set and
// gateways are not ignored, the gateways' scheme://host:port replace the
// service's, as DIRAC's DISET client does, and no other option is needed.
//
// Errors are *ResolveError naming the path at fault; a missing option
// matches ErrNotFound.
func (r *Resolver) Resolve(ctx context.Context, service string) (*Resolution, error) {
	c, err := r.Config(ctx)
	if err != nil {
		return nil, &ResolveError{Service: service, Reason: "no configuration", Err: err}
	}
	res, err := r.resolve(c, strings.TrimSpace(service))
	if err != nil {
		return nil, err
	}
	res.ConnConf = connConf(c, res.URLs())
	return res, nil
}

func (r *Resolver) resolve(c *cfg.Config, service string) (*Resolution, error) {
	fail := func(path, reason string, err error) error {
		return &ResolveError{Service: service, Path: path, Reason: reason, Err: err}
	}
	var system, component string
	if IsURL(service) {
		u, err := ParseURL(service)
		if err != nil {
			return nil, fail("", "bad URL", err)
		}
		system, component = u.System, u.Component
		if gw, err := r.gateways(c, system, component); err != nil || gw != nil {
			return gw, err
		}
		return &Resolution{Service: u.Service(), Main: []string{u.String()}}, nil
	}

	system, component, err := SplitService(service)
	if err != nil {
		return nil, fail("", "not a service name", err)
	}
	if gw, err := r.gateways(c, system, component); err != nil || gw != nil {
		return gw, err
	}
	setup := r.Setup
	if setup == "" {
		var ok bool
		if setup, ok = c.Get("/DIRAC/Setup"); !ok || strings.TrimSpace(setup) == "" {
			return nil, fail("/DIRAC/Setup", "no setup defined", ErrNotFound)
		}
		setup = strings.TrimSpace(setup)
	}
	instPath := "/DIRAC/Setups/" + setup + "/" + system
	instance, ok := c.Get(instPath)
	if instance = strings.TrimSpace(instance); !ok || instance == "" {
		return nil, fail(instPath, "option is not defined (no instance of system "+system+" in setup "+setup+")", ErrNotFound)
	}
	base := "/Systems/" + system + "/" + instance
	res := &Resolution{Service: system + "/" + component, Setup: setup, Instance: instance}

	mainPath := base + "/URLs/" + component
	raw, ok := c.GetList(mainPath)
	if !ok {
		return nil, fail(mainPath, "option is not defined (URL for service "+res.Service+" not found)", ErrNotFound)
	}
	if len(raw) == 0 {
		return nil, fail(mainPath, "option is empty (URL for service "+res.Service+" not found)", ErrNotFound)
	}
	if res.Main, err = r.urls(c, raw, system, component, mainPath, fail); err != nil {
		return nil, err
	}
	r.shuffle(res.Main)

	failPath := base + "/FailoverURLs/" + component
	if raw, ok := c.GetList(failPath); ok {
		if res.Failover, err = r.urls(c, raw, system, component, failPath, fail); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// urls expands $MAINSERVERS$, normalises and deduplicates one URL list.
func (r *Resolver) urls(c *cfg.Config, raw []string, system, component, path string,
	fail func(path, reason string, err error) error) ([]string, error) {
	var out []string
	for _, item := range raw {
		expanded := []string{item}
		if strings.Contains(item, "$MAINSERVERS$") {
			servers, spath, err := r.mainServers(c)
			if err != nil {
				return nil, fail(spath, "No Main servers defined (needed by $MAINSERVERS$ in "+path+")", ErrNotFound)
			}
			expanded = expanded[:0]
			for _, s := range servers {
				expanded = append(expanded, strings.ReplaceAll(item, "$MAINSERVERS$", s))
			}
		}
		for _, e := range expanded {
			u, err := normalise(e, system, component)
			if err != nil {
				return nil, fail(path, "bad URL for "+system+"/"+component, err)
			}
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// normalise applies DIRAC's checkComponentURL (an empty path becomes
// /System/Component) and then ParseURL's rules.
func normalise(raw, system, component string) (string, error) {
	if u, err := url.Parse(raw); err == nil && strings.Trim(u.Path, "/") == "" {
		raw = strings.TrimRight(raw, "/") + "/" + system + "/" + component
	}
	u, err := ParseURL(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// mainServers reads the Operations option MainServers, the VO's winning over
// the defaults. It returns the path it looked at last for error messages.
func (r *Resolver) mainServers(c *cfg.Config) ([]string, string, error) {
	vo := r.VO
	if vo == "" {
		vo = strings.TrimSpace(c.GetDefault("/DIRAC/VirtualOrganization", ""))
	}
	if vo != "" {
		if l, ok := c.GetList("/Operations/" + vo + "/MainServers"); ok && len(l) > 0 {
			return l, "", nil
		}
	}
	const def = "/Operations/Defaults/MainServers"
	if l, ok := c.GetList(def); ok && len(l) > 0 {
		return l, def, nil
	}
	return nil, def, ErrNotFound
}

// gateways returns the gateway resolution of System/Component, or nil when
// no gateway applies.
func (r *Resolver) gateways(c *cfg.Config, system, component string) (*Resolution, error) {
	res := &Resolution{Service: system + "/" + component, Gateway: true}
	bases, path, err := r.gatewayBases(c)
	if re, ok := err.(*ResolveError); ok {
		re.Service = res.Service
	}
	if err != nil || len(bases) == 0 {
		return nil, err
	}
	for _, b := range bases {
		u, err := ParseURL(b + "/" + res.Service)
		if err != nil {
			return nil, &ResolveError{Service: res.Service, Path: path, Reason: "bad gateway URL", Err: err}
		}
		res.Main = append(res.Main, u.String())
	}
	return res, nil
}

// gatewayBases returns scheme://host:port of the site's gateways, shuffled
// and without duplicates; none when gateways are ignored or not configured.
func (r *Resolver) gatewayBases(c *cfg.Config) (bases []string, path string, err error) {
	if r.IgnoreGateways {
		return nil, "", nil
	}
	site := r.Site
	if site == "" {
		site = strings.TrimSpace(c.GetDefault("/LocalSite/Site", ""))
	}
	if site == "" {
		return nil, "", nil
	}
	path = "/DIRAC/Gateways/" + site
	raw, _ := c.GetList(path)
	var out []string
	for _, g := range raw {
		// DIRAC keeps scheme://host:port of the gateway URL; the service's
		// path is appended to it.
		p, err := url.Parse(g)
		if err != nil || p.Host == "" {
			return nil, path, &ResolveError{Service: "gateways", Path: path, Reason: "bad gateway URL " + strconv.Quote(g),
				Err: ErrBadURL}
		}
		if b := strings.ToLower(p.Scheme) + "://" + p.Host; !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	r.shuffle(out)
	return out, path, nil
}

// Gateways returns the gateway URLs (scheme://host:port) configured for the
// site, shuffled; none when gateways are ignored or not configured.
func (r *Resolver) Gateways(ctx context.Context) ([]string, error) {
	c, err := r.Config(ctx)
	if err != nil {
		return nil, err
	}
	bases, _, err := r.gatewayBases(c)
	return bases, err
}

func (r *Resolver) shuffle(urls []string) {
	if r.Shuffle != nil {
		r.Shuffle(urls)
		return
	}
	rand.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
}

// connConf collects /DIRAC/ConnConf/<host:port> options for the hosts of urls.
func connConf(c *cfg.Config, urls []string) map[string]map[string]string {
	var out map[string]map[string]string
	for _, raw := range urls {
		u, err := ParseURL(raw)
		if err != nil {
			continue
		}
		hp := net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
		if _, done := out[hp]; done {
			continue
		}
		sec := c.Section("/DIRAC/ConnConf/" + hp)
		if sec == nil || len(sec.Options()) == 0 {
			continue
		}
		opts := make(map[string]string)
		for _, o := range sec.Options() {
			opts[o], _ = sec.Get(o)
		}
		if out == nil {
			out = make(map[string]map[string]string)
		}
		out[hp] = opts
	}
	return out
}

// LegacyAdapterEnabled reports whether the configuration routes service to
// DiracX's legacy adapter: /DiracX/LegacyClientEnabled/<System>/<Component>
// is y, yes, true or 1 (any case), as DIRAC's PathFinder.useLegacyAdapter
// reads it.
func (r *Resolver) LegacyAdapterEnabled(ctx context.Context, service string) (bool, error) {
	system, component, err := SplitService(service)
	if err != nil {
		return false, err
	}
	c, err := r.Config(ctx)
	if err != nil {
		return false, err
	}
	b, _ := c.GetBool("/DiracX/LegacyClientEnabled/" + system + "/" + component)
	return b, nil
}
