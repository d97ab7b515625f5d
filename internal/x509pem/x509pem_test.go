package x509pem

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrivateKey: each key type gets the PEM block grid tools expect and
// reads back as the same key.
func TestPrivateKey(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		key   crypto.Signer
		block string
		parse func([]byte) (any, error)
	}{
		{rsaKey, "RSA PRIVATE KEY", func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) }},
		{ecKey, "EC PRIVATE KEY", func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) }},
		{edKey, "PRIVATE KEY", x509.ParsePKCS8PrivateKey},
	} {
		out, err := PrivateKey(tc.key)
		require.NoError(t, err)
		b, rest := pem.Decode(out)
		require.NotNil(t, b)
		assert.Empty(t, rest)
		assert.Equal(t, tc.block, b.Type)
		k, err := tc.parse(b.Bytes)
		require.NoError(t, err)
		assert.True(t, tc.key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.(crypto.Signer).Public()))
	}
}

// TestCertificates: one CERTIFICATE block per certificate, in order.
func TestCertificates(t *testing.T) {
	a, b := &x509.Certificate{Raw: []byte{1, 2}}, &x509.Certificate{Raw: []byte{3}}
	out := Certificates(a, b)
	var got [][]byte
	for blk, rest := pem.Decode(out); blk != nil; blk, rest = pem.Decode(rest) {
		assert.Equal(t, "CERTIFICATE", blk.Type)
		got = append(got, blk.Bytes)
	}
	assert.Equal(t, [][]byte{{1, 2}, {3}}, got)
	assert.Empty(t, Certificates())
}
