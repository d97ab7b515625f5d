package credentials

import (
	"log/slog"
	"os"
	"testing"
	"time"
)

// FuzzOneLine feeds arbitrary DER to the name parsers: they must never panic,
// and a name that formats must also hash.
func FuzzOneLine(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := OneLine(der)
		if err != nil {
			return
		}
		if _, err := NameHash(der); err != nil && s != "" {
			// Canonicalisation may refuse odd string encodings; it must not panic.
			return
		}
	})
}

// FuzzParseDN checks ParseDN never panics and keeps every attribute's text.
func FuzzParseDN(f *testing.F) {
	f.Add("/C=ch/O=DIRAC/CN=user")
	f.Fuzz(func(t *testing.T, dn string) {
		attrs, err := ParseDN(dn)
		if err != nil {
			return
		}
		n := 0
		for _, a := range attrs {
			n += 2 + len(a.Name) + len(a.Value)
		}
		if n != len(dn) {
			t.Fatalf("ParseDN(%q) lost characters: %+v", dn, attrs)
		}
	})
}

// FuzzParseCRLs feeds arbitrary CRL file contents to the path that reads
// <hash>.rN files: parsing, the issuer-hash and signature checks against a
// CA, and the revocation lookup. None may panic; an accepted CRL must parse.
// Seeds (PEM, DER, several CRLs, truncated ones) are in testdata/fuzz.
func FuzzParseCRLs(f *testing.F) {
	caPEM, err := os.ReadFile("testdata/crl_seed_ca.pem")
	if err != nil {
		f.Fatal(err)
	}
	cas, err := parseCertificates(caPEM)
	if err != nil || len(cas) != 1 {
		f.Fatalf("seed CA: %v", err)
	}
	hash, err := SubjectHash(cas[0])
	if err != nil {
		f.Fatal(err)
	}
	store := &CAStore{Logger: slog.New(slog.DiscardHandler)}
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lists, perr := ParseCRLs(data)
		if perr == nil && len(lists) == 0 {
			t.Fatal("ParseCRLs: no CRL and no error")
		}
		ok, _ := verifiedCRLs("fuzz", hash, data, cas)
		if perr != nil && len(ok) > 0 {
			t.Fatal("a CRL that does not parse was accepted")
		}
		for _, policy := range []ExpiredCRLPolicy{ExpiredCRLRefuse, ExpiredCRLWarn} {
			_ = store.checkCert(cas[0], ok, now, policy)
		}
	})
}
