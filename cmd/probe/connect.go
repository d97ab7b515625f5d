package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/selector"
)

// target is where an ENDPOINT argument leads: one or more URLs of a single
// protocol family.
type target struct {
	arg      string
	urls     []string
	failover []string
	protocol diracrpc.Protocol
}

// String names the target as the user gave it, with the URL when resolved.
func (t *target) String() string {
	if len(t.urls) == 1 && t.urls[0] == t.arg {
		return t.arg
	}
	return t.arg + " (" + strings.Join(t.urls, ", ") + ")"
}

// resolveTargets turns an ENDPOINT (URL or System/Component) into one target
// per protocol family it has: a URL gives one; a name resolved through the
// DIRAC configuration (see config) gives DISET and/or HTTPS.
func (c *common) resolveTargets(ctx context.Context, e *env, arg string) ([]*target, error) {
	if endpoint.IsURL(arg) {
		u, err := endpoint.ParseURL(arg)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		return []*target{{arg: arg, urls: []string{u.String()}, protocol: u.Protocol}}, nil
	}
	if _, _, err := endpoint.SplitService(arg); err != nil {
		return nil, usageErr("ENDPOINT %q is neither a dips://, dip:// or https:// URL nor a System/Component name", arg)
	}
	r, err := c.resolver(e)
	if err != nil {
		return nil, err
	}
	res, err := c.resolveName(ctx, e, r, arg)
	if err != nil {
		return nil, err
	}
	out := targetsOf(arg, res)
	if len(out) == 0 {
		return nil, configErr("%s resolves to no usable URL", arg)
	}
	return out, nil
}

// targetsOf splits a resolution into its DISET and HTTPS targets.
func targetsOf(arg string, res *endpoint.Resolution) []*target {
	var out []*target
	for _, fam := range [][]diracrpc.Protocol{{diracrpc.DIPS, diracrpc.DIP}, {diracrpc.HTTPS}} {
		sub := res.Filter(func(p diracrpc.Protocol) bool { return slices.Contains(fam, p) })
		if sub == nil {
			continue
		}
		t := &target{arg: arg, urls: sub.Main, failover: sub.Failover}
		u, _ := endpoint.ParseURL(sub.URLs()[0])
		t.protocol = u.Protocol
		if len(t.urls) == 0 {
			t.urls, t.failover = t.failover, nil
		}
		out = append(out, t)
	}
	return out
}

// resolveTarget turns an ENDPOINT into the one target its calls go to: a
// URL as given; for a name, the protocol and URLs DIRAC's client selector
// would pick (selector.Route: the scheme of the main URLs, the service's
// Protocol option when they mix, /DIRAC/Selector modes).
func (c *common) resolveTarget(ctx context.Context, e *env, arg string) (*target, error) {
	ts, err := c.resolveTargets(ctx, e, arg)
	if err != nil || endpoint.IsURL(arg) {
		return firstTarget(ts), err
	}
	r, err := c.resolver(e)
	if err != nil {
		return nil, err
	}
	route, err := selector.New(selector.Options{Resolver: r}).Route(ctx, arg)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", arg, err)
		if errors.Is(err, selector.ErrMixedProtocols) {
			msg += "\n  fix: call one of its URLs, or choose its protocol in the configuration: " +
				selector.CfgServices + "/" + arg + " = dips or https (or the service's Protocol option)"
		}
		return nil, &exitError{code: exitConfig, msg: msg, err: err}
	}
	if route.Fallback != nil {
		c.debugf(e, "configuration: %s: mode %s: over %s (%s while its breaker is open, which probe does not use)",
			arg, route.Mode, route.Protocol, route.Fallback.Protocol)
	} else {
		c.debugf(e, "configuration: %s: mode %s: over %s", arg, route.Mode, route.Protocol)
	}
	t := &target{arg: arg, urls: route.Main, failover: route.Failover, protocol: route.Protocol}
	if len(t.urls) == 0 {
		t.urls, t.failover = t.failover, nil
	}
	if t.protocol == diracrpc.DIPS && len(t.urls) > 0 {
		u, _ := endpoint.ParseURL(t.urls[0])
		t.protocol = u.Protocol // dip:// or dips://, as its URLs say
	}
	return t, nil
}

func firstTarget(ts []*target) *target {
	if len(ts) == 0 {
		return nil
	}
	return ts[0]
}

// caller builds the client for t from the common flags: one client type
// whatever the protocol, one attempt per URL (a probe reports what it sees,
// quickly) and no breaker (a probe makes few calls and must see each).
func (c *common) caller(e *env, t *target) (*diracrpc.Client, error) {
	a, err := c.clientAuth(e)
	if err != nil {
		return nil, err
	}
	o := diracrpc.Options{
		Service:       t.arg,
		Setup:         c.setup,
		VO:            c.vo,
		SkipCACheck:   c.insecure,
		Locator:       c.locator(e),
		Timeout:       c.timeout,
		FailoverURLs:  t.failover,
		Attempts:      len(t.urls) + len(t.failover),
		Breaker:       diracrpc.BreakerSettings{Disabled: true},
		ProxyLocation: a.proxy,
		Credential:    a.cred,
		// With it, Credential (--cert/--key) is the host certificate, else
		// the library finds the host's as DIRAC does.
		UseCertificates: c.useServerCertificate(e),
		CAs:             a.cas,
		TracerProvider:  c.tracer,
	}
	if t.protocol == diracrpc.HTTPS {
		return httpsclient.New(t.urls, o, httpsclient.Options{})
	}
	var d disetclient.Options
	if c.encoding == "dencode" {
		d.Encoding = disetclient.DEncode
	}
	return disetclient.New(t.urls, o, d)
}
