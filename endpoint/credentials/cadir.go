package credentials

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CAStore is a loaded CA directory. Self-signed certificates are trust anchors;
// other CA certificates found in the directory are only used to build chains,
// as OpenSSL does with a capath (so a directory holding an intermediate alone
// does not make it a trust anchor).
type CAStore struct {
	Dir           string
	Roots         *x509.CertPool
	Intermediates *x509.CertPool
	// Certs lists every distinct certificate loaded, in file-name order.
	Certs []*x509.Certificate

	// Logger receives the warnings of CRL (re)loading and of expired CRLs
	// accepted by ExpiredCRLWarn; nil: slog.Default(). Set it before use.
	Logger *slog.Logger
	// CRLReloadInterval is the least time between two looks at the CA
	// directory's CRL files (by name, size and modification time; changed
	// files are parsed again). Zero means DefaultCRLReloadInterval; a
	// negative value looks on every verification. Set it before use.
	CRLReloadInterval time.Duration

	crls *crlCache // nil for stores without a directory
}

// DefaultCRLReloadInterval is how often, at most, a CAStore looks for changed
// CRL files: fetch-crl runs every few hours, a minute is plenty.
const DefaultCRLReloadInterval = time.Minute

// caFileName reports whether name is an OpenSSL capath certificate name,
// <8 hex digits>.<N>, and returns the hash.
func caFileName(name string) (hash string, ok bool) {
	return hashedName(name, "")
}

// crlFileName reports whether name is an OpenSSL capath CRL name,
// <8 hex digits>.r<N>, and returns the hash.
func crlFileName(name string) (hash string, ok bool) {
	return hashedName(name, "r")
}

func hashedName(name, kind string) (string, bool) {
	hash, suffix, found := strings.Cut(name, ".")
	if !found || len(hash) != 8 || strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false
	}
	n, ok := strings.CutPrefix(suffix, kind)
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return hash, true
}

// LoadCADir loads a CA directory the way OpenSSL's capath lookup (and so
// DIRAC) sees it: only certificates in files named <subject hash>.<N>, the
// hash being `openssl x509 -subject_hash` (SubjectHash). Any other file
// (<alias>.pem, EvilCA.pem.disabled, backups, .signing_policy, ...) is not
// read: a CA disabled by renaming its hashed file is not trusted. A
// certificate whose subject hash differs from its file's name is skipped
// with a warning, since OpenSSL would never find it by lookup. CRLs
// (<issuer hash>.r<N>) are read on first use and re-read when they change
// (see CRLReloadInterval). A missing directory, or one without any
// certificate, is ErrNoCAs.
func LoadCADir(dir string) (*CAStore, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, &FileError{Path: dir, Err: fmt.Errorf("%w: %w", ErrNoCAs, err), Fix: "set X509_CERT_DIR to a directory of CA certificates"}
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	s := &CAStore{Dir: dir, Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), crls: &crlCache{dir: dir}}
	seen := map[string]bool{}
	for _, n := range names {
		hash, ok := caFileName(n)
		if !ok {
			continue
		}
		p := filepath.Join(dir, n)
		if !isFile(p) { // follows the <hash>.0 symlinks
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("-----BEGIN CERTIFICATE-----")) {
			continue
		}
		certs, err := parseCertificates(data)
		if err != nil {
			continue // one broken file must not disable the whole directory
		}
		for _, c := range certs {
			if h, err := SubjectHash(c); err != nil || h != hash {
				s.logger().Warn("credentials: CA certificate ignored: its subject hash does not match its file name",
					"file", p, "subject", SubjectDN(c), "subjectHash", h)
				continue
			}
			if seen[string(c.Raw)] {
				continue
			}
			seen[string(c.Raw)] = true
			s.add(c)
		}
	}
	if len(s.Certs) == 0 {
		return nil, &FileError{Path: dir, Err: fmt.Errorf("%w: no CA certificate in a <subject hash>.<N> file", ErrNoCAs),
			Fix: "install the CA certificates (IGTF bundle or fetch-crl layout), or run `openssl rehash` on the directory"}
	}
	return s, nil
}

// NewCAStore builds a store from certificates already in memory (no CRLs).
func NewCAStore(certs ...*x509.Certificate) *CAStore {
	s := &CAStore{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, c := range certs {
		s.add(c)
	}
	return s
}

func (s *CAStore) logger() *slog.Logger {
	return cmp.Or(s.Logger, slog.Default())
}

func (s *CAStore) add(c *x509.Certificate) {
	s.Certs = append(s.Certs, c)
	if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
		s.Roots.AddCert(c)
	} else {
		s.Intermediates.AddCert(c)
	}
}

// issuerChain returns the CA certificates that issue c, walking up to a root,
// for servers that complete their sent chain from the CA directory as OpenSSL does.
func (s *CAStore) issuerChain(c *x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	cur := c
	for range 10 {
		if bytes.Equal(cur.RawSubject, cur.RawIssuer) {
			break
		}
		var next *x509.Certificate
		for _, ca := range s.Certs {
			if bytes.Equal(ca.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(ca) == nil {
				next = ca
				break
			}
		}
		if next == nil {
			break
		}
		out = append(out, next)
		cur = next
	}
	return out
}
