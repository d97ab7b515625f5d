package credentials

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/diracgo/diracrpc/internal/x509pem"
)

// DefaultDelegationLifetime is the lifetime DIRAC's clients give a proxy they
// delegate (X509Chain.generateChainFromRequestString); the signer's own
// expiry cuts it.
const DefaultDelegationLifetime = 24 * time.Hour

// ErrDelegation matches every refusal of a delegated chain or request.
var ErrDelegation = errors.New("credentials: delegation refused")

// ProxyRequest is the receiving side of a delegation (PROTOCOL.md §4.12): a
// fresh key, kept in memory only, and its certificate request, which the peer
// signs with its own proxy.
type ProxyRequest struct {
	// PEM is the certificate request ("CERTIFICATE REQUEST" block) to send.
	PEM []byte
	key crypto.Signer
}

// NewProxyRequest makes a 2048-bit RSA key and a request for it whose
// subject is the caller's leaf subject, as DIRAC's gateway does (the signer
// ignores it: the proxy's subject is always its own leaf's plus a CN).
func NewProxyRequest(caller *PeerCredentials) (*ProxyRequest, error) {
	if caller == nil || len(caller.Chain) == 0 {
		return nil, fmt.Errorf("%w: the caller presented no certificate", ErrDelegation)
	}
	key, err := rsa.GenerateKey(rand.Reader, MinRSABits)
	if err != nil {
		return nil, fmt.Errorf("credentials: delegation key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		RawSubject: caller.Chain[0].RawSubject,
	}, key)
	if err != nil {
		return nil, fmt.Errorf("credentials: delegation request: %w", err)
	}
	return &ProxyRequest{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), key: key}, nil
}

// SignProxyRequest is the delegating side: it issues a proxy of signer for
// the key of the PEM request csrPEM and returns the new certificate followed
// by signer's chain, as PEM without any key (what DIRAC's client sends back).
// The proxy is what DIRAC makes: RFC 3820, subject = signer's leaf subject +
// /CN=<serial>, no DIRAC group extension, lifetime (DefaultDelegationLifetime
// when 0) cut to signer's expiry. It is limited when signer's chain is: a
// limited proxy cannot delegate more than it has (DIRAC signs a full proxy
// there, which RFC 3820 limits anyway).
func SignProxyRequest(signer *Credential, csrPEM []byte, lifetime time.Duration) ([]byte, error) {
	if signer == nil || len(signer.Chain) == 0 || signer.PrivateKey == nil {
		return nil, errors.New("credentials: delegation needs a certificate with its private key")
	}
	block, _ := pem.Decode(csrPEM)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, fmt.Errorf("%w: no PEM certificate request", ErrDelegation)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: Can't load request data: %w", ErrDelegation, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: request signature: %w", ErrDelegation, err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("%w: request key of %d bits, under %d", ErrDelegation, k.N.BitLen(), MinRSABits)
	}
	if lifetime <= 0 {
		lifetime = DefaultDelegationLifetime
	}
	limited := false
	if pc, err := CredentialsFromChain(signer.Chain, time.Now()); err == nil {
		limited = pc.IsLimitedProxy
	}
	cert, err := signProxy(signer, csr.PublicKey, ProxyOptions{Lifetime: lifetime, Limited: limited})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(x509pem.Certificates(cert))
	b.Write(x509pem.Certificates(signer.Chain...))
	return b.Bytes(), nil
}

// Accept checks the chain the caller sent back for this request and returns
// it as a credential with the request's key. The chain must be a proxy of
// the caller's own verified chain (byte for byte) for this request's key,
// signed by the caller's leaf, valid at now: so it has the caller's identity,
// is limited if the caller's is, and claims no other DIRAC group. Anything
// else is refused (ErrDelegation): a delegation never widens rights.
func (r *ProxyRequest) Accept(chainPEM []byte, caller *PeerCredentials, now time.Time) (*Credential, error) {
	chain, err := ParseCertificatesPEM(chainPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelegation, err)
	}
	if len(chain) != len(caller.Chain)+1 {
		return nil, fmt.Errorf("%w: the chain has %d certificates, expected the caller's %d plus one", ErrDelegation, len(chain), len(caller.Chain))
	}
	for i, c := range caller.Chain {
		if !bytes.Equal(chain[i+1].Raw, c.Raw) {
			return nil, fmt.Errorf("%w: certificate %d is not the caller's", ErrDelegation, i+1)
		}
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(r.key.Public()) {
		return nil, fmt.Errorf("%w: the proxy is not for the requested key", ErrDelegation)
	}
	info, err := ClassifyProxy(leaf, chain[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelegation, err)
	}
	if info.Type != RFC3820 {
		return nil, fmt.Errorf("%w: the delegated certificate is a %s, not an RFC 3820 proxy", ErrDelegation, info.Type)
	}
	if now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: the delegated proxy is not valid now (%s to %s)", ErrDelegation, leaf.NotBefore, leaf.NotAfter)
	}
	pc, err := CredentialsFromChain(chain, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelegation, err)
	}
	switch {
	case pc.DN != caller.DN:
		return nil, fmt.Errorf("%w: identity %s is not the caller's %s", ErrDelegation, pc.DN, caller.DN)
	case caller.IsLimitedProxy && (!pc.IsLimitedProxy || !info.Limited):
		// The leaf itself must be limited: a full proxy under a limited
		// one is no proxy to the services (DIRAC demotes its holder to a
		// visitor), and DIRAC's client signs full proxies whatever its own.
		return nil, fmt.Errorf("%w: a limited proxy delegated a full one, which services do not take for a proxy of the caller (DIRAC's client signs full proxies: call through the gateway with a full proxy)", ErrDelegation)
	case pc.Group != caller.Group:
		return nil, fmt.Errorf("%w: group %q is not the caller's %q", ErrDelegation, pc.Group, caller.Group)
	}
	if g, ok := DIRACGroup(leaf); ok && g != caller.Group {
		return nil, fmt.Errorf("%w: the delegated proxy claims group %q", ErrDelegation, g)
	}
	return &Credential{Chain: chain, PrivateKey: r.key}, nil
}
