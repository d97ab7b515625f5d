package credentials

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
}

// LoadCADir loads every PEM CERTIFICATE block of every regular file in dir
// (IGTF layout: <hash>.0, <alias>.pem, ...). Files that are not PEM
// certificates (.signing_policy, .namespaces, .crl_url, CRLs in .r0 files) are
// ignored; CRLs are not loaded because DIRAC does not check them either.
// A missing directory, or one without any certificate, is ErrNoCAs.
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
	s := &CAStore{Dir: dir, Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	seen := map[string]bool{}
	for _, n := range names {
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
			if seen[string(c.Raw)] {
				continue
			}
			seen[string(c.Raw)] = true
			s.add(c)
		}
	}
	if len(s.Certs) == 0 {
		return nil, &FileError{Path: dir, Err: fmt.Errorf("%w: no PEM certificate in directory", ErrNoCAs), Fix: "install the CA certificates (IGTF bundle or fetch-crl layout)"}
	}
	return s, nil
}

// NewCAStore builds a store from certificates already in memory.
func NewCAStore(certs ...*x509.Certificate) *CAStore {
	s := &CAStore{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, c := range certs {
		s.add(c)
	}
	return s
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
