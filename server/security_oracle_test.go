package server_test

import (
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// oracleDeliberate lists the cases where the Go server gives another verdict
// than real DIRAC on purpose (README: "Differences from DIRAC, on purpose").
var oracleDeliberate = map[string]string{
	"stranger proxy claims dirac_user":                "DIRAC keeps the claimed group's properties for the visitor; Go drops them",
	"stranger user cert, extraCredentials dirac_user": "DIRAC keeps the claimed group's properties for the visitor; Go drops them",
	"full proxy below a named limited proxy":          "DIRAC serves the chain as a non-proxy (unknown DN, visitor); Go refuses it",
	"full proxy below an RFC limited proxy":           "DIRAC serves the chain as a non-proxy (unknown DN, visitor); Go refuses it",
	"chain of VerifyDepth+1 certificates":             "Go: at most VerifyDepth (10) certificates as sent, both transports; DIRAC: OpenSSL depth 50 (DISET) / 10 (Tornado), which counts CAs between leaf and root",
}

// TestOracleSecurityChains presents the security suite's chains, signed with
// the oracle's own CA key, to the real DIRAC servers of ../shared/oracle
// (dips://localhost:9150/Framework/Oracle, https://localhost:8443/Framework/
// OracleTornado) and to Go servers set up like them (same CA, host
// certificate and Registry), and compares the verdicts. Opt-in:
// DIRACRPC_ORACLE_DIR. CA-directory and CRL cases are left out: they would
// need to change the oracle's CA directory, which other users share.
func TestOracleSecurityChains(t *testing.T) {
	o := loadOracleEnv(t, "the security chains")
	for _, a := range []string{"127.0.0.1:9150", "127.0.0.1:8443"} {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			t.Skipf("DIRACRPC_ORACLE_DIR is set but no DIRAC server listens on %s (start ../shared/oracle/start_servers.sh)", a)
		}
		c.Close()
	}
	caCred, err := credentials.LoadCertKey(filepath.Join(o.gs, "ca", "ca.pem"), filepath.Join(o.gs, "ca", "ca.key"),
		credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	ciuser, err := credentials.LoadCertKey(filepath.Join(o.gs, "user", "usercert.pem"), filepath.Join(o.gs, "user", "userkey.pem"),
		credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	ca := pki.FromCA(caCred.Leaf(), caCred.PrivateKey, pki.Options{RSA: true})
	must := pki.Must(t)
	p := &secPKI{ca: ca, host: o.host, alice: ciuser, reg: o.reg}
	mallory := must(ca.User("mallory"))
	proxy := must(ca.Proxy(ciuser, pki.RFC3820))
	limited := must(ca.Proxy(ciuser, pki.Limited))
	named := must(ca.NamedLimitedProxy(ciuser))
	zero := 0
	pathLen0 := must(ca.ProxyWith(ciuser, pki.RFC3820, credentials.ProxyOptions{PathLen: &zero}))
	atDepth := proxy
	for len(atDepth.Chain) < credentials.VerifyDepth {
		atDepth = must(ca.ProxyWith(atDepth, pki.RFC3820, credentials.ProxyOptions{ECDSA: true}))
	}
	cases := []struct {
		name   string
		cred   *credentials.Credential
		extra  any
		method string
	}{
		{name: "ciuser proxy", cred: proxy},
		{name: "ciuser proxy with its group", cred: must(ca.ProxyWith(ciuser, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))},
		{name: "ciuser proxy claims dirac_admin", cred: must(ca.ProxyWith(ciuser, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"}))},
		{name: "stranger proxy claims dirac_user", cred: must(ca.ProxyWith(mallory, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))},
		{name: "stranger user cert, extraCredentials dirac_user", cred: mallory, extra: "dirac_user"},
		{name: "ciuser user cert, extraCredentials dirac_user", cred: ciuser, extra: "dirac_user"},
		{name: "unknown DN", cred: must(ca.Proxy(mallory, pki.RFC3820))},
		{name: "whoami of an unknown DN", cred: mallory, method: "whoami"},
		{name: "whoami of ciuser", cred: proxy, method: "whoami"},
		{name: "RSA-1024 proxy", cred: must(ca.WeakKeyProxy(ciuser, 1024))},
		{name: "SHA-1 proxy", cred: must(ca.SHA1Proxy(ciuser))},
		{name: "RSA-1024 user certificate", cred: must(ca.Issue(pki.CertSpec{CommonName: "weak", KeyBits: 1024}))},
		{name: "legacy proxy", cred: must(ca.Proxy(ciuser, pki.Legacy))},
		{name: "legacy limited proxy", cred: must(ca.Proxy(ciuser, pki.LegacyLimited))},
		{name: "RFC limited proxy", cred: limited},
		{name: "proxy named limited proxy", cred: named},
		{name: "full proxy below a named limited proxy", cred: must(ca.Proxy(named, pki.RFC3820))},
		{name: "full proxy below an RFC limited proxy", cred: must(ca.Proxy(limited, pki.RFC3820))},
		{name: "limited proxy below a full one", cred: must(ca.NamedLimitedProxy(proxy))},
		{name: "forged proxy", cred: must(ca.ForgedProxy(ciuser))},
		{name: "forged proxy of proxy", cred: must(ca.ForgedProxy(proxy))},
		{name: "proxy with a wrong issuer certificate", cred: &credentials.Credential{Chain: []*x509.Certificate{proxy.Chain[0], o.host.Leaf()}, PrivateKey: proxy.PrivateKey}},
		{name: "path length 0 respected", cred: pathLen0},
		{name: "path length exceeded", cred: must(ca.Proxy(pathLen0, pki.RFC3820))},
		{name: "chain of VerifyDepth certificates", cred: atDepth},
		{name: "chain of VerifyDepth+1 certificates", cred: must(ca.ProxyWith(atDepth, pki.RFC3820, credentials.ProxyOptions{ECDSA: true}))},
	}
	goEnv := startSec(t, p, secSpec{reg: o.reg})
	dirac := &secEnv{dips: "127.0.0.1:9150", https: "127.0.0.1:8443", dipsSvc: "Framework/Oracle",
		httpsSvc: "Framework/OracleTornado", idMethod: "creds", clientCAs: o.cas, logs: &testkit.SyncBuffer{}}
	show := func(s seen) string {
		if s.Refused != "" {
			return "refused (" + s.Refused + ")"
		}
		out := fmt.Sprintf("%s/%s %v", s.Username, s.Group, s.Properties)
		if s.Limited {
			out += " limited"
		}
		return out
	}
	var table strings.Builder
	table.WriteString("| chain | Go dips | DIRAC dips | Go https | DIRAC https | note |\n|---|---|---|---|---|---|\n")
	for _, tc := range cases {
		var row [4]seen
		for i, e := range []*secEnv{goEnv, dirac} {
			method := tc.method
			if method == "" {
				method = e.idMethod
			}
			d, _ := e.callDIPS(t, tc.cred, tc.extra, method)
			h, _ := e.callHTTPS(t, tc.cred, tc.extra, method)
			for _, s := range []*seen{&d, &h} {
				s.VO, s.Seconds = "", 0
			}
			row[i], row[2+i] = d, h
		}
		note, deliberate := oracleDeliberate[tc.name]
		same := fmt.Sprint(row[0]) == fmt.Sprint(row[1])
		sameH := fmt.Sprint(row[2]) == fmt.Sprint(row[3])
		if !deliberate && (!same || !sameH) {
			t.Errorf("%s: Go and DIRAC differ: dips %s vs %s, https %s vs %s", tc.name, show(row[0]), show(row[1]), show(row[2]), show(row[3]))
			note = "UNEXPECTED"
		}
		if deliberate && same && sameH {
			note = "(listed as deliberate, but now the same)"
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s | %s |\n", tc.name, show(row[0]), show(row[1]), show(row[2]), show(row[3]), note)
	}
	t.Log("\n" + table.String())
}
