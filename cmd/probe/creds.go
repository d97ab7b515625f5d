package main

import (
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// locator finds credential files from the environment probe was given.
func (c *common) locator(e *env) credentials.Locator {
	return credentials.Locator{LookupEnv: func(k string) (string, bool) {
		v := e.getenv(k)
		return v, v != ""
	}}
}

// clientCredential loads what the client presents: --proxy, --cert/--key,
// else the proxy found where DIRAC looks. found is false when no credential
// was named or found (anonymous), err is set when one exists but is unusable
// (expired, bad permissions...).
func (c *common) clientCredential(e *env) (cred *credentials.Credential, err error) {
	switch {
	case c.proxy != "":
		return credentials.LoadProxy(c.proxy, credentials.LoadOptions{})
	case c.cert != "":
		return credentials.LoadCertKey(c.cert, c.key, credentials.LoadOptions{})
	}
	return c.locator(e).Proxy(credentials.LoadOptions{})
}

// caStore loads --ca-dir, else the CA directory DIRAC would use.
func (c *common) caStore(e *env) (*credentials.CAStore, error) {
	if c.caDir != "" {
		return credentials.LoadCADir(c.caDir)
	}
	return c.locator(e).CAs()
}

// clientAuth is what the common flags say a client presents and trusts;
// empty fields leave the client's defaults (DIRAC's environment variables).
type clientAuth struct {
	proxy string                  // --proxy
	cred  *credentials.Credential // --cert/--key
	cas   *credentials.CAStore    // --ca-dir, unless --insecure
}

// clientAuth loads the credential and CA directory named by the flags.
func (c *common) clientAuth(e *env) (clientAuth, error) {
	var a clientAuth
	switch {
	case c.proxy != "":
		a.proxy = c.proxy
	case c.cert != "":
		cred, err := credentials.LoadCertKey(c.cert, c.key, credentials.LoadOptions{})
		if err != nil {
			return clientAuth{}, err
		}
		a.cred = cred
	}
	if c.caDir != "" && !c.insecure {
		cas, err := c.caStore(e)
		if err != nil {
			return clientAuth{}, err
		}
		a.cas = cas
	}
	return a, nil
}
