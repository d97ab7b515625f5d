package main

import (
	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/httpsclient"
)

// httpsCaller builds the HTTPS client for t from the common flags.
func (c *common) httpsCaller(e *env, t *target) (diracrpc.Caller, error) {
	cfg := httpsclient.Config{
		Setup:        c.setup,
		VO:           c.vo,
		SkipCACheck:  c.insecure,
		Locator:      c.locator(e),
		Timeout:      c.timeout,
		FailoverURLs: t.failover,
		// A probe reports what it sees: no retries on one URL.
		Retry: httpsclient.RetrySettings{Max: -1},
	}
	a, err := c.clientAuth(e)
	if err != nil {
		return nil, err
	}
	cfg.ProxyLocation, cfg.Credential, cfg.CAs = a.proxy, a.cred, a.cas
	if len(t.urls) == 1 && len(t.failover) == 0 {
		return httpsclient.New(t.urls[0], cfg)
	}
	u, err := endpoint.ParseURL(t.urls[0])
	if err != nil {
		return nil, err
	}
	cfg.URLs = t.urls
	return httpsclient.New(u.Service(), cfg)
}
