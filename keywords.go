package diracrpc

import (
	"errors"
	"fmt"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/value"
)

// This file is the one place where DIRAC's client keywords meet the wire
// and the replay stubs: what the proposal (DISET) and the form (HTTPS)
// carry, what a stub records, how a stub becomes Options again, and which
// credential is presented.

// extraCredentials is DIRAC's __discoverExtraCredentials: the delegation
// pair [DN, group] wins, then the keyword, then "hosts" for a host
// certificate presented without proxyLocation; "" when none applies.
func (o *Options) extraCredentials() any {
	switch {
	case o.DelegatedDN != "":
		return []any{o.DelegatedDN, o.DelegatedGroup}
	case o.ExtraCredentials != "":
		return o.ExtraCredentials
	case o.UseCertificates && o.ProxyLocation == "":
		return "hosts"
	}
	return ""
}

func (o *Options) check() error {
	if (o.DelegatedDN == "") != (o.DelegatedGroup == "") {
		return errors.New("diracrpc: DelegatedDN and DelegatedGroup go together")
	}
	return nil
}

// stubOptions are the keywords as DIRAC's rpcStub keeps them: the ones the
// caller gave, useCertificates left out as DIRAC does.
func (o *Options) stubOptions() *value.Dict {
	d := value.NewDict()
	set := func(k, v string) {
		if v != "" {
			d.Set(k, v)
		}
	}
	set("setup", o.Setup)
	set("VO", o.VO)
	set("extraCredentials", o.ExtraCredentials)
	set("delegatedDN", o.DelegatedDN)
	set("delegatedGroup", o.DelegatedGroup)
	set("proxyLocation", o.ProxyLocation)
	if o.SkipCACheck {
		d.Set("skipCACheck", true)
	}
	if o.Timeout > 0 {
		d.Set("timeout", int64(o.Timeout/time.Second))
	}
	return d
}

// WithStub returns o with the keywords of a replay stub's options applied,
// as DIRAC's executeRPCStub builds its client from them: setup, VO,
// extraCredentials (a string, or the delegation pair [DN, group]),
// delegatedDN, delegatedGroup, proxyLocation and timeout (seconds).
// skipCACheck in a stub is ignored on purpose: a stub may come from a queue
// others write to, and TLS verification is only switched off by the caller's
// own Options. Unknown keywords are ignored, as DIRAC's clients ignore them.
func (o Options) WithStub(opts *value.Dict) (Options, error) {
	if opts == nil {
		return o, nil
	}
	str := func(key string, dst *string) error {
		v, ok := opts.Lookup(key)
		if !ok || v == nil {
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("diracrpc: stub option %s is a %T, not a string", key, v)
		}
		if s != "" {
			*dst = s
		}
		return nil
	}
	if v, ok := opts.Lookup("extraCredentials"); ok {
		if pair, ok := v.([]any); ok {
			// The delegation pair, as DIRAC's clients derive it.
			dn, okDN := pairItem(pair, 0)
			group, okGroup := pairItem(pair, 1)
			if len(pair) != 2 || !okDN || !okGroup {
				return o, fmt.Errorf("diracrpc: stub option extraCredentials is not [DN, group]: %v", v)
			}
			o.DelegatedDN, o.DelegatedGroup = dn, group
		} else if err := str("extraCredentials", &o.ExtraCredentials); err != nil {
			return o, err
		}
	}
	for key, dst := range map[string]*string{
		"setup": &o.Setup, "VO": &o.VO, "delegatedDN": &o.DelegatedDN,
		"delegatedGroup": &o.DelegatedGroup, "proxyLocation": &o.ProxyLocation,
	} {
		if err := str(key, dst); err != nil {
			return o, err
		}
	}
	if v, ok := opts.Lookup("timeout"); ok {
		switch t := v.(type) {
		case int64:
			o.Timeout = time.Duration(t) * time.Second
		case float64:
			o.Timeout = time.Duration(t * float64(time.Second))
		case nil:
		default:
			return o, fmt.Errorf("diracrpc: stub option timeout is a %T, not a number", v)
		}
	}
	return o, nil
}

func pairItem(pair []any, i int) (string, bool) {
	if i >= len(pair) {
		return "", false
	}
	s, ok := pair[i].(string)
	return s, ok
}

// TLSParams are the protocol-specific parts of the client's TLS.
type TLSParams struct {
	// CheckHostnameWithoutCA keeps the host-name check when SkipCACheck is
	// set (DISET, as M2Crypto does); HTTPS skips every check.
	CheckHostnameWithoutCA bool
	// NoCertificate presents no client certificate (HTTPS bearer tokens).
	NoCertificate bool
}

// ClientTLS loads the client credential and the CAs and prepares the TLS
// client side. The credential is chosen in this order, first match wins:
// Credential (DIRAC's proxyString), ProxyLocation, UseCertificates (the
// host certificate), then the default proxy. DIRAC's two clients disagree
// only when useCertificates and proxyLocation are both given: this is the
// HTTPS client's order, which keeps the certificate presented and the
// extraCredentials sent consistent ("hosts" is sent only when the host
// certificate is presented), where DISET would present the host
// certificate without "hosts" (an unknown user to the server).
func (c *TransportConfig) ClientTLS(p TLSParams) (*credentials.ClientTLS, error) {
	o := &c.opts
	var cred *credentials.Credential
	var err error
	switch {
	case p.NoCertificate:
	case o.Credential != nil:
		cred = o.Credential
	case o.ProxyLocation != "":
		cred, err = credentials.LoadProxy(o.ProxyLocation, credentials.LoadOptions{})
	case o.UseCertificates:
		cred, err = o.Locator.HostCredential(credentials.LoadOptions{})
	default:
		cred, err = o.Locator.Proxy(credentials.LoadOptions{})
	}
	if err != nil {
		return nil, err
	}
	cas := o.CAs
	if cas == nil && !o.SkipCACheck {
		if cas, err = o.Locator.CAs(); err != nil {
			return nil, err
		}
	}
	return credentials.NewClientTLS(credentials.ClientTLSOptions{
		Credential:             cred,
		CAs:                    cas,
		SkipCACheck:            o.SkipCACheck,
		CheckHostnameWithoutCA: p.CheckHostnameWithoutCA,
	})
}
