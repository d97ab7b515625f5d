package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

// The security suite (issue 12): forged and edge-case chains, each presented
// to a dips:// and an https:// server on 127.0.0.1 that share one Service and
// one CA directory, asserting the identity the handler sees or the refusal.

const secService = "Framework/Sec"

// secPKI is the throw-away PKI shared by the cases.
type secPKI struct {
	ca, evil                                    *pki.CA
	host, alice, mallory, eve, rob, weakUser    *credentials.Credential
	evilUser                                    *credentials.Credential
	aliceDN, malloryDN, robDN                   string
	reg                                         *server.Registry
	aliceProxy, aliceAdminProxy, malloryAdmin   *credentials.Credential
	limitedProxy, namedLimited, legacy, legacyL *credentials.Credential
}

func newSecPKI(t *testing.T) *secPKI {
	t.Helper()
	must := pki.Must(t)
	p := &secPKI{ca: pki.NewT(t, pki.Options{}), evil: pki.NewT(t, pki.Options{Name: "EvilCA"})}
	p.host = must(p.ca.Host("localhost", "127.0.0.1"))
	p.alice = must(p.ca.User("alice"))
	p.mallory = must(p.ca.User("mallory"))
	p.eve = must(p.ca.User("eve"))
	p.rob = must(p.ca.User("rob"))
	p.weakUser = must(p.ca.Issue(pki.CertSpec{CommonName: "weak", KeyBits: 1024}))
	p.evilUser = must(p.evil.User("alice"))
	p.aliceDN = credentials.SubjectDN(p.alice.Leaf())
	p.malloryDN = credentials.SubjectDN(p.mallory.Leaf())
	p.robDN = credentials.SubjectDN(p.rob.Leaf())
	p.reg = &server.Registry{
		Users: map[string]server.User{
			"alice":   {DNs: []string{p.aliceDN}, DefaultGroup: []string{"dirac_user"}},
			"mallory": {DNs: []string{p.malloryDN}},
			"rob":     {DNs: []string{p.robDN}},
		},
		Groups: map[string]server.Group{
			"dirac_user":  {Users: []string{"alice", "mallory", "rob"}, Properties: []string{"NormalUser"}, VO: "vo"},
			"dirac_admin": {Users: []string{"alice"}, Properties: []string{"ServiceAdministrator"}, VO: "vo"},
		},
	}
	p.aliceProxy = must(p.ca.Proxy(p.alice, pki.RFC3820))
	p.aliceAdminProxy = must(p.ca.ProxyWith(p.alice, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"}))
	p.malloryAdmin = must(p.ca.ProxyWith(p.mallory, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_admin"}))
	p.limitedProxy = must(p.ca.Proxy(p.alice, pki.Limited))
	p.namedLimited = must(p.ca.NamedLimitedProxy(p.alice))
	p.legacy = must(p.ca.Proxy(p.alice, pki.Legacy))
	p.legacyL = must(p.ca.Proxy(p.alice, pki.LegacyLimited))
	return p
}

// secEnv is one CA directory served by a DISET and an HTTPS server.
type secEnv struct {
	dir               string
	cas               *credentials.CAStore
	dips, https       string // 127.0.0.1:port
	dipsSvc, httpsSvc string // service names
	idMethod          string // the method answering the caller's identity
	logs              *testkit.SyncBuffer
	clientCAs         *credentials.CAStore
	shared            *credentials.ClientTLS // if set, every call uses it (and its session cache)
	resumed           bool                   // the last DISET handshake resumed a session
}

type secSpec struct {
	policy credentials.ChainPolicy
	rules  []string               // rule of "id"; nil: ["all"]
	prep   func(dir string) error // adds files to the CA directory
	reload time.Duration          // CAStore.CRLReloadInterval
	now    func() time.Time       // the verifier's clock
	reg    *server.Registry       // instead of secPKI.reg
}

func startSec(t *testing.T, p *secPKI, spec secSpec) *secEnv {
	t.Helper()
	e := &secEnv{dir: t.TempDir(), logs: &testkit.SyncBuffer{}, clientCAs: p.ca.Store(),
		dipsSvc: secService, httpsSvc: secService, idMethod: "id"}
	require.NoError(t, pki.WriteCADir(e.dir, p.ca.Cert))
	if spec.prep != nil {
		require.NoError(t, spec.prep(e.dir))
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	e.cas, err = credentials.LoadCADir(e.dir)
	require.NoError(t, err)
	e.cas.Logger = log
	e.cas.CRLReloadInterval = spec.reload

	rules := spec.rules
	if rules == nil {
		rules = []string{"all"}
	}
	svc := server.NewService(secService)
	svc.Registry = p.reg
	if spec.reg != nil {
		svc.Registry = spec.reg
	}
	svc.Logger = log
	svc.Authorization = map[string][]string{"id": rules}
	svc.Handle("id", server.Method{Func: func(_ context.Context, req *server.Request) (any, error) {
		c := req.Credentials
		props := make([]any, 0, len(c.Properties))
		for _, pr := range c.Properties {
			props = append(props, pr)
		}
		return value.NewDict("username", c.Username, "group", c.Group, "properties", props,
			"limited", c.IsLimitedProxy, "VO", c.VO, "secondsLeft", c.SecondsLeft), nil
	}})

	opts := credentials.ServerTLSOptions{Credential: p.host, CAs: e.cas, ChainPolicy: spec.policy, Now: spec.now}
	opts.RequireClientCert = true
	dtls, err := credentials.NewServerTLSConfig(opts)
	require.NoError(t, err)
	opts.RequireClientCert = false
	htls, err := credentials.NewServerTLSConfig(opts)
	require.NoError(t, err)

	dl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ds := server.NewDISET(svc, server.DISETConfig{TLS: dtls, Logger: log})
	hs := server.NewHTTPS(server.HTTPSConfig{TLS: htls, Logger: log}, svc)
	go func() { _ = ds.Serve(dl) }()
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { ds.Close(); hs.Close() })
	e.dips, e.https = dl.Addr().String(), hl.Addr().String()
	return e
}

// seen is what the handler saw, or how the call was refused: "tls" (the
// handshake or the connection failed: the chain was refused) or "auth"
// (DIRAC's Unauthorized query / HTTP 401).
type seen struct {
	Refused    string
	Username   string
	Group      string
	Properties []string
	Limited    bool
	VO         string
	Seconds    int64
}

func identityOf(v any) seen {
	d, _ := v.(*value.Dict)
	var s seen
	if d == nil {
		return seen{Refused: "bad answer"}
	}
	str := func(k string) string { x, _ := d.Lookup(k); y, _ := x.(string); return y }
	s.Username, s.Group, s.VO = str("username"), str("group"), str("VO")
	if x, ok := d.Lookup("limited"); ok {
		s.Limited, _ = x.(bool)
	}
	if x, ok := d.Lookup("isLimitedProxy"); ok {
		s.Limited, _ = x.(bool)
	}
	if x, ok := d.Lookup("secondsLeft"); ok {
		s.Seconds, _ = x.(int64)
	}
	s.Properties = []string{}
	if x, ok := d.Lookup("properties"); ok {
		l, _ := x.([]any)
		for _, p := range l {
			ps, _ := p.(string)
			s.Properties = append(s.Properties, ps)
		}
	}
	return s
}

func (e *secEnv) clientTLS(t *testing.T, cred *credentials.Credential) *tls.Config {
	t.Helper()
	if e.shared != nil {
		return e.shared.Config("localhost")
	}
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: cred, CAs: e.clientCAs})
	require.NoError(t, err)
	return ct.Config("localhost")
}

// callDIPS runs one DISET call (proposal, S_OK, arguments, result).
func (e *secEnv) callDIPS(t *testing.T, cred *credentials.Credential, extra any, method string) (seen, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", e.dips, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	tc := tls.Client(nc, e.clientTLS(t, cred))
	if err := tc.Handshake(); err != nil {
		return seen{Refused: "tls"}, err
	}
	e.resumed = tc.ConnectionState().DidResume
	c := diset.NewConn(tc, diset.JSON)
	if extra == nil {
		extra = ""
	}
	prop := value.NewDict("OK", true, "Value", []any{[]any{e.dipsSvc, "", ""}, []any{"RPC", method}, extra, "v8r0"})
	if err := c.Send(prop); err != nil {
		return seen{Refused: "tls"}, err
	}
	v, _, err := c.Recv(1 << 20)
	if err != nil {
		return seen{Refused: "tls"}, err // TLS 1.3: the refused certificate shows here
	}
	if _, err := diracrpc.ParseResult(v); err != nil {
		if strings.Contains(err.Error(), "Unauthorized query") {
			return seen{Refused: "auth"}, err
		}
		return seen{Refused: "error"}, err
	}
	require.NoError(t, c.Send(value.NewDict("OK", true, "Value", []any{})))
	v, _, err = c.Recv(1 << 20)
	if err != nil {
		return seen{Refused: "tls"}, err
	}
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		if strings.Contains(err.Error(), "Unauthorized query") {
			return seen{Refused: "auth"}, err
		}
		return seen{Refused: "error"}, err
	}
	return identityOf(val), nil
}

// callHTTPS posts one call on a fresh connection.
func (e *secEnv) callHTTPS(t *testing.T, cred *credentials.Credential, extra any, method string) (seen, error) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: e.clientTLS(t, cred), DisableKeepAlives: true}}
	defer hc.CloseIdleConnections()
	form := url.Values{"method": {method}, "args": {"[]"}}
	if extra != nil {
		b, err := jencode.Marshal(extra)
		require.NoError(t, err)
		form.Set("extraCredentials", string(b))
	}
	resp, err := hc.PostForm("https://"+e.https+"/"+e.httpsSvc, form)
	if err != nil {
		return seen{Refused: "tls"}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return seen{Refused: "auth"}, nil
	default:
		return seen{Refused: "error"}, nil
	}
	v, err := jencode.Decode(body)
	require.NoError(t, err)
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return seen{Refused: "error"}, err
	}
	return identityOf(val), nil
}

// secCase is one chain presented to both transports.
type secCase struct {
	name   string
	cred   func(p *secPKI) *credentials.Credential
	extra  any
	method string // default "id"
	spec   secSpec
	want   seen
	// wantHTTPS, when set, is what HTTPS must give instead of want.
	wantHTTPS *seen
	// reason, for "tls" refusals, is the VerifyReason both servers must log.
	reason credentials.VerifyReason
	// logHas must appear in the server logs (the claimed group: logs only).
	logHas string
}

func member(user, group string, props ...string) seen {
	if props == nil {
		props = []string{}
	}
	return seen{Username: user, Group: group, Properties: props, VO: "vo"}
}

var visitor = seen{Username: "anonymous", Group: "visitor", Properties: []string{}}

func refusedTLS() seen  { return seen{Refused: "tls"} }
func refusedAuth() seen { return seen{Refused: "auth"} }

func writeAs(ca *pki.CA, name string) func(dir string) error {
	return func(dir string) error {
		return os.WriteFile(filepath.Join(dir, name), ca.CertPEM(), 0o644)
	}
}

func withCRL(ca *pki.CA, forged bool, spec func(p *secPKI) pki.CRLSpec, p *secPKI) func(dir string) error {
	return func(dir string) error {
		mk := ca.CRL
		if forged {
			mk = ca.ForgedCRL
		}
		der, err := mk(spec(p))
		if err != nil {
			return err
		}
		_, err = ca.WriteCRL(dir, der)
		return err
	}
}

func secCases(t *testing.T, p *secPKI) []secCase {
	must := pki.Must(t)
	zero := 0
	pathLen0 := must(p.ca.ProxyWith(p.alice, pki.RFC3820, credentials.ProxyOptions{PathLen: &zero}))
	atDepth := p.aliceProxy
	for len(atDepth.Chain) < credentials.VerifyDepth {
		atDepth = must(p.ca.Proxy(atDepth, pki.RFC3820))
	}
	long := must(p.ca.Proxy(atDepth, pki.RFC3820))
	robProxy := must(p.ca.Proxy(p.rob, pki.RFC3820))
	revokeRob := func(p *secPKI) pki.CRLSpec { return pki.CRLSpec{Revoked: []*x509.Certificate{p.rob.Leaf()}} }
	expired := func(p *secPKI) pki.CRLSpec {
		now := time.Now()
		return pki.CRLSpec{ThisUpdate: now.Add(-48 * time.Hour), NextUpdate: now.Add(-time.Hour)}
	}
	expiredRevokingRob := func(p *secPKI) pki.CRLSpec {
		s := expired(p)
		s.Revoked = []*x509.Certificate{p.rob.Leaf()}
		return s
	}
	weak := secSpec{policy: credentials.ChainPolicy{AllowWeakCrypto: true}}
	legacyOK := secSpec{policy: credentials.ChainPolicy{AllowLegacyProxies: true}}
	c := func(x *credentials.Credential) func(*secPKI) *credentials.Credential {
		return func(*secPKI) *credentials.Credential { return x }
	}
	adminOnly := secSpec{rules: []string{"all", "group:dirac_admin"}}
	whoamiStranger := visitor
	whoamiStranger.Refused = ""
	authRefused := refusedAuth()

	return []secCase{
		// 1. Claimed groups.
		{name: "member claims group by extension", cred: c(p.aliceAdminProxy), want: member("alice", "dirac_admin", "ServiceAdministrator")},
		{name: "stranger claims group by extension, rule all", cred: c(p.malloryAdmin), want: visitor, logHas: "claimedGroup=dirac_admin"},
		{name: "stranger claims group by extension, rule all+group", cred: c(p.malloryAdmin), spec: adminOnly, want: refusedAuth()},
		{name: "stranger claims group by extension, rule property", cred: c(p.malloryAdmin), spec: secSpec{rules: []string{"ServiceAdministrator"}}, want: refusedAuth()},
		{name: "stranger claims group by extension, rule authenticated", cred: c(p.malloryAdmin), spec: secSpec{rules: []string{"authenticated"}}, want: refusedAuth()},
		// (No VO: DIRAC sets it from the group extension of proxies only.)
		{name: "member claims group by extraCredentials", cred: c(p.alice), extra: "dirac_admin", want: seen{Username: "alice", Group: "dirac_admin", Properties: []string{"ServiceAdministrator"}}},
		{name: "stranger claims group by extraCredentials, rule all", cred: c(p.mallory), extra: "dirac_admin", want: visitor, logHas: "extraCredentials=dirac_admin"},
		{name: "stranger claims group by extraCredentials, rule all+group", cred: c(p.mallory), extra: "dirac_admin", spec: adminOnly, want: refusedAuth()},
		{name: "member in own group, rule all+group", cred: c(p.aliceAdminProxy), spec: adminOnly, want: member("alice", "dirac_admin", "ServiceAdministrator")},
		{name: "unknown DN, rule all", cred: c(p.eve), want: visitor},
		{name: "whoami of an unknown DN: open on DISET, authenticated on HTTPS", cred: c(p.eve), method: "whoami", want: whoamiStranger, wantHTTPS: &authRefused},
		{name: "whoami of a member", cred: c(p.aliceProxy), method: "whoami", want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}, VO: "vo"}},

		// 2. CA directory.
		{name: "CA disabled by renaming", cred: c(p.evilUser), spec: secSpec{prep: writeAs(p.evil, "EvilCA.pem.disabled")}, want: refusedTLS(), reason: credentials.ReasonUnknownAuthority},
		{name: "CA under an alias name only", cred: c(p.evilUser), spec: secSpec{prep: writeAs(p.evil, "EvilCA.pem")}, want: refusedTLS(), reason: credentials.ReasonUnknownAuthority},
		{name: "CA under a hash that is not its own", cred: c(p.evilUser), spec: secSpec{prep: writeAs(p.evil, "deadbeef.0")}, want: refusedTLS(), reason: credentials.ReasonUnknownAuthority},
		// Identity is the DN alone (as in DIRAC): a trusted CA may issue alice's DN.
		{name: "CA under its own hash is trusted", cred: c(p.evilUser), spec: secSpec{prep: func(dir string) error { return pki.WriteCADir(dir, p.evil.Cert) }}, want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}}},

		// 3. Weak crypto.
		{name: "RSA-1024 proxy", cred: c(must(p.ca.WeakKeyProxy(p.alice, 1024))), want: refusedTLS(), reason: credentials.ReasonWeakCrypto},
		{name: "RSA-1024 proxy, AllowWeakCrypto", cred: c(must(p.ca.WeakKeyProxy(p.alice, 1024))), spec: weak, want: member("alice", "dirac_user", "NormalUser")},
		{name: "SHA-1 proxy", cred: c(must(p.ca.SHA1Proxy(p.alice))), want: refusedTLS(), reason: credentials.ReasonWeakCrypto},
		{name: "SHA-1 proxy, AllowWeakCrypto", cred: c(must(p.ca.SHA1Proxy(p.alice))), spec: weak, want: member("alice", "dirac_user", "NormalUser")},
		{name: "SHA-1 proxy of RSA-1024 proxy", cred: c(must(p.ca.SHA1Proxy(must(p.ca.WeakKeyProxy(p.alice, 1024))))), want: refusedTLS(), reason: credentials.ReasonWeakCrypto},
		{name: "RSA-1024 user certificate", cred: c(p.weakUser), want: refusedTLS(), reason: credentials.ReasonWeakCrypto},

		// 4. Legacy proxies.
		{name: "legacy proxy", cred: c(p.legacy), want: refusedTLS(), reason: credentials.ReasonLegacyProxy},
		{name: "legacy proxy, AllowLegacyProxies", cred: c(p.legacy), spec: legacyOK, want: member("alice", "dirac_user", "NormalUser")},
		{name: "legacy limited proxy", cred: c(p.legacyL), want: refusedTLS(), reason: credentials.ReasonLegacyProxy},
		{name: "legacy limited proxy, AllowLegacyProxies", cred: c(p.legacyL), spec: legacyOK, want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}, VO: "vo", Limited: true}},

		// 5. Limited proxies.
		{name: "RFC limited proxy", cred: c(p.limitedProxy), want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}, VO: "vo", Limited: true}},
		{name: "proxy named limited proxy", cred: c(p.namedLimited), want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}, VO: "vo", Limited: true}},
		{name: "full proxy below a named limited proxy", cred: c(must(p.ca.Proxy(p.namedLimited, pki.RFC3820))), want: refusedTLS(), reason: credentials.ReasonBadProxy},
		{name: "full proxy below an RFC limited proxy", cred: c(must(p.ca.Proxy(p.limitedProxy, pki.RFC3820))), want: refusedTLS(), reason: credentials.ReasonBadProxy},
		{name: "limited proxy below a full one", cred: c(must(p.ca.NamedLimitedProxy(p.aliceProxy))), want: seen{Username: "alice", Group: "dirac_user", Properties: []string{"NormalUser"}, VO: "vo", Limited: true}},

		// 6. Revocation.
		{name: "revoked user certificate", cred: c(p.rob), spec: secSpec{prep: withCRL(p.ca, false, revokeRob, p)}, want: refusedTLS(), reason: credentials.ReasonRevoked},
		{name: "proxy of a revoked user certificate", cred: c(robProxy), spec: secSpec{prep: withCRL(p.ca, false, revokeRob, p)}, want: refusedTLS(), reason: credentials.ReasonRevoked},
		{name: "unrevoked user with a CRL", cred: c(p.aliceProxy), spec: secSpec{prep: withCRL(p.ca, false, revokeRob, p)}, want: member("alice", "dirac_user", "NormalUser")},
		{name: "expired CRL refused by default", cred: c(p.aliceProxy), spec: secSpec{prep: withCRL(p.ca, false, expired, p)}, want: refusedTLS(), reason: credentials.ReasonCRLExpired},
		{name: "expired CRL, ExpiredCRLWarn", cred: c(p.aliceProxy), spec: secSpec{prep: withCRL(p.ca, false, expired, p), policy: credentials.ChainPolicy{ExpiredCRL: credentials.ExpiredCRLWarn}}, want: member("alice", "dirac_user", "NormalUser")},
		{name: "expired CRL, ExpiredCRLWarn, still revokes", cred: c(robProxy), spec: secSpec{prep: withCRL(p.ca, false, expiredRevokingRob, p), policy: credentials.ChainPolicy{ExpiredCRL: credentials.ExpiredCRLWarn}}, want: refusedTLS(), reason: credentials.ReasonRevoked},
		{name: "CRL signed by no known CA is ignored", cred: c(robProxy), spec: secSpec{prep: withCRL(p.ca, true, revokeRob, p)}, want: member("rob", "dirac_user", "NormalUser")},

		// Forged signatures, proxy names, path lengths, depth (kept from the verifier's tests).
		{name: "forged proxy", cred: c(must(p.ca.ForgedProxy(p.alice))), want: refusedTLS(), reason: credentials.ReasonBadSignature},
		{name: "forged proxy of proxy", cred: c(must(p.ca.ForgedProxy(p.aliceProxy))), want: refusedTLS(), reason: credentials.ReasonBadSignature},
		{name: "proxy with a wrong issuer certificate", cred: c(&credentials.Credential{Chain: []*x509.Certificate{p.aliceProxy.Chain[0], p.host.Leaf()}, PrivateKey: p.aliceProxy.PrivateKey}), want: refusedTLS(), reason: credentials.ReasonBadProxy},
		{name: "path length 0 respected", cred: c(pathLen0), want: member("alice", "dirac_user", "NormalUser")},
		{name: "path length exceeded", cred: c(must(p.ca.Proxy(pathLen0, pki.RFC3820))), want: refusedTLS(), reason: credentials.ReasonBadProxy},
		{name: "chain longer than VerifyDepth", cred: c(long), want: refusedTLS(), reason: credentials.ReasonChainTooLong},
		{name: "chain at VerifyDepth", cred: c(atDepth), want: member("alice", "dirac_user", "NormalUser")},
		{name: "user of an untrusted CA", cred: c(p.evilUser), want: refusedTLS(), reason: credentials.ReasonUnknownAuthority},
	}
}

// TestSecurityChains is issue 12's suite.
func TestSecurityChains(t *testing.T) {
	p := newSecPKI(t)
	for _, tc := range secCases(t, p) {
		t.Run(tc.name, func(t *testing.T) {
			e := startSec(t, p, tc.spec)
			method := tc.method
			if method == "" {
				method = e.idMethod
			}
			for _, tr := range []string{"dips", "https"} {
				call, want := e.callDIPS, tc.want
				if tr == "https" {
					call = e.callHTTPS
					if tc.wantHTTPS != nil {
						want = *tc.wantHTTPS
					}
				}
				got, err := call(t, tc.cred(p), tc.extra, method)
				if want.Refused == "" {
					require.NoError(t, err, "%s: %s", tr, e.logs.String())
					got.Seconds = 0
				}
				assert.Equal(t, want, got, "%s (err %v)", tr, err)
			}
			if tc.logHas != "" {
				assert.Contains(t, e.logs.String(), tc.logHas)
			}
			if tc.want.Refused == "tls" && tc.reason != credentials.ReasonOther {
				// Both servers refused the chain for the expected reason.
				text := tc.reason.String()
				assert.Eventually(t, func() bool {
					logs := e.logs.String()
					return strings.Count(logs, text) >= 2
				}, 5*time.Second, 10*time.Millisecond, "want %q twice in the server logs:\n%s", text, e.logs.String())
			}
		})
	}
}

// settableClock is a verifier clock the test moves forward.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settableClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (e *secEnv) both(t *testing.T, cred *credentials.Credential) []seen {
	t.Helper()
	d, _ := e.callDIPS(t, cred, nil, e.idMethod)
	h, _ := e.callHTTPS(t, cred, nil, e.idMethod)
	d.Seconds, h.Seconds = 0, 0
	return []seen{d, h}
}

// TestSecurityCRLReload: CRL files are re-read when they change, at most
// once per CRLReloadInterval of the verifier's clock, without a restart.
func TestSecurityCRLReload(t *testing.T) {
	p := newSecPKI(t)
	robProxy := pki.Must(t)(p.ca.Proxy(p.rob, pki.RFC3820))
	clock := &settableClock{t: time.Now()}
	e := startSec(t, p, secSpec{reload: time.Minute, now: clock.Now})
	rob := member("rob", "dirac_user", "NormalUser")
	require.Equal(t, []seen{rob, rob}, e.both(t, robProxy))

	der, err := p.ca.CRL(pki.CRLSpec{Revoked: []*x509.Certificate{p.rob.Leaf()}})
	require.NoError(t, err)
	_, err = p.ca.WriteCRL(e.dir, der)
	require.NoError(t, err)
	assert.Equal(t, []seen{rob, rob}, e.both(t, robProxy), "within the reload interval the old CRLs stand")

	clock.Add(2 * time.Minute)
	assert.Equal(t, []seen{refusedTLS(), refusedTLS()}, e.both(t, robProxy), "the new CRL revokes rob")

	der, err = p.ca.CRL(pki.CRLSpec{Number: 2})
	require.NoError(t, err)
	_, err = p.ca.WriteCRL(e.dir, der)
	require.NoError(t, err)
	clock.Add(2 * time.Minute)
	assert.Equal(t, []seen{rob, rob}, e.both(t, robProxy), "a CRL without rob lets him in again")
}

// TestSecurityCRLReloadEveryHandshake: a negative interval looks at the
// files on every verification.
func TestSecurityCRLReloadEveryHandshake(t *testing.T) {
	p := newSecPKI(t)
	e := startSec(t, p, secSpec{reload: -1})
	rob := member("rob", "dirac_user", "NormalUser")
	rob.VO = ""
	require.Equal(t, []seen{rob, rob}, e.both(t, p.rob))
	der, err := p.ca.CRL(pki.CRLSpec{Revoked: []*x509.Certificate{p.rob.Leaf()}})
	require.NoError(t, err)
	_, err = p.ca.WriteCRL(e.dir, der)
	require.NoError(t, err)
	assert.Equal(t, []seen{refusedTLS(), refusedTLS()}, e.both(t, p.rob))
}

// TestSecurityPeerInfoClock: the handler's secondsLeft is counted from the
// verifier's clock, not the system's.
func TestSecurityPeerInfoClock(t *testing.T) {
	p := newSecPKI(t)
	later := time.Now().Add(time.Hour)
	e := startSec(t, p, secSpec{now: func() time.Time { return later }})
	left := time.Until(p.aliceProxy.NotAfter()) - time.Hour
	for _, call := range []func(*testing.T, *credentials.Credential, any, string) (seen, error){e.callDIPS, e.callHTTPS} {
		got, err := call(t, p.aliceProxy, nil, "id")
		require.NoError(t, err)
		assert.InDelta(t, left.Seconds(), float64(got.Seconds), 60, "secondsLeft %d", got.Seconds)
	}
}

// TestSecurityCRLOnResumedSession: a certificate revoked after its session
// was established cannot resume it.
func TestSecurityCRLOnResumedSession(t *testing.T) {
	p := newSecPKI(t)
	e := startSec(t, p, secSpec{reload: -1})
	var err error
	e.shared, err = credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: p.rob, CAs: e.clientCAs})
	require.NoError(t, err)
	rob := seen{Username: "rob", Group: "dirac_user", Properties: []string{"NormalUser"}}
	got, err := e.callDIPS(t, p.rob, nil, "id")
	require.NoError(t, err)
	got.Seconds = 0
	require.Equal(t, rob, got)
	got, err = e.callDIPS(t, p.rob, nil, "id")
	require.NoError(t, err)
	require.True(t, e.resumed, "the second call should resume the session")

	der, err := p.ca.CRL(pki.CRLSpec{Revoked: []*x509.Certificate{p.rob.Leaf()}})
	require.NoError(t, err)
	_, err = p.ca.WriteCRL(e.dir, der)
	require.NoError(t, err)
	got, _ = e.callDIPS(t, p.rob, nil, "id")
	assert.Equal(t, refusedTLS(), got)
}
