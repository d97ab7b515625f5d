package credentials

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math"
	"time"
)

// VerifyDepth is the most certificates a client chain may hold, on both
// transports: Tornado's limit, the stricter of DIRAC's two (DISET allows 50).
const VerifyDepth = 10

// Verifier checks client certificate chains on the server side: proxies
// (RFC 3820; legacy ones only with AllowLegacyProxies) step by step, then
// the end-entity certificate against the CA store with crypto/x509 (which
// refuses proxies itself), key sizes and signature algorithms of the whole
// chain, and the CRLs of the CA directory.
type Verifier struct {
	// CAs is the trust store; required.
	CAs *CAStore
	// MaxDepth bounds the chain length; 0 means VerifyDepth.
	MaxDepth int
	// Now is the verification time; nil means time.Now.
	Now func() time.Time
	// ChainPolicy holds the named relaxations; the zero value is strict.
	ChainPolicy
}

// PeerCredentials is the credential dictionary DIRAC builds from a client chain
// (X509Chain.getCredentials without Registry information).
type PeerCredentials struct {
	Subject        string // leaf subject
	Issuer         string // leaf issuer
	DN             string // identity: the end-entity subject for proxies, else the leaf subject
	Identity       string // end-entity subject, proxies only
	IsProxy        bool
	IsLimitedProxy bool
	SecondsLeft    int64 // minimum remaining validity over the chain
	// Group is the DIRAC group extension found in the proxy chain (searching
	// from the end-entity certificate towards the leaf); "" when none. DIRAC
	// then falls back to the Registry's default group for DN, which is the
	// server's job.
	Group string
	// ProxyTypes lists the type of each proxy step, leaf first.
	ProxyTypes []ProxyType
	// Chain is the verified chain as sent, leaf first; EndEntity indexes the
	// end-entity certificate in it.
	Chain     []*x509.Certificate
	EndEntity int
}

// Field is one key/value of the credential dictionary.
type Field struct {
	Key   string
	Value any
}

// Fields returns the dictionary entries in the order DIRAC inserts them
// (subject, issuer, secondsLeft, isProxy, isLimitedProxy, validDN,
// validGroup, DN, then identity and group for proxies), so that a server
// can reproduce whoami's key order exactly. Values are string, int64 or bool.
func (p *PeerCredentials) Fields() []Field {
	f := []Field{
		{"subject", p.Subject},
		{"issuer", p.Issuer},
		{"secondsLeft", p.SecondsLeft},
		{"isProxy", p.IsProxy},
		{"isLimitedProxy", p.IsLimitedProxy},
		{"validDN", false},
		{"validGroup", false},
		{"DN", p.DN},
	}
	if p.IsProxy {
		f = append(f, Field{"identity", p.Identity})
		if p.Group != "" {
			f = append(f, Field{"group", p.Group})
		}
	}
	return f
}

// Map returns the dictionary with DIRAC's key names (without x509Chain,
// username, properties, which the server adds): subject, issuer, secondsLeft,
// isProxy, isLimitedProxy, validDN, validGroup, DN and, for proxies, identity
// and group (when the extension is present).
func (p *PeerCredentials) Map() map[string]any {
	m := make(map[string]any, 10)
	for _, f := range p.Fields() {
		m[f.Key] = f.Value
	}
	return m
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify checks a client chain (leaf first) and returns its credentials. A
// refused chain is a *VerifyError.
func (v *Verifier) Verify(chain []*x509.Certificate) (*PeerCredentials, error) {
	if len(chain) == 0 {
		return nil, &VerifyError{Reason: ReasonNoCertificate, Detail: "client sent no certificate"}
	}
	if err := v.checkDepth(chain); err != nil {
		return nil, err
	}
	if v.CAs == nil {
		return nil, errors.New("credentials: Verifier without CA store")
	}
	now := v.now()
	pc, err := analyseChain(chain, now, chainCheck{strict: true, signatures: true, policy: v.ChainPolicy})
	if err != nil {
		return nil, err
	}
	eec := chain[pc.EndEntity]
	inter := x509.NewCertPool()
	for _, c := range chain[pc.EndEntity+1:] {
		inter.AddCert(c)
	}
	for _, c := range v.CAs.Certs {
		if !isSelfSigned(c) {
			inter.AddCert(c)
		}
	}
	chains, err := eec.Verify(x509.VerifyOptions{
		Roots:         v.CAs.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, withCADir(classifyX509Error(err, eec, now), v.CAs)
	}
	for _, ch := range chains {
		for _, c := range ch {
			if err := v.checkStrength(c); err != nil {
				return nil, err
			}
		}
	}
	if err := v.CAs.checkRevocation(chains, now, v.ExpiredCRL); err != nil {
		return nil, err
	}
	return pc, nil
}

func (v *Verifier) checkDepth(chain []*x509.Certificate) error {
	maxDepth := v.MaxDepth
	if maxDepth <= 0 {
		maxDepth = VerifyDepth
	}
	if len(chain) > maxDepth {
		return &VerifyError{Reason: ReasonChainTooLong, Subject: SubjectDN(chain[0]),
			Detail: fmt.Sprintf("%d certificates, at most %d allowed", len(chain), maxDepth)}
	}
	return nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return namesEqual(c.RawSubject, c.RawIssuer)
}

// CredentialsFromChain builds the credential dictionary of a chain whose
// proxy steps are already known to be valid (for example the peer chain of a
// TLS connection made with NewServerTLSConfig). It re-checks the proxy
// structure and signatures but not the CA, validity or key usage.
func CredentialsFromChain(chain []*x509.Certificate, now time.Time) (*PeerCredentials, error) {
	if len(chain) == 0 {
		return nil, &VerifyError{Reason: ReasonNoCertificate}
	}
	return analyseChain(chain, now, chainCheck{signatures: true})
}

// verifyResumed checks the chain of a resumed session, which Verify accepted
// when the session was established (see resume.go).
func (v *Verifier) verifyResumed(chain []*x509.Certificate) error {
	if err := v.checkDepth(chain); err != nil {
		return err
	}
	now := v.now()
	if err := checkResumed(chain, v.CAs, now); err != nil {
		return err
	}
	// A certificate may have been revoked since the session was established.
	return v.CAs.checkRevocation([][]*x509.Certificate{chain}, now, v.ExpiredCRL)
}

// chainCheck says what analyseChain verifies besides the proxy structure.
type chainCheck struct {
	strict     bool // each proxy step's validity, naming, path length, key usage, strength
	signatures bool // each proxy is signed by the next certificate
	policy     ChainPolicy
}

// analyseChain walks the proxy steps from the leaf, checking each one
// (signature by the next certificate when check.signatures; naming,
// validity, path length, key usage when check.strict), and fills everything
// but the CA verification.
func analyseChain(chain []*x509.Certificate, now time.Time, check chainCheck) (*PeerCredentials, error) {
	strict := check.strict
	pc := &PeerCredentials{Chain: chain, Subject: SubjectDN(chain[0]), Issuer: IssuerDN(chain[0])}
	limited, sawFull := false, false
	i := 0
	for ; i < len(chain); i++ {
		var issuer *x509.Certificate
		if i+1 < len(chain) {
			issuer = chain[i+1]
		}
		info, err := ClassifyProxy(chain[i], issuer)
		if err != nil {
			return nil, &VerifyError{Reason: ReasonBadProxy, Subject: SubjectDN(chain[i]), Issuer: IssuerDN(chain[i]), Err: err}
		}
		if info.Type == NotProxy {
			break
		}
		// The check public Go proxy verifiers tend to forget: the proxy must
		// really be signed by the certificate it names as issuer.
		// (Skipped only for the chain of a resumed session, checked in full
		// when the session was established.)
		if check.signatures {
			if err := issuer.CheckSignature(chain[i].SignatureAlgorithm, chain[i].RawTBSCertificate, chain[i].Signature); err != nil {
				return nil, &VerifyError{Reason: ReasonBadSignature, Subject: SubjectDN(chain[i]), Issuer: IssuerDN(chain[i]),
					Detail: "proxy is not signed by the next certificate of the chain", Err: err}
			}
		}
		if strict {
			if info.Type == Legacy && !check.policy.AllowLegacyProxies {
				return nil, &VerifyError{Reason: ReasonLegacyProxy, Subject: SubjectDN(chain[i]), Issuer: IssuerDN(chain[i]),
					Detail: "pre-RFC 3820 proxies are refused unless AllowLegacyProxies is set; make an RFC 3820 proxy (dirac-proxy-init)"}
			}
			if err := checkProxyStep(chain, i, info, now); err != nil {
				return nil, err
			}
			if err := check.policy.checkStrength(chain[i]); err != nil {
				return nil, err
			}
		}
		// Walking from the leaf up, a limited proxy must not have issued a
		// full one below it. DIRAC then stops treating the chain as a proxy
		// (the caller becomes an unknown DN); RFC 3820 makes the whole chain
		// limited. Refusing it is stricter than both. Where the chain is
		// only analysed (PeerInfo), limited anywhere makes it limited.
		if strict && info.Limited && sawFull {
			return nil, &VerifyError{Reason: ReasonBadProxy, Subject: SubjectDN(chain[i-1]), Issuer: SubjectDN(chain[i]),
				Detail: "a full proxy was issued by a limited proxy"}
		}
		sawFull = sawFull || !info.Limited
		limited = limited || info.Limited
		pc.ProxyTypes = append(pc.ProxyTypes, info.Type)
	}
	if i == len(chain) {
		return nil, &VerifyError{Reason: ReasonBadProxy, Subject: pc.Subject, Detail: "chain holds only proxies, no end-entity certificate"}
	}
	pc.EndEntity = i
	pc.IsProxy = i > 0
	pc.IsLimitedProxy = pc.IsProxy && limited
	eecDN := SubjectDN(chain[i])
	pc.DN = pc.Subject
	if pc.IsProxy {
		pc.DN = eecDN
		pc.Identity = eecDN
		for j := i; j >= 0; j-- {
			if g, ok := DIRACGroup(chain[j]); ok {
				pc.Group = g
				break
			}
		}
	}
	if strict {
		if err := checkClientPurpose(chain[i]); err != nil {
			return nil, err
		}
	}
	left := int64(math.MaxInt64)
	for _, c := range chain {
		left = min(left, int64(c.NotAfter.Sub(now)/time.Second))
	}
	left = max(left, 0) // expired
	pc.SecondsLeft = left
	return pc, nil
}

func checkProxyStep(chain []*x509.Certificate, i int, info ProxyInfo, now time.Time) error {
	c, issuer := chain[i], chain[i+1]
	fail := func(r VerifyReason, detail string) error {
		return &VerifyError{Reason: r, Subject: SubjectDN(c), Issuer: IssuerDN(c), NotBefore: c.NotBefore, NotAfter: c.NotAfter, Detail: detail}
	}
	if now.After(c.NotAfter) {
		return fail(ReasonExpired, "")
	}
	if now.Before(c.NotBefore) {
		return fail(ReasonNotYetValid, "")
	}
	if c.BasicConstraintsValid && c.IsCA {
		return fail(ReasonBadProxy, "a proxy must not be a CA")
	}
	if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses)+len(c.URIs) > 0 {
		return fail(ReasonBadProxy, "a proxy must not carry subjectAltName")
	}
	for _, oid := range c.UnhandledCriticalExtensions {
		if !oid.Equal(OIDProxyCertInfo) {
			return fail(ReasonBadProxy, fmt.Sprintf("unhandled critical extension %v", oid))
		}
	}
	// RFC 3820 §3.1: the issuer must be allowed to sign (digitalSignature).
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return &VerifyError{Reason: ReasonKeyUsage, Subject: SubjectDN(issuer), Detail: "proxy issuer's keyUsage lacks digitalSignature"}
	}
	// pCPathLenConstraint: how many proxies may follow this one. Every
	// certificate before it in the chain is a proxy derived from it.
	if info.PathLen >= 0 && i > info.PathLen {
		return fail(ReasonBadProxy, fmt.Sprintf("proxy path length %d exceeded (%d proxies below)", info.PathLen, i))
	}
	return checkClientPurpose(c)
}

// checkClientPurpose applies OpenSSL's ssl_client purpose checks to a
// certificate: EKU, if present, must allow clientAuth (or anyExtendedKeyUsage);
// nsCertType, if present, must allow SSL client; keyUsage, if present, must
// include digitalSignature or keyAgreement. Proxies without these extensions
// inherit from their issuer, which is checked too.
func checkClientPurpose(c *x509.Certificate) error {
	fail := func(d string) error {
		return &VerifyError{Reason: ReasonKeyUsage, Subject: SubjectDN(c), Issuer: IssuerDN(c), Detail: d}
	}
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
				ok = true
			}
		}
		if !ok {
			return fail("extendedKeyUsage does not allow TLS client authentication (clientAuth)")
		}
	}
	if ext := findExtension(c, oidNSCertType); ext != nil {
		var bits asn1.BitString
		if _, err := asn1.Unmarshal(ext.Value, &bits); err == nil && bits.BitLength > 0 && bits.At(0) == 0 {
			return fail("nsCertType does not allow SSL client")
		}
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) == 0 {
		return fail("keyUsage lacks digitalSignature and keyAgreement")
	}
	return nil
}

// classifyX509Error turns crypto/x509 errors into *VerifyError.
func classifyX509Error(err error, leaf *x509.Certificate, now time.Time) error {
	ve := &VerifyError{Reason: ReasonOther, Subject: SubjectDN(leaf), Issuer: IssuerDN(leaf), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Err: err}
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		ve.Reason = ReasonUnknownAuthority
		if ua.Cert != nil {
			ve.Subject, ve.Issuer = SubjectDN(ua.Cert), IssuerDN(ua.Cert)
		}
	case errors.As(err, &ci):
		if ci.Cert != nil {
			c := ci.Cert
			ve.Subject, ve.Issuer, ve.NotBefore, ve.NotAfter = SubjectDN(c), IssuerDN(c), c.NotBefore, c.NotAfter
		}
		switch ci.Reason {
		case x509.Expired:
			ve.Reason = ReasonExpired
			if now.Before(ve.NotBefore) {
				ve.Reason = ReasonNotYetValid
			}
		case x509.IncompatibleUsage:
			ve.Reason = ReasonKeyUsage
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.TooManyIntermediates:
			ve.Reason = ReasonUnknownAuthority
		}
	case errors.As(err, new(x509.InsecureAlgorithmError)), errors.Is(err, x509.ErrUnsupportedAlgorithm):
		ve.Reason = ReasonBadSignature
	}
	return ve
}

// withCADir names the CA directory in unknown-authority errors, the first
// thing a user needs to check.
func withCADir(err error, cas *CAStore) error {
	var ve *VerifyError
	if errors.As(err, &ve) && ve.Reason == ReasonUnknownAuthority && cas != nil {
		where := "the CA store"
		if cas.Dir != "" {
			where = "CA directory " + cas.Dir
		}
		ve.Detail = fmt.Sprintf("%s holds %d certificates, none issued %s", where, len(cas.Certs), ve.Issuer)
	}
	return err
}
