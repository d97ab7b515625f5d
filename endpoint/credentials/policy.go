package credentials

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// MinRSABits is the smallest RSA key a client chain may use by default: what
// OpenSSL 3 (security level 2, DIRAC's servers) accepts.
const MinRSABits = 2048

// ChainPolicy holds the named relaxations of client-chain verification. The
// zero value is the strict default; each field opts out of one check.
// Verifier and ServerTLSOptions embed it.
type ChainPolicy struct {
	// AllowWeakCrypto accepts RSA keys under MinRSABits, ECDSA keys under
	// 224 bits and SHA-1 signatures in client chains, for old grids. MD5
	// stays refused (crypto/x509 cannot check it), and so do SHA-1
	// signatures by a CA on an end-entity certificate, which crypto/x509
	// refuses in any case: the option only helps proxies.
	AllowWeakCrypto bool
	// AllowLegacyProxies accepts Globus pre-RFC 3820 proxies (last CN
	// "proxy" or "limited proxy", no proxyCertInfo), which DIRAC's OpenSSL
	// refuses.
	AllowLegacyProxies bool
	// ExpiredCRL says what to do with a certificate whose issuer's CRLs (in
	// the CA directory) are all past their nextUpdate. The zero value,
	// ExpiredCRLRefuse, refuses it as OpenSSL with CRL checking does.
	ExpiredCRL ExpiredCRLPolicy
}

// ExpiredCRLPolicy is what a verifier does when the only CRLs of a CA are
// out of date (fetch-crl stopped refreshing them).
type ExpiredCRLPolicy int

const (
	// ExpiredCRLRefuse refuses certificates of that CA until its CRL is
	// refreshed (OpenSSL's X509_V_ERR_CRL_HAS_EXPIRED): a stale CRL may be
	// missing recent revocations. The default.
	ExpiredCRLRefuse ExpiredCRLPolicy = iota
	// ExpiredCRLWarn logs a warning and still checks the certificate
	// against the stale CRL: availability over freshness.
	ExpiredCRLWarn
)

func (p ExpiredCRLPolicy) String() string {
	if p == ExpiredCRLWarn {
		return "warn"
	}
	return "refuse"
}

// weakSignature reports the signature algorithms OpenSSL 3 refuses at
// security level 1 and above.
func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// checkStrength refuses a weak key in c, and a weak signature on c unless c
// is self-signed (a trust anchor's self-signature proves nothing, OpenSSL
// does not check it either).
func (p ChainPolicy) checkStrength(c *x509.Certificate) error {
	if p.AllowWeakCrypto {
		return nil
	}
	fail := func(d string) error {
		return &VerifyError{Reason: ReasonWeakCrypto, Subject: SubjectDN(c), Issuer: IssuerDN(c), Detail: d}
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return fail(fmt.Sprintf("RSA key of %d bits, at least %d required", n, MinRSABits))
		}
	case *ecdsa.PublicKey:
		if n := k.Curve.Params().BitSize; n < 224 {
			return fail(fmt.Sprintf("ECDSA key of %d bits, at least 224 required", n))
		}
	}
	if weakSignature(c.SignatureAlgorithm) && !isSelfSigned(c) {
		return fail(fmt.Sprintf("signature algorithm %v is too weak", c.SignatureAlgorithm))
	}
	return nil
}
