package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// fuzzUser is a throw-away self-signed end-entity certificate and a proxy
// of it (no CA: the delegation checks do not look at the CA).
func fuzzUser(f *testing.F) (*Credential, *PeerCredentials) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	proxy, err := NewProxy(&Credential{Chain: []*x509.Certificate{cert}, PrivateKey: key}, ProxyOptions{ECDSA: true})
	if err != nil {
		f.Fatal(err)
	}
	pc, err := CredentialsFromChain(proxy.Chain, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	return proxy, pc
}

// FuzzDelegation feeds arbitrary bytes to both sides of a delegation: as a
// certificate request to SignProxyRequest and as the returned chain to
// ProxyRequest.Accept. Neither may panic; an accepted chain always keeps the
// caller's identity and the request's key.
func FuzzDelegation(f *testing.F) {
	proxy, caller := fuzzUser(f)
	req, err := NewProxyRequest(caller)
	if err != nil {
		f.Fatal(err)
	}
	good, err := SignProxyRequest(proxy, req.PEM, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(req.PEM)
	f.Fuzz(func(t *testing.T, data []byte) {
		if chain, err := SignProxyRequest(proxy, data, time.Hour); err == nil {
			if _, err := ParseCertificatesPEM(chain); err != nil {
				t.Fatalf("signed chain does not parse: %v", err)
			}
		}
		cred, err := req.Accept(data, caller, time.Now())
		if err != nil {
			return
		}
		pc, err := CredentialsFromChain(cred.Chain, time.Now())
		if err != nil || pc.DN != caller.DN {
			t.Fatalf("accepted a chain of another identity: %v %v", pc, err)
		}
	})
}
