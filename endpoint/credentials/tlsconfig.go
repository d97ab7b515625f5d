package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ErrNoPeerCertificate: the TLS peer sent no certificate.
var ErrNoPeerCertificate = errors.New("credentials: peer sent no certificate")

// DefaultSessionCacheSize is the LRU size of the session cache NewClientTLS
// creates when none is given.
const DefaultSessionCacheSize = 64

// ClientTLSOptions configures the client side shared by the DISET and HTTPS
// clients. Zero values are the secure defaults.
type ClientTLSOptions struct {
	// Credential is presented as the client certificate (whole chain). Nil:
	// no client certificate.
	Credential *Credential
	// CAs verifies the server. Required unless SkipCACheck.
	CAs *CAStore
	// SkipCACheck (DIRAC's skipCACheck) turns off verification of the
	// server's chain. Off by default.
	SkipCACheck bool
	// CheckHostnameWithoutCA keeps the host-name check when SkipCACheck is
	// set, as DISET (M2Crypto) does; DIRAC's HTTPS client does not.
	CheckHostnameWithoutCA bool
	// MinVersion defaults to TLS 1.2; MaxVersion to Go's maximum (TLS 1.3).
	MinVersion, MaxVersion uint16
	// SessionCache enables session resumption; nil creates an LRU cache of
	// DefaultSessionCacheSize shared by every Config of this ClientTLS. A
	// cache given here may be shared with other ClientTLS values: each one
	// only resumes the sessions it established (and verified) itself.
	SessionCache tls.ClientSessionCache
	// Now is the verification time; nil means time.Now.
	Now func() time.Time
}

// ClientTLS holds what the client side needs; Config returns a tls.Config
// per server host. It is safe for concurrent use.
type ClientTLS struct {
	opts  ClientTLSOptions
	cert  *tls.Certificate
	cache tls.ClientSessionCache
}

// NewClientTLS checks the options and prepares the client side.
func NewClientTLS(opts ClientTLSOptions) (*ClientTLS, error) {
	if opts.CAs == nil && !opts.SkipCACheck {
		return nil, &FileError{Err: ErrNoCAs, Fix: "load a CA directory (X509_CERT_DIR) or set SkipCACheck"}
	}
	cache := opts.SessionCache
	if cache == nil {
		cache = tls.NewLRUClientSessionCache(DefaultSessionCacheSize)
	}
	c := &ClientTLS{opts: opts, cache: &scopedCache{inner: cache, scope: string(newScope())}}
	if opts.Credential != nil {
		tc := opts.Credential.TLSCertificate()
		c.cert = &tc
	}
	return c, nil
}

// Config returns the tls.Config for connecting to host (the host name or IP
// from the URL: used for SNI and for the host-name check). With host "" the
// check uses the SNI name crypto/tls sent, which is empty for IP literals, in
// which case verification fails closed: pass the host explicitly.
//
// It sets InsecureSkipVerify only to switch off crypto/x509's own checks,
// which would refuse CN-only host certificates that DIRAC accepts; the
// VerifyConnection callback always runs instead: on full handshakes it does
// the full chain verification against the CA store plus DIRAC's host-name
// rules; on resumed sessions (which only ever resume a session this
// ClientTLS verified in full) it re-checks validity times, the CA and the
// host name but not the signatures (see resume.go). Callers must not replace
// VerifyConnection.
func (c *ClientTLS) Config(host string) *tls.Config {
	minV := c.opts.MinVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	cfg := &tls.Config{
		ServerName:         host,
		MinVersion:         minV,
		MaxVersion:         c.opts.MaxVersion,
		ClientSessionCache: c.cache,
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection below, see doc comment
		VerifyConnection: func(cs tls.ConnectionState) error {
			name := host
			if name == "" {
				name = cs.ServerName
			}
			if cs.DidResume {
				return c.verifyResumed(cs.PeerCertificates, name)
			}
			return c.verify(cs.PeerCertificates, name)
		},
		// DIRAC servers send no acceptable-CA list, so always present the
		// proxy chain rather than letting crypto/tls filter it.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c.cert == nil {
				return &tls.Certificate{}, nil
			}
			return c.cert, nil
		},
	}
	return cfg
}

func (c *ClientTLS) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// verifyResumed checks the server chain of a resumed session, which verify
// accepted when the session was established: what may have changed since.
func (c *ClientTLS) verifyResumed(chain []*x509.Certificate, host string) error {
	if c.opts.SkipCACheck {
		return c.verify(chain, host) // no signature checks to save
	}
	if err := checkResumed(chain, c.opts.CAs, c.now()); err != nil {
		return err
	}
	if host == "" {
		return &VerifyError{Reason: ReasonHostnameMismatch, Subject: SubjectDN(chain[0]), Detail: "no host name to check"}
	}
	return VerifyHostname(chain[0], host)
}

func (c *ClientTLS) verify(chain []*x509.Certificate, host string) error {
	if c.opts.SkipCACheck {
		if !c.opts.CheckHostnameWithoutCA {
			return nil
		}
		if len(chain) == 0 {
			return &VerifyError{Reason: ReasonNoCertificate, Detail: "server sent no certificate"}
		}
		return VerifyHostname(chain[0], host)
	}
	return VerifyServerChain(chain, host, c.opts.CAs, c.now())
}

// VerifyServerChain verifies a server's chain (leaf first) against the CA
// store, requiring the serverAuth purpose, then checks host with DIRAC's
// host-name rules (VerifyHostname). host "" fails. Failures are *VerifyError.
func VerifyServerChain(chain []*x509.Certificate, host string, cas *CAStore, now time.Time) error {
	if len(chain) == 0 {
		return &VerifyError{Reason: ReasonNoCertificate, Detail: "server sent no certificate"}
	}
	if cas == nil {
		return &VerifyError{Reason: ReasonUnknownAuthority, Subject: SubjectDN(chain[0]), Issuer: IssuerDN(chain[0]), Detail: "no CA store"}
	}
	inter := x509.NewCertPool()
	for _, ca := range chain[1:] {
		inter.AddCert(ca)
	}
	for _, ca := range cas.Certs {
		if !isSelfSigned(ca) {
			inter.AddCert(ca)
		}
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         cas.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return withCADir(classifyX509Error(err, leaf, now), cas)
	}
	if host == "" {
		return &VerifyError{Reason: ReasonHostnameMismatch, Subject: SubjectDN(leaf), Detail: "no host name to check"}
	}
	return VerifyHostname(leaf, host)
}

// ServerTLSOptions configures a DIRAC-style TLS server.
type ServerTLSOptions struct {
	// Credential is the host certificate and key; required.
	Credential *Credential
	// CAs verifies clients and completes the sent chain; required.
	CAs *CAStore
	// RequireClientCert refuses clients without a certificate (DISET). False
	// requests one but lets anonymous clients in (Tornado HTTPS).
	RequireClientCert bool
	// MaxDepth bounds client chains: 0 means VerifyDepth.
	MaxDepth int
	// MinVersion defaults to TLS 1.2.
	MinVersion uint16
	// OmitCAChain sends only the host certificate's own chain. By default the
	// issuing CAs found in CAs are appended (roots excluded), as OpenSSL's
	// automatic chain building does for DIRAC servers.
	OmitCAChain bool
	// Now is the verification time; nil means time.Now. It also becomes
	// the config's Time, so that servers read the caller's credentials with
	// the same clock (see Verifier.PeerInfo).
	Now func() time.Time
	// ChainPolicy holds the named relaxations of client-chain checks; the
	// zero value is strict.
	ChainPolicy
}

// NewServerTLSConfig returns a server tls.Config that requests (or requires)
// a client certificate and verifies proxy chains with a Verifier. crypto/tls
// cannot verify proxies itself, so ClientAuth is RequestClientCert or
// RequireAnyClientCert and the verification runs in VerifyConnection, which
// also runs on resumed sessions (VerifyPeerCertificate does not). Resumed
// sessions, which the config only accepts from tickets it issued itself
// after a full verification, get the cheaper re-check of what may have
// changed since: validity times and the CA (see resume.go). The config sets
// WrapSession and UnwrapSession for that binding: callers must not replace
// them. After the handshake, PeerInfo returns the caller's credentials.
func NewServerTLSConfig(opts ServerTLSOptions) (*tls.Config, error) {
	if opts.Credential == nil {
		return nil, errors.New("credentials: server needs a host certificate")
	}
	if opts.CAs == nil {
		return nil, &FileError{Err: ErrNoCAs, Fix: "load a CA directory for client verification"}
	}
	cert := opts.Credential.TLSCertificate()
	if !opts.OmitCAChain && len(opts.Credential.Chain) == 1 {
		for _, ca := range opts.CAs.issuerChain(opts.Credential.Chain[0]) {
			if !isSelfSigned(ca) {
				cert.Certificate = append(cert.Certificate, ca.Raw)
			}
		}
	}
	v := &Verifier{CAs: opts.CAs, MaxDepth: opts.MaxDepth, Now: opts.Now, ChainPolicy: opts.ChainPolicy}
	minV := opts.MinVersion
	if minV == 0 {
		minV = tls.VersionTLS12
	}
	auth := tls.RequestClientCert
	if opts.RequireClientCert {
		auth = tls.RequireAnyClientCert
	}
	cfg := &tls.Config{
		MinVersion:   minV,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   auth,
		Time:         opts.Now,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				if opts.RequireClientCert {
					return &VerifyError{Reason: ReasonNoCertificate, Detail: "client certificate required"}
				}
				return nil
			}
			if cs.DidResume {
				return v.verifyResumed(cs.PeerCertificates)
			}
			_, err := v.Verify(cs.PeerCertificates)
			return err
		},
	}
	bindTickets(cfg, newScope())
	return cfg, nil
}

// PeerInfo is Verifier.PeerInfo with the system clock.
func PeerInfo(cs tls.ConnectionState) (*PeerCredentials, error) {
	return (&Verifier{}).PeerInfo(cs)
}

// PeerInfo returns the credentials of the client of a connection whose
// handshake ran with a config from NewServerTLSConfig (which verified the
// chain), SecondsLeft counted from v's clock (Now; a server passes its
// config's Time). No client certificate: ErrNoPeerCertificate. On a resumed
// session the proxy signatures are not checked again: the chain comes from a
// ticket the server issued (and authenticated) after verifying it in full.
func (v *Verifier) PeerInfo(cs tls.ConnectionState) (*PeerCredentials, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, ErrNoPeerCertificate
	}
	if !cs.HandshakeComplete {
		return nil, fmt.Errorf("credentials: TLS handshake not complete")
	}
	return analyseChain(cs.PeerCertificates, v.now(), chainCheck{signatures: !cs.DidResume})
}

// SignProxyRequest delegates the client credential (SignProxyRequest with
// DIRAC's lifetime) to a server that asked for it in the DISET proposal
// answer; the key never leaves the ClientTLS.
func (c *ClientTLS) SignProxyRequest(csrPEM []byte) ([]byte, error) {
	if c.opts.Credential == nil {
		return nil, fmt.Errorf("%w: no client credential to delegate", ErrDelegation)
	}
	return SignProxyRequest(c.opts.Credential, csrPEM, 0)
}
