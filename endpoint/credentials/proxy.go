package credentials

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/diracgo/diracrpc/internal/x509pem"
)

// Object identifiers of the grid extensions.
var (
	// OIDProxyCertInfo is the RFC 3820 proxyCertInfo extension.
	OIDProxyCertInfo = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 14}
	// OIDPolicyInheritAll is the RFC 3820 "inherit all" policy language (a normal proxy).
	OIDPolicyInheritAll = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 21, 1}
	// OIDPolicyIndependent is the RFC 3820 "independent" policy language.
	OIDPolicyIndependent = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 21, 2}
	// OIDPolicyLimited is the Globus "limited proxy" policy language.
	OIDPolicyLimited = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3536, 1, 1, 1, 9}
	// OIDDIRACGroup is DIRAC's group extension (IA5String).
	OIDDIRACGroup = asn1.ObjectIdentifier{1, 2, 42, 42}
	// OIDVOMSAttributes carries VOMS attribute certificates (not used for authorization).
	OIDVOMSAttributes = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 8005, 100, 100, 5}

	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidNSCertType = asn1.ObjectIdentifier{2, 16, 840, 1, 113730, 1, 1}
)

// ProxyType is the kind of a proxy certificate.
type ProxyType int

// Proxy types.
const (
	// NotProxy is an end-entity (or CA) certificate.
	NotProxy ProxyType = iota
	// RFC3820 proxies carry the critical proxyCertInfo extension (what DIRAC makes).
	RFC3820
	// Legacy is a Globus pre-RFC proxy: subject ends in CN=proxy or CN=limited proxy.
	Legacy
)

func (t ProxyType) String() string {
	switch t {
	case RFC3820:
		return "RFC 3820 proxy"
	case Legacy:
		return "legacy Globus proxy"
	}
	return "end-entity certificate"
}

type proxyPolicy struct {
	Language asn1.ObjectIdentifier
	Policy   []byte `asn1:"optional"`
}

type proxyCertInfoWithLen struct {
	PathLen int
	Policy  proxyPolicy
}

type proxyCertInfoNoLen struct {
	Policy proxyPolicy
}

// ProxyInfo describes one proxy step of a chain.
type ProxyInfo struct {
	Type    ProxyType
	Limited bool
	// PathLen is the RFC 3820 pCPathLenConstraint, -1 when absent (unlimited).
	PathLen int
	// Language is the RFC 3820 policy language.
	Language asn1.ObjectIdentifier
}

func findExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) *pkix.Extension {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(oid) {
			return &c.Extensions[i]
		}
	}
	return nil
}

func parseProxyCertInfo(der []byte) (pathLen int, lang asn1.ObjectIdentifier, err error) {
	var withLen proxyCertInfoWithLen
	if rest, err := asn1.Unmarshal(der, &withLen); err == nil && len(rest) == 0 {
		if withLen.PathLen < 0 {
			return 0, nil, errors.New("negative proxy path length")
		}
		return withLen.PathLen, withLen.Policy.Language, nil
	}
	var noLen proxyCertInfoNoLen
	rest, err := asn1.Unmarshal(der, &noLen)
	if err != nil {
		return 0, nil, fmt.Errorf("proxyCertInfo: %w", err)
	}
	if len(rest) != 0 {
		return 0, nil, errors.New("proxyCertInfo: trailing data")
	}
	return -1, noLen.Policy.Language, nil
}

// subjectExtendsIssuer reports whether subject is issuerSubject plus one
// trailing RDN made of a single CN, and returns that CN's value.
func subjectExtendsIssuer(subject, issuerSubject []byte) (cn string, ok bool) {
	s, err := parseRawName(subject)
	if err != nil {
		return "", false
	}
	is, err := parseRawName(issuerSubject)
	if err != nil || len(s) != len(is)+1 {
		return "", false
	}
	last := s[len(s)-1]
	if len(last) != 1 || !last[0].Type.Equal(oidCommonName) {
		return "", false
	}
	prefix, err := asn1.Marshal(s[:len(is)])
	if err != nil {
		return "", false
	}
	// DIRAC compares the oneline strings, OpenSSL the canonical forms; a
	// DIRAC server applies both, so do we.
	p1, err1 := OneLine(prefix)
	p2, err2 := OneLine(issuerSubject)
	if err1 != nil || err2 != nil || p1 != p2 || !namesEqual(prefix, issuerSubject) {
		return "", false
	}
	return string(last[0].Value.Bytes), true
}

// namesEqual compares two DER names as OpenSSL's X509_NAME_cmp does (canonical encodings).
func namesEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ca, err1 := canonicalName(a)
	cb, err2 := canonicalName(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// ClassifyProxy tells whether cert is a proxy issued by issuer, following
// DIRAC's rules: the subject must be the issuer's subject plus one CN, and
// either the certificate carries proxyCertInfo (RFC 3820) or that CN is "proxy"
// or "limited proxy" (legacy). A certificate with proxyCertInfo that breaks the
// naming rule is an error. It checks structure only, not the signature.
func ClassifyProxy(cert, issuer *x509.Certificate) (ProxyInfo, error) {
	ext := findExtension(cert, OIDProxyCertInfo)
	if issuer == nil {
		if ext != nil {
			return ProxyInfo{}, errors.New("proxy certificate without its issuer in the chain")
		}
		return ProxyInfo{Type: NotProxy, PathLen: -1}, nil
	}
	if issuer.BasicConstraintsValid && issuer.IsCA {
		// Proxies are issued by end-entity certificates or other proxies,
		// never by a CA (RFC 3820 §3.1).
		if ext != nil {
			return ProxyInfo{}, errors.New("proxy certificate issued by a CA certificate")
		}
		return ProxyInfo{Type: NotProxy, PathLen: -1}, nil
	}
	cn, named := subjectExtendsIssuer(cert.RawSubject, issuer.RawSubject)
	if named && !namesEqual(cert.RawIssuer, issuer.RawSubject) {
		named = false
	}
	if ext != nil {
		if !named {
			return ProxyInfo{}, fmt.Errorf("proxy subject %s is not its issuer's subject %s plus one CN", SubjectDN(cert), SubjectDN(issuer))
		}
		if !ext.Critical {
			return ProxyInfo{}, errors.New("proxyCertInfo extension is not critical")
		}
		pl, lang, err := parseProxyCertInfo(ext.Value)
		if err != nil {
			return ProxyInfo{}, err
		}
		// DIRAC decides by the name first: a last CN "limited proxy" is
		// limited whatever the policy says. Limited wins either way.
		info := ProxyInfo{Type: RFC3820, PathLen: pl, Language: lang, Limited: cn == "limited proxy"}
		switch {
		case lang.Equal(OIDPolicyInheritAll):
		case lang.Equal(OIDPolicyLimited):
			info.Limited = true
		default:
			// Independent and custom policies grant rights DIRAC cannot interpret.
			return ProxyInfo{}, fmt.Errorf("proxy policy language %v is not supported", lang)
		}
		return info, nil
	}
	if named && (cn == "proxy" || cn == "limited proxy") {
		return ProxyInfo{Type: Legacy, Limited: cn == "limited proxy", PathLen: -1}, nil
	}
	return ProxyInfo{Type: NotProxy, PathLen: -1}, nil
}

// DIRACGroup returns the DIRAC group extension (OID 1.2.42.42) of a certificate.
func DIRACGroup(c *x509.Certificate) (string, bool) {
	ext := findExtension(c, OIDDIRACGroup)
	if ext == nil {
		return "", false
	}
	var s string
	if _, err := asn1.UnmarshalWithParams(ext.Value, &s, "ia5"); err != nil {
		if _, err := asn1.Unmarshal(ext.Value, &s); err != nil {
			return "", false
		}
	}
	return s, true
}

// ProxyOptions tunes NewProxy. The zero value makes what dirac-proxy-init
// makes without VOMS: RFC 3820, 24 h, RSA 2048, no group, not limited.
type ProxyOptions struct {
	// Type is RFC3820 (default) or Legacy.
	Type ProxyType
	// Lifetime defaults to 24h; it is cut to the issuing chain's expiry.
	Lifetime time.Duration
	// Limited makes a limited proxy.
	Limited bool
	// Group, if set, is written in the DIRAC group extension (1.2.42.42).
	Group string
	// PathLen, if set, is written as pCPathLenConstraint (RFC 3820 only).
	PathLen *int
	// Key is the proxy's key; nil generates one (RSA KeyBits, or P-256 with ECDSA).
	Key crypto.Signer
	// KeyBits is the RSA size of a generated key; default 2048.
	KeyBits int
	// ECDSA generates a P-256 key instead of RSA (much faster; for tests).
	ECDSA bool
	// Now is the reference time; nil means time.Now.
	Now func() time.Time
	// Backdate moves notBefore into the past to absorb clock skew; default 15 min (as DIRAC).
	Backdate time.Duration
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// SignatureAlgorithm signs the proxy; 0 lets crypto/x509 choose from
	// the issuer's key (SHA-256 family). For tests of weak algorithms.
	SignatureAlgorithm x509.SignatureAlgorithm
	// CommonName replaces the proxy's last CN (the serial number for RFC
	// 3820, "proxy" or "limited proxy" for Legacy); for tests of naming rules.
	CommonName string
}

// NewProxy signs a proxy certificate with issuer's key. The result's chain is
// the proxy followed by issuer's whole chain, ready for WriteProxyFile.
func NewProxy(issuer *Credential, opts ProxyOptions) (*Credential, error) {
	if issuer == nil || len(issuer.Chain) == 0 || issuer.PrivateKey == nil {
		return nil, errors.New("credentials: NewProxy needs a certificate with its private key")
	}
	key := opts.Key
	if key == nil {
		r := opts.Rand
		if r == nil {
			r = rand.Reader
		}
		var err error
		if opts.ECDSA {
			key, err = ecdsa.GenerateKey(elliptic.P256(), r)
		} else {
			bits := opts.KeyBits
			if bits == 0 {
				bits = 2048
			}
			key, err = rsa.GenerateKey(r, bits)
		}
		if err != nil {
			return nil, fmt.Errorf("credentials: generate proxy key: %w", err)
		}
	}
	cert, err := signProxy(issuer, key.Public(), opts)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{cert}, issuer.Chain...)
	return &Credential{Chain: chain, PrivateKey: key}, nil
}

// signProxy issues the proxy certificate of pub, signed by issuer's key
// (NewProxy's and SignProxyRequest's one mechanism).
func signProxy(issuer *Credential, pub crypto.PublicKey, opts ProxyOptions) (*x509.Certificate, error) {
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = 24 * time.Hour
	}
	backdate := opts.Backdate
	if backdate == 0 {
		backdate = 15 * time.Minute
	}
	serial, err := rand.Int(r, new(big.Int).Lsh(big.NewInt(1), 32))
	if err != nil {
		return nil, err
	}
	serial.Add(serial, big.NewInt(1))

	parent := issuer.Chain[0]
	var cn string
	var exts []pkix.Extension
	switch opts.Type {
	case RFC3820, NotProxy:
		cn = serial.String()
		lang := OIDPolicyInheritAll
		if opts.Limited {
			lang = OIDPolicyLimited
		}
		var v []byte
		if opts.PathLen != nil {
			v, err = asn1.Marshal(proxyCertInfoWithLen{PathLen: *opts.PathLen, Policy: proxyPolicy{Language: lang}})
		} else {
			v, err = asn1.Marshal(proxyCertInfoNoLen{Policy: proxyPolicy{Language: lang}})
		}
		if err != nil {
			return nil, err
		}
		exts = append(exts, pkix.Extension{Id: OIDProxyCertInfo, Critical: true, Value: v})
	case Legacy:
		cn = "proxy"
		if opts.Limited {
			cn = "limited proxy"
		}
	default:
		return nil, fmt.Errorf("credentials: unknown proxy type %d", opts.Type)
	}
	if opts.Group != "" {
		v, err := asn1.MarshalWithParams(opts.Group, "ia5")
		if err != nil {
			return nil, fmt.Errorf("credentials: group %q: %w", opts.Group, err)
		}
		exts = append(exts, pkix.Extension{Id: OIDDIRACGroup, Value: v})
	}
	if opts.CommonName != "" {
		cn = opts.CommonName
	}
	subject, err := appendCN(parent.RawSubject, cn)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(lifetime)
	if na := issuer.NotAfter(); na.Before(notAfter) {
		notAfter = na
	}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		RawSubject:         subject,
		NotBefore:          now.Add(-backdate),
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
		ExtraExtensions:    exts,
		SignatureAlgorithm: opts.SignatureAlgorithm,
	}
	der, err := x509.CreateCertificate(r, tmpl, parent, pub, issuer.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("credentials: sign proxy: %w", err)
	}
	return x509.ParseCertificate(der)
}

func appendCN(rawName []byte, cn string) ([]byte, error) {
	rdns, err := parseRawName(rawName)
	if err != nil {
		return nil, err
	}
	val, err := asn1.MarshalWithParams(cn, "utf8")
	if err != nil {
		return nil, err
	}
	rdns = append(rdns, rawRDNSET{{Type: oidCommonName, Value: asn1.RawValue{FullBytes: val}}})
	return asn1.Marshal(rdns)
}

// EncodeProxyPEM returns the proxy file content DIRAC writes: the proxy
// certificate, its unencrypted key, then the rest of the chain.
func (c *Credential) EncodeProxyPEM() ([]byte, error) {
	key, err := x509pem.PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(x509pem.Certificates(c.Chain[0]))
	b.Write(key)
	b.Write(x509pem.Certificates(c.Chain[1:]...))
	return b.Bytes(), nil
}

// WriteProxyFile writes c as a proxy file with mode 0600. The file is written
// under a temporary name and renamed, so readers never see half a proxy.
func WriteProxyFile(path string, c *Credential) error {
	data, err := c.EncodeProxyPEM()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".x509up-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
