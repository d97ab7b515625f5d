package credentials_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

func TestOneLineAndHashAgainstOpenSSL(t *testing.T) {
	openssl(t)
	dir := t.TempDir()
	subjects := []struct {
		subj  string
		extra []string
		want  string
	}{
		{subj: "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", want: "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"},
		{subj: "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe", want: "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=123456/CN=John Doe"},
		{subj: "/C=UK/O=eScience/OU=Manchester/L=HEP/CN=Some  Body/emailAddress=Some.Body@Example.ORG", want: "/C=UK/O=eScience/OU=Manchester/L=HEP/CN=Some  Body/emailAddress=Some.Body@Example.ORG"},
		{subj: "/C=DE/O=GermanGrid/CN=J\xc3\xbcrgen M\xc3\xbcller", extra: []string{"-utf8"}, want: `/C=DE/O=GermanGrid/CN=J\xC3\xBCrgen M\xC3\xBCller`},
		// As real DIRAC (M2Crypto on OpenSSL 3.0.22) reports them in whoami:
		// members of a multi-valued RDN joined by "+", "/" and "+" in values escaped.
		{subj: "/C=ch/O=Multi/CN=a+UID=b", extra: []string{"-multivalue-rdn"}, want: "/C=ch/O=Multi/CN=a+UID=b"},
		{subj: `/C=ch/O=DIRAC/OU=DIRAC CI/CN=host\/localhost`, want: `/C=ch/O=DIRAC/OU=DIRAC CI/CN=host\/localhost`},
		{subj: `/C=ch/O=DIRAC/OU=a=b/CN=x\/CN=ciuser`, want: `/C=ch/O=DIRAC/OU=a=b/CN=x\/CN=ciuser`},
		{subj: `/C=ch/O=A\+B\\C/CN=one+UID=t\/w\+o`, extra: []string{"-multivalue-rdn"}, want: `/C=ch/O=A\+B\C/CN=one+UID=t\/w\+o`},
		{subj: "/DC=org/DC=example/O=Example, Inc./CN=Jane Roe, PhD", want: "/DC=org/DC=example/O=Example, Inc./CN=Jane Roe, PhD"},
		{subj: "/C=CH/ST=  Geneva   Canton /L=Geneva/O=X/CN=HOST.example.ORG", want: "/C=CH/ST=  Geneva   Canton /L=Geneva/O=X/CN=HOST.example.ORG"},
	}
	for i, s := range subjects {
		key := filepath.Join(dir, "k.pem")
		cert := filepath.Join(dir, "c.pem")
		args := append([]string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", s.subj}, s.extra...)
		runOpenSSL(t, args...)
		data, err := os.ReadFile(cert)
		require.NoError(t, err)
		b, _ := pem.Decode(data)
		c, err := x509.ParseCertificate(b.Bytes)
		require.NoError(t, err)
		assert.Equal(t, s.want, credentials.SubjectDN(c), "case %d", i)
		h, err := credentials.SubjectHash(c)
		require.NoError(t, err)
		want := strings.TrimSpace(runOpenSSL(t, "x509", "-in", cert, "-noout", "-subject_hash"))
		assert.Equal(t, want, h, "case %d: %s", i, s.subj)
	}
}

func TestParseDN(t *testing.T) {
	attrs, err := credentials.ParseDN("/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser/CN=host/name.org/emailAddress=a@b")
	require.NoError(t, err)
	assert.Equal(t, []credentials.DNAttribute{
		{Name: "C", Value: "ch"}, {Name: "O", Value: "DIRAC"}, {Name: "OU", Value: "DIRAC CI"},
		{Name: "CN", Value: "ciuser"}, {Name: "CN", Value: "host/name.org"}, {Name: "emailAddress", Value: "a@b"},
	}, attrs)
	assert.Equal(t, "1.2.840.113549.1.9.1", attrs[5].OID())
	// OpenSSL 3 escapes "/" in values: an escaped "/CN=" is not a new attribute.
	attrs, err = credentials.ParseDN(`/C=ch/O=DIRAC/CN=x\/CN=ciuser`)
	require.NoError(t, err)
	assert.Equal(t, []credentials.DNAttribute{{Name: "C", Value: "ch"}, {Name: "O", Value: "DIRAC"}, {Name: "CN", Value: `x\/CN=ciuser`}}, attrs)
	for _, bad := range []string{"", "C=ch", "/", "/novalue"} {
		_, err := credentials.ParseDN(bad)
		assert.Error(t, err, bad)
	}
}
