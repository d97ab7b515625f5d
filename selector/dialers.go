package selector

import (
	"context"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/httpsclient"
)

// DialerConfig holds the base configurations of the two clients: the
// credentials, CAs, timeouts, retry and breaker settings every service
// shares. The URLs and the Target's keywords are filled in per service.
type DialerConfig struct {
	DISET disetclient.Config
	HTTPS httpsclient.Config
}

// NewDialers returns the Dialers that build disetclient and httpsclient
// clients from the base configurations.
func NewDialers(c DialerConfig) (diset, https Dialer) {
	return DISETDialer(c.DISET), HTTPSDialer(c.HTTPS)
}

// DISETDialer builds *disetclient.Client from base.
func DISETDialer(base disetclient.Config) Dialer {
	return func(_ context.Context, t Target) (diracrpc.Caller, error) {
		c := base
		kw := t.Defaults
		applyDefaults(&kw, Keywords{Setup: c.Setup, VO: c.VO, ExtraCredentials: c.ExtraCredentials,
			DelegatedDN: c.DelegatedDN, DelegatedGroup: c.DelegatedGroup, ProxyLocation: c.ProxyLocation, Timeout: c.Timeout})
		kw = kw.With(t.Keywords)
		c.Setup, c.VO, c.ExtraCredentials = kw.Setup, kw.VO, kw.ExtraCredentials
		c.DelegatedDN, c.DelegatedGroup, c.ProxyLocation, c.Timeout = kw.DelegatedDN, kw.DelegatedGroup, kw.ProxyLocation, kw.Timeout
		c.FailoverURLs = t.Failover
		return disetclient.New(t.Main, c)
	}
}

// HTTPSDialer builds *httpsclient.Client from base.
func HTTPSDialer(base httpsclient.Config) Dialer {
	return func(_ context.Context, t Target) (diracrpc.Caller, error) {
		c := base
		extra, _ := c.ExtraCredentials.(string)
		kw := t.Defaults
		applyDefaults(&kw, Keywords{Setup: c.Setup, VO: c.VO, ExtraCredentials: extra,
			DelegatedDN: c.DelegatedDN, DelegatedGroup: c.DelegatedGroup, ProxyLocation: c.ProxyLocation, Timeout: c.Timeout})
		kw = kw.With(t.Keywords)
		c.Setup, c.VO = kw.Setup, kw.VO
		if kw.ExtraCredentials != "" {
			c.ExtraCredentials = kw.ExtraCredentials
		}
		c.DelegatedDN, c.DelegatedGroup, c.ProxyLocation, c.Timeout = kw.DelegatedDN, kw.DelegatedGroup, kw.ProxyLocation, kw.Timeout
		// The stub names what the caller gave: a URL used as it is, else the
		// service with its URLs.
		if endpoint.IsURL(t.Name) && len(t.Main) == 1 && len(t.Failover) == 0 {
			c.URLs, c.FailoverURLs = nil, nil
			return httpsclient.New(t.Main[0], c)
		}
		c.URLs, c.FailoverURLs = t.Main, t.Failover
		return httpsclient.New(t.Service, c)
	}
}

// applyDefaults makes the non-zero fields of base win over kw (the
// configuration's values only fill what the caller left empty).
func applyDefaults(kw *Keywords, base Keywords) { *kw = kw.With(base) }
