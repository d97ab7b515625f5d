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
