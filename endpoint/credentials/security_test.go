package credentials_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/gob"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// TestCredentialNeverSerialisesKey: no encoder, fmt verb or slog handler
// prints a Credential's private key (issue 12).
func TestCredentialNeverSerialisesKey(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	ec := must(ca.User("alice"))
	rsaCred := must(ca.Issue(pki.CertSpec{CommonName: "bob", RSA: true}))
	for _, cred := range []*credentials.Credential{ec, rsaCred} {
		var secrets []string
		switch k := cred.PrivateKey.(type) {
		case *ecdsa.PrivateKey:
			b, err := k.Bytes()
			require.NoError(t, err)
			//lint:ignore SA1019 the scalar's decimal form is one way a key could leak
			secrets = append(secrets, k.D.String(), fmt.Sprintf("%x", b), fmt.Sprint(b))
		case *rsa.PrivateKey:
			secrets = append(secrets, k.D.String(), k.Primes[0].String(), k.Primes[1].String())
		}
		keyPEM := pki.KeyPEM(cred)
		block, _ := pem.Decode(keyPEM)
		secrets = append(secrets, string(keyPEM[30:80]), fmt.Sprintf("%x", block.Bytes[8:40]))

		type holder struct {
			Cred  credentials.Credential
			Ptr   *credentials.Credential
			Inner []credentials.Credential
		}
		h := holder{Cred: *cred, Ptr: cred, Inner: []credentials.Credential{*cred}}
		var outs []string
		for _, v := range []any{cred, *cred, h, &h} {
			j, err := json.Marshal(v)
			require.NoError(t, err)
			outs = append(outs, string(j))
			x, err := xml.Marshal(v)
			require.NoError(t, err)
			outs = append(outs, string(x))
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				outs = append(outs, fmt.Sprintf(verb, v))
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "cred", v)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "cred", v)
			outs = append(outs, buf.String())
		}
		assert.Error(t, gob.NewEncoder(&bytes.Buffer{}).Encode(cred), "gob must refuse")
		assert.Error(t, gob.NewEncoder(&bytes.Buffer{}).Encode(h), "gob must refuse")
		for _, o := range outs {
			for _, s := range secrets {
				require.NotContains(t, o, s)
			}
			assert.NotContains(t, o, `"D"`)
			assert.NotContains(t, o, "Primes")
		}
		assert.Contains(t, outs[0], credentials.SubjectDN(cred.Leaf()))
	}
}

// TestLoadCADirHashedNamesOnly: only <subject hash>.<N> files are trusted,
// and only for the certificate whose hash is the name (issue 12).
func TestLoadCADirHashedNamesOnly(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	evil := pki.NewT(t, pki.Options{Name: "EvilCA"})
	other := pki.NewT(t, pki.Options{})
	dir := t.TempDir()
	require.NoError(t, pki.WriteCADir(dir, ca.Cert))
	for name, c := range map[string]*pki.CA{
		"EvilCA.pem.disabled": evil, "EvilCA.pem": evil, "deadbeef.0": evil, "evil.0.bak": evil,
		"0123456.0": evil, "0123456789.0": evil, "DEADBEEF.0": evil,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), c.CertPEM(), 0o644))
	}
	h, err := credentials.SubjectHash(other.Cert)
	require.NoError(t, err)
	require.NoError(t, os.Symlink(filepath.Join(dir, "EvilCA.pem"), filepath.Join(dir, h+".1"))) // link to a cert with another hash
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.pem"), other.CertPEM(), 0o644))
	require.NoError(t, os.Symlink("other.pem", filepath.Join(dir, h+".0"))) // IGTF layout: hash link to an alias
	store, err := credentials.LoadCADir(dir)
	require.NoError(t, err)
	var subjects []string
	for _, c := range store.Certs {
		subjects = append(subjects, credentials.SubjectDN(c))
	}
	assert.ElementsMatch(t, []string{credentials.SubjectDN(ca.Cert), credentials.SubjectDN(other.Cert)}, subjects)

	// A directory of renamed CAs only is no CA directory.
	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "ca.pem"), ca.CertPEM(), 0o644))
	_, err = credentials.LoadCADir(empty)
	assert.ErrorIs(t, err, credentials.ErrNoCAs)
}

// TestParseCRLs: PEM (one or several blocks) and DER are read; anything else
// is ErrMalformed.
func TestParseCRLs(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	der, err := ca.CRL(pki.CRLSpec{})
	require.NoError(t, err)
	p := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	for name, data := range map[string][]byte{"der": der, "pem": p, "two pem": append(append([]byte{}, p...), p...)} {
		l, err := credentials.ParseCRLs(data)
		require.NoError(t, err, name)
		assert.NotEmpty(t, l, name)
	}
	for name, data := range map[string][]byte{"empty": nil, "cert only": ca.CertPEM(), "truncated": der[:10]} {
		_, err := credentials.ParseCRLs(data)
		assert.ErrorIs(t, err, credentials.ErrMalformed, name)
	}
}

// TestVerifierPolicies checks the named options at the verifier level, with
// the CA store's revocation answer for probe tls.
func TestCAStoreRevoked(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	rob, alice := must(ca.User("rob")), must(ca.User("alice"))
	dir := t.TempDir()
	require.NoError(t, pki.WriteCADir(dir, ca.Cert))
	der, err := ca.CRL(pki.CRLSpec{Revoked: []*x509.Certificate{rob.Leaf()}})
	require.NoError(t, err)
	_, err = ca.WriteCRL(dir, der)
	require.NoError(t, err)
	store, err := credentials.LoadCADir(dir)
	require.NoError(t, err)
	now := time.Now()
	var ve *credentials.VerifyError
	err = store.Revoked(rob.Leaf(), now, credentials.ExpiredCRLRefuse)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, credentials.ReasonRevoked, ve.Reason)
	assert.NoError(t, store.Revoked(alice.Leaf(), now, credentials.ExpiredCRLRefuse))
	err = store.Revoked(alice.Leaf(), now.Add(30*24*time.Hour), credentials.ExpiredCRLRefuse)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, credentials.ReasonCRLExpired, ve.Reason)
	assert.True(t, strings.Contains(err.Error(), "fetch-crl"))
}
