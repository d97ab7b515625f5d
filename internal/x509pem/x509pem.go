// Package x509pem writes certificates and private keys as PEM, the way grid
// tools lay them out. It is shared by endpoint/credentials (proxy files) and
// testharness/pki (the throw-away PKI's files) without being public API: the
// library offers no general way to serialise a private key.
package x509pem

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
)

// Certificates encodes certs as consecutive CERTIFICATE blocks.
func Certificates(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// PrivateKey encodes key the way grid tools expect: PKCS#1 "RSA PRIVATE KEY"
// for RSA (what M2Crypto writes), SEC 1 "EC PRIVATE KEY" for ECDSA, PKCS#8
// otherwise.
func PrivateKey(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
