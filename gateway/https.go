package gateway

import (
	"context"
	"errors"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// HTTPSService returns the service to add to a server.HTTPS so that
// Tornado-style POSTs to /<name> are forwarded to the real service name
// ("System/Component"). Every method is forwarded, built-ins included; the
// gateway itself lets every verified caller through, the service decides.
func (g *Gateway) HTTPSService(name string) *server.Service {
	svc := server.NewService(name)
	svc.NoBuiltins = true
	svc.DefaultAuth = []string{"all"}
	svc.Logger = g.log
	svc.Fallback = &server.Method{Func: g.forwardHTTPS}
	return svc
}

// Errors of HTTPS in, sent to the caller as S_ERRORs (ENOAUTH): they say
// what to configure or present.
var (
	ErrNotTrustedHost = errors.New("the gateway forwards HTTPS calls only as a DIRAC trusted host, which it is not configured to be (gateway TrustedHost)")
	ErrNoGroup        = errors.New("the gateway forwards HTTPS calls only for a certificate that names a DIRAC group (a proxy with a group)")
	ErrLimitedProxy   = errors.New("the gateway does not forward limited proxies over HTTPS: a trusted host cannot pass the limitation on")
	ErrNoCertificate  = errors.New("the gateway forwards HTTPS calls only for callers with a certificate")
)

func refusal(err error) error {
	return diracrpc.NewError(diracrpc.ENOAUTH, err.Error())
}

// forwardHTTPS forwards one HTTPS-in call as a trusted host acting for the
// caller.
func (g *Gateway) forwardHTTPS(ctx context.Context, req *server.Request) (res any, err error) {
	ev := Event{In: diracrpc.HTTPS, Service: req.Service, Method: req.Method, Action: "RPC"}
	c := req.Credentials
	dn := ""
	if c != nil && c.Peer != nil {
		dn = c.Peer.DN
	}
	// The server's telemetry sees the S_ERROR answered, as for any method.
	defer g.finish(ctx, &ev, g.now(), dn, req.RemoteAddr, nil)
	switch {
	case !g.cfg.TrustedHost:
		ev.Err = ErrNotTrustedHost
	case c == nil || c.Peer == nil:
		ev.Err = ErrNoCertificate
	case c.Peer.IsLimitedProxy:
		ev.Err = ErrLimitedProxy
	}
	group := ""
	if ev.Err == nil {
		// The claim, not the authorised group: the service checks it.
		group = c.Peer.Group
		if extra, ok := c.ExtraCredentials.(string); ok && group == "" && !c.Peer.IsProxy && extra != "hosts" {
			group = extra
		}
		if group == "" {
			ev.Err = ErrNoGroup
		}
	}
	if ev.Err != nil {
		return nil, refusal(ev.Err)
	}
	id := identity{DN: c.Peer.DN, Group: group, Extra: "\x00trusted-host"}
	ent, ok := g.cache.get(id)
	ev.CachedDelegation = ok
	if !ok {
		ent = g.cache.put(id, g.cfg.HostCredential, nil, &trustedID{DN: c.Peer.DN, Group: group}, g.cfg.DelegationTTL)
	}
	sel, err := g.selectorFor(ent, req.ClientSetup, req.ClientVO)
	if err != nil {
		ev.Err = err
		return nil, err
	}
	again := func(ctx context.Context) (*diracrpc.Result, error) {
		var out diracrpc.Protocol
		return forward(ctx, sel, &out, req.Service, req.Method, req.Args)
	}
	var out diracrpc.Protocol
	fstart := g.now()
	r, err := forward(ctx, sel, &out, req.Service, req.Method, req.Args)
	elapsed := g.now().Sub(fstart)
	ev.Out, ev.Err = out, err
	if g.cfg.Shadow != nil {
		g.cfg.Shadow.Mirror(Call{Service: req.Service, Method: req.Method, Args: req.Args, Again: again, Dial: sel.Select},
			Outcome{Result: r, Err: err, Elapsed: elapsed})
	}
	if err != nil {
		return server.Answer(errorDict(req.Service, err)), nil
	}
	if r.Raw != nil {
		if v, _, err := mixed.Decode(r.Raw); err == nil {
			if d, ok := v.(*value.Dict); ok && d.Has("OK") {
				return server.Answer(d), nil // the service's own result, extra keys included
			}
		}
	}
	return diracrpc.OK(r.Value), nil
}
