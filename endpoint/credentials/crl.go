package credentials

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Revocation: grid sites keep each CA's CRL next to it in the CA directory
// as <issuer hash>.r<N>, refreshed by fetch-crl. A CAStore loaded from a
// directory reads them on first use and again whenever their names, sizes or
// modification times change (looking at most every CRLReloadInterval, on
// the verifying goroutine: no background goroutine, no global state). A
// CRL is used only when its signature verifies against a CA of the store
// with its issuer's name; others are ignored with a warning. A CA without
// any CRL is not checked (DIRAC checks none). See ChainPolicy.ExpiredCRL for
// out-of-date CRLs.

// ParseCRLs parses the content of a CRL file: PEM "X509 CRL" blocks, or
// one DER CRL. Other PEM blocks are ignored; no CRL at all is an error.
func ParseCRLs(data []byte) ([]*x509.RevocationList, error) {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		l, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("%w: CRL: %w", ErrMalformed, err)
		}
		return []*x509.RevocationList{l}, nil
	}
	out, err := parsePEMBlocks(data, "X509 CRL", "CRL", x509.ParseRevocationList)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no X509 CRL block", ErrMalformed)
	}
	return out, nil
}

// crl is one CRL whose signature was verified against a CA of the store.
type crl struct {
	file    string
	list    *x509.RevocationList
	revoked map[string]bool // serial numbers, decimal
}

func (c *crl) current(now time.Time) bool {
	return !now.Before(c.list.ThisUpdate) && (c.list.NextUpdate.IsZero() || !now.After(c.list.NextUpdate))
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// crlCache holds the CRLs of a CA directory and what their files looked like.
type crlCache struct {
	dir string

	mu      sync.Mutex
	looked  bool
	lastRun time.Time
	stamps  map[string]fileStamp
	crls    []*crl
}

// verifiedCRLs parses data (the file name for messages) and keeps the CRLs
// whose issuer hash is hash and whose signature a CA of certs verifies.
// It returns the accepted CRLs and one error per refused one.
func verifiedCRLs(name, hash string, data []byte, certs []*x509.Certificate) ([]*crl, []error) {
	lists, err := ParseCRLs(data)
	if err != nil {
		return nil, []error{err}
	}
	var out []*crl
	var errs []error
	for _, l := range lists {
		if h, err := NameHash(l.RawIssuer); err != nil || h != hash {
			errs = append(errs, fmt.Errorf("CRL of %s: issuer hash %s does not match the file name", dnOf(l.RawIssuer), h))
			continue
		}
		var ok bool
		for _, ca := range certs {
			if namesEqual(ca.RawSubject, l.RawIssuer) && l.CheckSignatureFrom(ca) == nil {
				ok = true
				break
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("CRL of %s is signed by no CA of the directory", dnOf(l.RawIssuer)))
			continue
		}
		c := &crl{file: name, list: l, revoked: make(map[string]bool, len(l.RevokedCertificateEntries))}
		for _, e := range l.RevokedCertificateEntries {
			if e.SerialNumber != nil {
				c.revoked[e.SerialNumber.String()] = true
			}
		}
		out = append(out, c)
	}
	return out, errs
}

func dnOf(raw []byte) string {
	s, err := OneLine(raw)
	if err != nil {
		return "(unparsable name)"
	}
	return s
}

// current returns the store's CRLs, re-reading the directory when its CRL
// files changed and the reload interval has passed.
func (s *CAStore) currentCRLs(now time.Time) []*crl {
	c := s.crls
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	every := s.CRLReloadInterval
	if every == 0 {
		every = DefaultCRLReloadInterval
	}
	if c.looked && every > 0 && now.Sub(c.lastRun) < every && !now.Before(c.lastRun) {
		return c.crls
	}
	c.looked, c.lastRun = true, now
	stamps := crlStamps(c.dir)
	if c.stamps != nil && sameStamps(stamps, c.stamps) {
		return c.crls
	}
	c.stamps = stamps
	var crls []*crl
	names := make([]string, 0, len(stamps))
	for n := range stamps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hash, _ := crlFileName(n)
		p := filepath.Join(c.dir, n)
		data, err := os.ReadFile(p)
		if err != nil {
			s.logger().Warn("credentials: CRL not readable", "file", p, "err", err)
			continue
		}
		ok, errs := verifiedCRLs(p, hash, data, s.Certs)
		for _, err := range errs {
			s.logger().Warn("credentials: CRL ignored", "file", p, "err", err)
		}
		crls = append(crls, ok...)
	}
	c.crls = crls
	return crls
}

func crlStamps(dir string) map[string]fileStamp {
	out := map[string]fileStamp{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if _, ok := crlFileName(e.Name()); !ok {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name())) // follows symlinks
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		out[e.Name()] = fileStamp{size: st.Size(), mod: st.ModTime()}
	}
	return out
}

func sameStamps(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.mod.Equal(v.mod) || w.size != v.size {
			return false
		}
	}
	return true
}

// checkRevocation refuses a chain in which a certificate (a CA-issued one:
// proxies have no CRLs) is revoked by a CRL of the store, or whose CA's CRLs
// are all out of date (per policy). Self-signed trust anchors are not checked.
func (s *CAStore) checkRevocation(chains [][]*x509.Certificate, now time.Time, policy ExpiredCRLPolicy) error {
	if s == nil {
		return nil
	}
	crls := s.currentCRLs(now)
	if len(crls) == 0 {
		return nil
	}
	for _, chain := range chains {
		for _, c := range chain {
			if isSelfSigned(c) {
				continue
			}
			if err := s.checkCert(c, crls, now, policy); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *CAStore) checkCert(c *x509.Certificate, crls []*crl, now time.Time, policy ExpiredCRLPolicy) error {
	var mine []*crl
	fresh := false
	for _, l := range crls {
		if namesEqual(l.list.RawIssuer, c.RawIssuer) {
			mine = append(mine, l)
			fresh = fresh || l.current(now)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	if !fresh {
		last := mine[0].list.NextUpdate
		if policy != ExpiredCRLWarn {
			return &VerifyError{Reason: ReasonCRLExpired, Subject: SubjectDN(c), Issuer: IssuerDN(c),
				Detail: fmt.Sprintf("the CRL of %s (%s) is not current (next update %s); refresh it (fetch-crl) or set ExpiredCRL: ExpiredCRLWarn",
					IssuerDN(c), mine[0].file, last.UTC().Format(time.RFC3339))}
		}
		s.logger().Warn("credentials: CRL out of date, used anyway (ExpiredCRLWarn)", "issuer", IssuerDN(c),
			"file", mine[0].file, "nextUpdate", last)
	}
	serial := c.SerialNumber.String()
	for _, l := range mine {
		if l.revoked[serial] {
			return &VerifyError{Reason: ReasonRevoked, Subject: SubjectDN(c), Issuer: IssuerDN(c),
				Detail: fmt.Sprintf("serial %s is in %s", serial, l.file)}
		}
	}
	return nil
}

// Revoked tells whether c (issued by a CA of the store) is revoked by the
// store's CRLs at now: nil when not revoked or when its CA has no CRL, else
// a *VerifyError with ReasonRevoked or ReasonCRLExpired (the latter only
// when policy refuses expired CRLs). For tools such as `probe tls`.
func (s *CAStore) Revoked(c *x509.Certificate, now time.Time, policy ExpiredCRLPolicy) error {
	if c == nil {
		return errors.New("credentials: Revoked of a nil certificate")
	}
	return s.checkRevocation([][]*x509.Certificate{{c}}, now, policy)
}
