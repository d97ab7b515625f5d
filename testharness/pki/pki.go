// Package pki is a throw-away certificate authority for tests: it mints host
// and user certificates, grid proxies (RFC 3820, legacy, limited, proxies of
// proxies, with a DIRAC group), broken variants (expired, not yet valid, wrong
// host name, no clientAuth EKU, forged proxy signatures, a second untrusted CA)
// and writes everything to a directory in the layout grid tools expect,
// including a CA directory in OpenSSL's hashed form (<subject hash>.0).
//
// Keys are ECDSA P-256 by default so that a whole PKI costs milliseconds; set
// Options.RSA (or CertSpec.RSA) where a test needs RSA 2048.
//
//	ca, err := pki.New(pki.Options{})
//	host, err := ca.Host("localhost", "127.0.0.1")
//	user, err := ca.User("alice")
//	proxy, err := ca.Proxy(user, pki.RFC3820)
//	files, err := ca.WriteDir(t.TempDir())  // files.Env has X509_CERT_DIR, X509_USER_PROXY, ...
//
// The core API does not depend on package testing; see the *T helpers in
// testing.go for test suites.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/x509pem"
)

// Options configures a CA. The zero value is ready to use.
type Options struct {
	// Name is the CA's common name; default "diracrpc Test CA <random>".
	Name string
	// RSA makes every key RSA 2048 instead of ECDSA P-256.
	RSA bool
	// Validity of issued certificates; default 30 days.
	Validity time.Duration
	// Now is the reference time; nil means time.Now.
	Now func() time.Time
}

// CA is an in-memory certificate authority. It is safe for concurrent use.
type CA struct {
	// Cert is the self-signed CA certificate, Key its key.
	Cert *x509.Certificate
	Key  crypto.Signer

	opts Options

	mu        sync.Mutex
	untrusted *CA
}

// ProxyKind selects the proxy CA.Proxy makes.
type ProxyKind int

// Proxy kinds.
const (
	RFC3820       ProxyKind = iota // RFC 3820 inheritAll proxy, as DIRAC makes
	Legacy                         // Globus legacy proxy: CN=proxy
	Limited                        // RFC 3820 limited proxy
	LegacyLimited                  // Globus legacy limited proxy: CN=limited proxy
)

// baseDN is the DN prefix of everything this package issues.
var baseDN = pkix.Name{Country: []string{"ch"}, Organization: []string{"DIRAC"}, OrganizationalUnit: []string{"diracrpc test"}}

func (o Options) withDefaults() Options {
	if o.Validity == 0 {
		o.Validity = 30 * 24 * time.Hour
	}
	return o
}

// FromCA wraps an existing CA certificate and its key (for example the
// openssl-made CA of a real DIRAC test installation) so that it issues
// certificates, proxies and CRLs as the CAs of New do.
func FromCA(cert *x509.Certificate, key crypto.Signer, opts Options) *CA {
	return &CA{Cert: cert, Key: key, opts: opts.withDefaults()}
}

// New creates a CA.
func New(opts Options) (*CA, error) {
	opts = opts.withDefaults()
	name := opts.Name
	if name == "" {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<40))
		if err != nil {
			return nil, err
		}
		name = fmt.Sprintf("diracrpc Test CA %d", n)
	}
	key, err := newKey(opts.RSA)
	if err != nil {
		return nil, err
	}
	now := opts.now()
	subj := baseDN
	subj.CommonName = name
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               subj,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, opts: opts}, nil
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func newKey(useRSA bool) (crypto.Signer, error) {
	if useRSA {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func randSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// Untrusted returns a second CA, created on first use, whose certificates the
// first CA's store does not trust.
func (ca *CA) Untrusted() (*CA, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if ca.untrusted == nil {
		o := ca.opts
		o.Name = ""
		u, err := New(o)
		if err != nil {
			return nil, err
		}
		ca.untrusted = u
	}
	return ca.untrusted, nil
}

// Store returns a CA store trusting only this CA.
func (ca *CA) Store() *credentials.CAStore { return credentials.NewCAStore(ca.Cert) }

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return x509pem.Certificates(ca.Cert) }

// Credential returns the CA certificate and key as a credential.
func (ca *CA) Credential() *credentials.Credential {
	return &credentials.Credential{Chain: []*x509.Certificate{ca.Cert}, PrivateKey: ca.Key}
}

// CertSpec describes an end-entity certificate for Issue.
type CertSpec struct {
	// CommonName is the last attribute of the subject (after C, O, OU).
	CommonName string
	// Extra RDNs before CN, e.g. emailAddress; optional.
	ExtraNames []pkix.AttributeTypeAndValue
	// DNSNames and IPs go into subjectAltName.
	DNSNames []string
	IPs      []net.IP
	// ExtKeyUsage; nil means serverAuth+clientAuth for hosts (any SAN) and
	// clientAuth for users. An empty non-nil slice omits the extension.
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore/NotAfter default to now-1h and now+Validity.
	NotBefore, NotAfter time.Time
	// RSA makes an RSA 2048 key for this certificate.
	RSA bool
	// KeyBits, if set, makes an RSA key of that size (weak-key tests).
	KeyBits int
	// Key, if set, is used instead of generating one.
	Key crypto.Signer
}

// Issue signs a certificate from spec.
func (ca *CA) Issue(spec CertSpec) (*credentials.Credential, error) {
	key := spec.Key
	if key == nil && spec.KeyBits > 0 {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, spec.KeyBits); err != nil {
			return nil, err
		}
	}
	if key == nil {
		var err error
		if key, err = newKey(spec.RSA || ca.opts.RSA); err != nil {
			return nil, err
		}
	}
	now := ca.opts.now()
	subj := baseDN
	subj.CommonName = spec.CommonName
	subj.ExtraNames = nil
	if len(spec.ExtraNames) > 0 {
		// ExtraNames replace the whole subject in crypto/x509; rebuild it in order.
		var names []pkix.AttributeTypeAndValue
		names = append(names,
			pkix.AttributeTypeAndValue{Type: []int{2, 5, 4, 6}, Value: "ch"},
			pkix.AttributeTypeAndValue{Type: []int{2, 5, 4, 10}, Value: "DIRAC"},
			pkix.AttributeTypeAndValue{Type: []int{2, 5, 4, 11}, Value: "diracrpc test"})
		names = append(names, spec.ExtraNames...)
		names = append(names, pkix.AttributeTypeAndValue{Type: []int{2, 5, 4, 3}, Value: spec.CommonName})
		subj = pkix.Name{ExtraNames: names}
	}
	eku := spec.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		if len(spec.DNSNames)+len(spec.IPs) > 0 {
			eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}
	}
	nb, na := spec.NotBefore, spec.NotAfter
	if nb.IsZero() {
		nb = now.Add(-time.Hour)
	}
	if na.IsZero() {
		na = now.Add(ca.opts.Validity)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               subj,
		NotBefore:             nb,
		NotAfter:              na,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           eku,
		DNSNames:              spec.DNSNames,
		IPAddresses:           spec.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: issue %q: %w", spec.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &credentials.Credential{Chain: []*x509.Certificate{cert}, PrivateKey: key}, nil
}

func hostSpec(names []string) CertSpec {
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1"}
	}
	spec := CertSpec{CommonName: names[0]}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			spec.IPs = append(spec.IPs, ip)
		} else {
			spec.DNSNames = append(spec.DNSNames, n)
		}
	}
	return spec
}

// Host issues a host certificate with CN = names[0] and every name in
// subjectAltName (IP literals as IP entries). No names: localhost and 127.0.0.1.
func (ca *CA) Host(names ...string) (*credentials.Credential, error) {
	return ca.Issue(hostSpec(names))
}

// HostCNOnly issues a host certificate without subjectAltName: only the CN
// names the host, which DIRAC clients accept and crypto/x509 does not.
func (ca *CA) HostCNOnly(cn string) (*credentials.Credential, error) {
	return ca.Issue(CertSpec{CommonName: cn, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
}

// WrongHost issues a valid host certificate for "wrong.example.invalid", for
// host-name mismatch tests.
func (ca *CA) WrongHost() (*credentials.Credential, error) {
	return ca.Host("wrong.example.invalid")
}

// ExpiredHost issues a host certificate that expired an hour ago.
func (ca *CA) ExpiredHost(names ...string) (*credentials.Credential, error) {
	spec := hostSpec(names)
	now := ca.opts.now()
	spec.NotBefore, spec.NotAfter = now.Add(-48*time.Hour), now.Add(-time.Hour)
	return ca.Issue(spec)
}

// NotYetValidHost issues a host certificate valid from tomorrow.
func (ca *CA) NotYetValidHost(names ...string) (*credentials.Credential, error) {
	spec := hostSpec(names)
	now := ca.opts.now()
	spec.NotBefore, spec.NotAfter = now.Add(24*time.Hour), now.Add(48*time.Hour)
	return ca.Issue(spec)
}

// User issues a user certificate (EKU clientAuth) with the given CN.
func (ca *CA) User(cn string) (*credentials.Credential, error) {
	return ca.Issue(CertSpec{CommonName: cn})
}

// ExpiredUser issues a user certificate that expired an hour ago.
func (ca *CA) ExpiredUser(cn string) (*credentials.Credential, error) {
	now := ca.opts.now()
	return ca.Issue(CertSpec{CommonName: cn, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
}

// UserWithoutClientAuth issues a certificate whose EKU (emailProtection only)
// forbids TLS client authentication: servers must refuse it.
func (ca *CA) UserWithoutClientAuth(cn string) (*credentials.Credential, error) {
	return ca.Issue(CertSpec{CommonName: cn, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
}

// Proxy makes a proxy of issuer (a user certificate or another proxy, for a
// proxy of a proxy), valid 12 h, with a P-256 key unless the CA uses RSA.
func (ca *CA) Proxy(issuer *credentials.Credential, kind ProxyKind) (*credentials.Credential, error) {
	return ca.ProxyWith(issuer, kind, credentials.ProxyOptions{})
}

// ProxyWith is Proxy with explicit options (Group, Lifetime, PathLen, Now...);
// kind overrides opts.Type and opts.Limited.
func (ca *CA) ProxyWith(issuer *credentials.Credential, kind ProxyKind, opts credentials.ProxyOptions) (*credentials.Credential, error) {
	switch kind {
	case RFC3820:
		opts.Type, opts.Limited = credentials.RFC3820, false
	case Limited:
		opts.Type, opts.Limited = credentials.RFC3820, true
	case Legacy:
		opts.Type, opts.Limited = credentials.Legacy, false
	case LegacyLimited:
		opts.Type, opts.Limited = credentials.Legacy, true
	default:
		return nil, fmt.Errorf("pki: unknown proxy kind %d", kind)
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = 12 * time.Hour
	}
	if opts.Key == nil && !ca.opts.RSA && opts.KeyBits == 0 {
		opts.ECDSA = true
	}
	if opts.Now == nil {
		opts.Now = ca.opts.Now
	}
	return credentials.NewProxy(issuer, opts)
}

// ExpiredProxy makes an RFC 3820 proxy of issuer that expired a minute ago.
func (ca *CA) ExpiredProxy(issuer *credentials.Credential) (*credentials.Credential, error) {
	now := ca.opts.now()
	return ca.ProxyWith(issuer, RFC3820, credentials.ProxyOptions{
		Now:      func() time.Time { return now.Add(-2 * time.Hour) },
		Lifetime: 2*time.Hour - time.Minute,
	})
}

// ForgedProxy makes an RFC 3820 proxy that names issuer as its issuer (correct
// subject, issuer DN and extensions) but is signed by an unrelated key: a
// verifier that skips the signature check of proxy steps accepts it.
func (ca *CA) ForgedProxy(issuer *credentials.Credential) (*credentials.Credential, error) {
	if issuer == nil || len(issuer.Chain) == 0 {
		return nil, errors.New("pki: ForgedProxy needs an issuer")
	}
	evil, err := newKey(false)
	if err != nil {
		return nil, err
	}
	fake := *issuer.Chain[0]
	fake.PublicKey = evil.Public()
	fake.SubjectKeyId = nil
	fakeIssuer := &credentials.Credential{Chain: append([]*x509.Certificate{&fake}, issuer.Chain[1:]...), PrivateKey: evil}
	p, err := ca.ProxyWith(fakeIssuer, RFC3820, credentials.ProxyOptions{})
	if err != nil {
		return nil, err
	}
	p.Chain = append([]*x509.Certificate{p.Chain[0]}, issuer.Chain...)
	return p, nil
}

// WeakKeyProxy makes an RFC 3820 proxy of issuer with an RSA key of bits
// (1024 for the weak-crypto tests).
func (ca *CA) WeakKeyProxy(issuer *credentials.Credential, bits int) (*credentials.Credential, error) {
	return ca.ProxyWith(issuer, RFC3820, credentials.ProxyOptions{KeyBits: bits})
}

// SHA1Proxy makes an RFC 3820 proxy of issuer signed with SHA-1 (RSA or
// ECDSA after the issuer's key), which OpenSSL 3 refuses.
func (ca *CA) SHA1Proxy(issuer *credentials.Credential) (*credentials.Credential, error) {
	alg := x509.ECDSAWithSHA1
	if _, ok := issuer.PrivateKey.(*rsa.PrivateKey); ok {
		alg = x509.SHA1WithRSA
	}
	return ca.ProxyWith(issuer, RFC3820, credentials.ProxyOptions{SignatureAlgorithm: alg})
}

// NamedLimitedProxy makes an RFC 3820 proxy whose policy is inheritAll (a
// full proxy) but whose last CN is "limited proxy": DIRAC goes by the name
// and treats it as limited.
func (ca *CA) NamedLimitedProxy(issuer *credentials.Credential) (*credentials.Credential, error) {
	return ca.ProxyWith(issuer, RFC3820, credentials.ProxyOptions{CommonName: "limited proxy"})
}

// CRLSpec describes a CRL for CA.CRL.
type CRLSpec struct {
	// Revoked certificates (their serial numbers are listed).
	Revoked []*x509.Certificate
	// ThisUpdate and NextUpdate default to now-1h and now+7 days; a
	// NextUpdate in the past makes an expired CRL.
	ThisUpdate, NextUpdate time.Time
	// Number is the CRL number; default 1.
	Number int64
}

// CRL returns a DER CRL signed by the CA.
func (ca *CA) CRL(spec CRLSpec) ([]byte, error) {
	now := ca.opts.now()
	if spec.ThisUpdate.IsZero() {
		spec.ThisUpdate = now.Add(-time.Hour)
	}
	if spec.NextUpdate.IsZero() {
		spec.NextUpdate = now.Add(7 * 24 * time.Hour)
	}
	if spec.Number == 0 {
		spec.Number = 1
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(spec.Number), ThisUpdate: spec.ThisUpdate, NextUpdate: spec.NextUpdate}
	for _, c := range spec.Revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: spec.ThisUpdate})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: CRL: %w", err)
	}
	return der, nil
}

// ForgedCRL returns a CRL that names this CA as its issuer but is signed by
// an unrelated key: verifiers must ignore it.
func (ca *CA) ForgedCRL(spec CRLSpec) ([]byte, error) {
	evil, err := newKey(false)
	if err != nil {
		return nil, err
	}
	fake := *ca.Cert
	fake.PublicKey = evil.Public()
	forger := &CA{Cert: &fake, Key: evil, opts: ca.opts}
	return forger.CRL(spec)
}

// WriteCRL writes a CRL (DER, as CRL returns) into a CA directory as PEM,
// under the name fetch-crl uses: <issuer subject hash>.r0. It returns the path.
func (ca *CA) WriteCRL(dir string, der []byte) (string, error) {
	h, err := credentials.SubjectHash(ca.Cert)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, h+".r0")
	data := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	// Written under a temporary name and renamed, as fetch-crl does.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// Identities are the credentials most tests serve and call with: a host
// certificate for localhost, 127.0.0.1 and ::1, a user, and the user's
// RFC 3820 proxy for group dirac_user (what WriteDir writes).
type Identities struct {
	Host, User, Proxy *credentials.Credential
}

// Identities issues them, the user with common name cn.
func (ca *CA) Identities(cn string) (Identities, error) {
	host, err := ca.Host("localhost", "127.0.0.1", "::1")
	if err != nil {
		return Identities{}, err
	}
	user, err := ca.User(cn)
	if err != nil {
		return Identities{}, err
	}
	proxy, err := ca.ProxyWith(user, RFC3820, credentials.ProxyOptions{Group: "dirac_user"})
	if err != nil {
		return Identities{}, err
	}
	return Identities{Host: host, User: user, Proxy: proxy}, nil
}

// Files are the paths WriteDir wrote.
type Files struct {
	Root     string // the directory given to WriteDir
	CADir    string // hashed CA directory (X509_CERT_DIR)
	CACert   string // the CA certificate alone
	HostCert string
	HostKey  string
	UserCert string
	UserKey  string
	Proxy    string // RFC 3820 proxy of the user (proxy, key, user cert), group "dirac_user"
	// Env maps the grid variables to the files above: X509_CERT_DIR,
	// X509_USER_PROXY, X509_USER_CERT, X509_USER_KEY, DIRAC_X509_HOST_CERT,
	// DIRAC_X509_HOST_KEY.
	Env Env
	// Host, User and ProxyCred are the credentials written.
	Host, User, ProxyCred *credentials.Credential
}

// Env is the environment a client needs to find a set of credentials
// (X509_USER_PROXY, X509_CERT_DIR, ...).
type Env map[string]string

// Environ returns the variables as sorted "KEY=value" strings for exec.Cmd.Env.
func (e Env) Environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// LookupEnv looks a variable up, for credentials.Locator.LookupEnv.
func (e Env) LookupEnv(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

// Environ returns Env as sorted "KEY=value" strings for exec.Cmd.Env.
func (f *Files) Environ() []string { return f.Env.Environ() }

// LookupEnv looks up Env, for credentials.Locator.LookupEnv.
func (f *Files) LookupEnv(k string) (string, bool) { return f.Env.LookupEnv(k) }

// WriteDir writes a complete grid-security layout under dir:
//
//	certificates/<hash>.0                            the CA (OpenSSL capath)
//	ca.pem                                           the CA certificate
//	hostcert.pem, hostkey.pem                        localhost + 127.0.0.1
//	usercert.pem, userkey.pem                        CN=testuser
//	proxy.pem                                        RFC 3820 proxy of the user, group dirac_user
//
// Keys and the proxy are mode 0600.
func (ca *CA) WriteDir(dir string) (*Files, error) {
	ids, err := ca.Identities("testuser")
	if err != nil {
		return nil, err
	}
	host, user, proxy := ids.Host, ids.User, ids.Proxy
	f := &Files{
		Root:     dir,
		CADir:    filepath.Join(dir, "certificates"),
		CACert:   filepath.Join(dir, "ca.pem"),
		HostCert: filepath.Join(dir, "hostcert.pem"),
		HostKey:  filepath.Join(dir, "hostkey.pem"),
		UserCert: filepath.Join(dir, "usercert.pem"),
		UserKey:  filepath.Join(dir, "userkey.pem"),
		Proxy:    filepath.Join(dir, "proxy.pem"),
		Host:     host, User: user, ProxyCred: proxy,
	}
	if err := WriteCADir(f.CADir, ca.Cert); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f.CACert, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := WriteCertKey(f.HostCert, f.HostKey, host); err != nil {
		return nil, err
	}
	if err := WriteCertKey(f.UserCert, f.UserKey, user); err != nil {
		return nil, err
	}
	if err := credentials.WriteProxyFile(f.Proxy, proxy); err != nil {
		return nil, err
	}
	f.Env = Env{
		"X509_CERT_DIR":        f.CADir,
		"X509_USER_PROXY":      f.Proxy,
		"X509_USER_CERT":       f.UserCert,
		"X509_USER_KEY":        f.UserKey,
		"DIRAC_X509_HOST_CERT": f.HostCert,
		"DIRAC_X509_HOST_KEY":  f.HostKey,
	}
	return f, nil
}

// WriteCADir writes CA certificates into dir in OpenSSL's hashed layout:
// <subject hash>.<n> (n counting up on hash collisions), mode 0644, the only
// names credentials.LoadCADir trusts. dir is created if needed.
func WriteCADir(dir string, cas ...*x509.Certificate) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range cas {
		h, err := credentials.SubjectHash(c)
		if err != nil {
			return err
		}
		data := x509pem.Certificates(c)
		for n := 0; ; n++ {
			p := filepath.Join(dir, fmt.Sprintf("%s.%d", h, n))
			old, err := os.ReadFile(p)
			if err == nil {
				if bytes.Equal(old, data) {
					break
				}
				continue
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// WriteCertKey writes a credential's chain to certPath (0644) and its key to
// keyPath (0600).
func WriteCertKey(certPath, keyPath string, c *credentials.Credential) error {
	if err := os.WriteFile(certPath, x509pem.Certificates(c.Chain...), 0o644); err != nil {
		return err
	}
	key, err := x509pem.PrivateKey(c.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		return err
	}
	return os.Chmod(keyPath, 0o600) // WriteFile keeps an existing file's mode
}

// KeyPEM returns a credential's private key in PEM (PKCS#1 for RSA, SEC 1 for EC).
func KeyPEM(c *credentials.Credential) []byte {
	b, err := x509pem.PrivateKey(c.PrivateKey)
	if err != nil {
		return nil
	}
	return b
}

// CertPEM returns a credential's certificate chain in PEM.
func CertPEM(c *credentials.Credential) []byte {
	return x509pem.Certificates(c.Chain...)
}
