package main

import (
	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
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
	switch {
	case c.proxy != "":
		cfg.ProxyLocation = c.proxy
	case c.cert != "":
		cred, err := credentials.LoadCertKey(c.cert, c.key, credentials.LoadOptions{})
		if err != nil {
			return nil, err
		}
		cfg.Credential = cred
	}
	if c.caDir != "" && !c.insecure {
		cas, err := c.caStore(e)
		if err != nil {
			return nil, err
		}
		cfg.CAs = cas
	}
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
