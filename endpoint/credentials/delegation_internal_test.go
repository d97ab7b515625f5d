package credentials

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/x509pem"
)

// TestLimitedCallerDelegatingAFullProxy: DIRAC's client signs a delegation
// request as a full proxy, also with a limited proxy, and services take
// such a chain for no proxy at all (the caller becomes a visitor). The
// delegation is refused, with the reason, rather than the identity lost
// silently; a limited proxy signed by a limited caller is accepted.
func TestLimitedCallerDelegatingAFullProxy(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	limited, err := NewProxy(&Credential{Chain: []*x509.Certificate{cert}, PrivateKey: key}, ProxyOptions{ECDSA: true, Limited: true})
	require.NoError(t, err)
	caller, err := CredentialsFromChain(limited.Chain, time.Now())
	require.NoError(t, err)
	require.True(t, caller.IsLimitedProxy)

	for _, signLimited := range []bool{false, true} {
		req, err := NewProxyRequest(caller)
		require.NoError(t, err)
		block, _ := pem.Decode(req.PEM)
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		require.NoError(t, err)
		leaf, err := signProxy(limited, csr.PublicKey, ProxyOptions{Limited: signLimited})
		require.NoError(t, err)
		var chain bytes.Buffer
		chain.Write(x509pem.Certificates(leaf))
		chain.Write(x509pem.Certificates(limited.Chain...))
		_, err = req.Accept(chain.Bytes(), caller, time.Now())
		if signLimited {
			assert.NoError(t, err)
		} else {
			assert.ErrorIs(t, err, ErrDelegation)
			assert.ErrorContains(t, err, "a limited proxy delegated a full one")
		}
	}
}
