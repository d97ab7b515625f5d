package credentials_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

type handshakeResult struct {
	serverErr error
	peer      *credentials.PeerCredentials
	clientErr error
	resumed   bool
}

// handshake runs one TLS handshake on 127.0.0.1 between the two configs.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	type srv struct {
		err  error
		peer *credentials.PeerCredentials
	}
	done := make(chan srv, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- srv{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, serverCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			done <- srv{err: err}
			return
		}
		// Complete the exchange so TLS 1.3 client-side errors surface.
		buf := make([]byte, 1)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := tc.Read(buf); err != nil {
			done <- srv{err: err}
			return
		}
		_, _ = tc.Write(buf)
		pc, err := credentials.PeerInfo(tc.ConnectionState())
		if errors.Is(err, credentials.ErrNoPeerCertificate) {
			err = nil
		}
		done <- srv{peer: pc, err: err}
	}()

	var res handshakeResult
	d := tls.Dialer{Config: clientCfg, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err = tc.Write([]byte{1}); err == nil {
			_, err = tc.Read(make([]byte, 1))
		}
		res.resumed = tc.ConnectionState().DidResume
		conn.Close()
	}
	res.clientErr = err
	s := <-done
	res.serverErr, res.peer = s.err, s.peer
	return res
}

func serverConfig(t *testing.T, f *fixture, host *credentials.Credential, require bool) *tls.Config {
	t.Helper()
	cfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: f.ca.Store(), RequireClientCert: require})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientConfig(t *testing.T, opts credentials.ClientTLSOptions, host string) *tls.Config {
	t.Helper()
	c, err := credentials.NewClientTLS(opts)
	require.NoError(t, err)
	return c.Config(host)
}

func TestHandshakeClientCredentials(t *testing.T) {
	f := newFixture(t)
	must := pki.Must(t)
	userDN := credentials.SubjectDN(f.user.Leaf())
	grouped := must(f.ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	cases := []struct {
		name    string
		cred    *credentials.Credential
		wantDN  string
		isProxy bool
		limited bool
		group   string
		rsa     bool
	}{
		{name: "rfc proxy", cred: f.proxy, wantDN: userDN, isProxy: true},
		{name: "rfc proxy with group", cred: grouped, wantDN: userDN, isProxy: true, group: "dirac_user"},
		{name: "limited proxy", cred: must(f.ca.Proxy(f.user, pki.Limited)), wantDN: userDN, isProxy: true, limited: true},
		{name: "proxy of proxy", cred: must(f.ca.Proxy(f.proxy, pki.RFC3820)), wantDN: userDN, isProxy: true},
		{name: "user cert", cred: f.user, wantDN: userDN},
		{name: "host cert", cred: f.host, wantDN: credentials.SubjectDN(f.host.Leaf())},
		{name: "rsa proxy", cred: must(f.ca.ProxyWith(f.user, pki.RFC3820, credentials.ProxyOptions{KeyBits: 2048})), wantDN: userDN, isProxy: true},
	}
	srvCfg := serverConfig(t, f, f.host, true)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := handshake(t, srvCfg, clientConfig(t, credentials.ClientTLSOptions{Credential: tc.cred, CAs: f.ca.Store()}, "localhost"))
			require.NoError(t, r.clientErr)
			require.NoError(t, r.serverErr)
			require.NotNil(t, r.peer)
			assert.Equal(t, tc.wantDN, r.peer.DN)
			assert.Equal(t, tc.isProxy, r.peer.IsProxy)
			assert.Equal(t, tc.limited, r.peer.IsLimitedProxy)
			assert.Equal(t, tc.group, r.peer.Group)
		})
	}
}

func TestHandshakeClientRefused(t *testing.T) {
	f := newFixture(t)
	must := pki.Must(t)
	otherUser := must(f.other.User("mallory"))
	cases := []struct {
		name   string
		cred   *credentials.Credential
		reason credentials.VerifyReason
	}{
		{"untrusted CA", otherUser, credentials.ReasonUnknownAuthority},
		{"proxy from untrusted CA", must(f.ca.Proxy(otherUser, pki.RFC3820)), credentials.ReasonUnknownAuthority},
		{"expired proxy", must(f.ca.ExpiredProxy(f.user)), credentials.ReasonExpired},
		{"expired user", must(f.ca.ExpiredUser("old")), credentials.ReasonExpired},
		{"no clientAuth EKU", must(f.ca.UserWithoutClientAuth("bob")), credentials.ReasonKeyUsage},
		{"forged proxy", must(f.ca.ForgedProxy(f.user)), credentials.ReasonBadSignature},
	}
	srvCfg := serverConfig(t, f, f.host, true)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := handshake(t, srvCfg, clientConfig(t, credentials.ClientTLSOptions{Credential: tc.cred, CAs: f.ca.Store()}, "localhost"))
			require.Error(t, r.serverErr)
			var ve *credentials.VerifyError
			require.True(t, errors.As(r.serverErr, &ve), "got %T: %v", r.serverErr, r.serverErr)
			assert.Equal(t, tc.reason, ve.Reason, "%v", ve)
			assert.Error(t, r.clientErr)
		})
	}
	t.Run("no client cert, required", func(t *testing.T) {
		r := handshake(t, srvCfg, clientConfig(t, credentials.ClientTLSOptions{CAs: f.ca.Store()}, "localhost"))
		assert.Error(t, r.serverErr)
		assert.Error(t, r.clientErr)
	})
	t.Run("no client cert, optional (HTTPS)", func(t *testing.T) {
		r := handshake(t, serverConfig(t, f, f.host, false), clientConfig(t, credentials.ClientTLSOptions{CAs: f.ca.Store()}, "localhost"))
		require.NoError(t, r.clientErr)
		require.NoError(t, r.serverErr)
		assert.Nil(t, r.peer)
	})
}

func TestHandshakeServerVerification(t *testing.T) {
	f := newFixture(t)
	must := pki.Must(t)
	cases := []struct {
		name    string
		host    *credentials.Credential
		dial    string
		opts    credentials.ClientTLSOptions
		reason  credentials.VerifyReason
		ok      bool
		inNames string
	}{
		{name: "SAN match", host: f.host, dial: "localhost", ok: true},
		{name: "SAN match upper case", host: f.host, dial: "LOCALHOST", ok: true},
		{name: "IP SAN", host: f.host, dial: "127.0.0.1", ok: true},
		{name: "CN-only host cert accepted", host: must(f.ca.HostCNOnly("localhost")), dial: "localhost", ok: true},
		{name: "wildcard SAN", host: must(f.ca.Host("*.example.org")), dial: "dirac.example.org", ok: true},
		{name: "wildcard does not cross dots", host: must(f.ca.Host("*.example.org")), dial: "a.b.example.org", reason: credentials.ReasonHostnameMismatch, inNames: "DNS:*.example.org"},
		{name: "wrong host name", host: must(f.ca.Host("other.example.org")), dial: "localhost", reason: credentials.ReasonHostnameMismatch, inNames: "DNS:other.example.org"},
		{name: "CN ignored when SAN present", host: must(f.ca.Issue(pki.CertSpec{CommonName: "localhost", DNSNames: []string{"x.example.org"}})), dial: "localhost", reason: credentials.ReasonHostnameMismatch, inNames: "DNS:x.example.org"},
		{name: "untrusted CA", host: must(f.other.Host("localhost")), dial: "localhost", reason: credentials.ReasonUnknownAuthority},
		{name: "expired host", host: must(f.ca.ExpiredHost("localhost")), dial: "localhost", reason: credentials.ReasonExpired},
		{name: "not yet valid host", host: must(f.ca.NotYetValidHost("localhost")), dial: "localhost", reason: credentials.ReasonNotYetValid},
		{name: "host cert without serverAuth", host: must(f.ca.Issue(pki.CertSpec{CommonName: "localhost", DNSNames: []string{"localhost"}, ExtKeyUsage: []x509ExtKeyUsage{x509ClientAuth}})), dial: "localhost", reason: credentials.ReasonKeyUsage},
		{name: "skipCACheck accepts untrusted", host: must(f.other.Host("localhost")), dial: "localhost", opts: credentials.ClientTLSOptions{SkipCACheck: true}, ok: true},
		{name: "skipCACheck DISET still checks name", host: must(f.other.Host("elsewhere")), dial: "localhost", opts: credentials.ClientTLSOptions{SkipCACheck: true, CheckHostnameWithoutCA: true}, reason: credentials.ReasonHostnameMismatch},
		{name: "skipCACheck HTTPS ignores name", host: must(f.other.Host("elsewhere")), dial: "localhost", opts: credentials.ClientTLSOptions{SkipCACheck: true}, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if !opts.SkipCACheck {
				opts.CAs = f.ca.Store()
			}
			opts.Credential = f.proxy
			r := handshake(t, serverConfig(t, f, tc.host, false), clientConfig(t, opts, tc.dial))
			if tc.ok {
				require.NoError(t, r.clientErr)
				require.NoError(t, r.serverErr)
				return
			}
			require.Error(t, r.clientErr)
			var ve *credentials.VerifyError
			require.True(t, errors.As(r.clientErr, &ve), "got %T: %v", r.clientErr, r.clientErr)
			assert.Equal(t, tc.reason, ve.Reason, "%v", ve)
			if tc.inNames != "" {
				assert.Contains(t, ve.Names, tc.inNames)
				assert.Contains(t, ve.Error(), tc.inNames)
			}
			t.Log(ve.Error())
		})
	}
}

func TestSessionResumption(t *testing.T) {
	f := newFixture(t)
	srv := serverConfig(t, f, f.host, true)
	c, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store()})
	require.NoError(t, err)
	r1 := handshake(t, srv, c.Config("localhost"))
	require.NoError(t, r1.clientErr)
	r2 := handshake(t, srv, c.Config("localhost"))
	require.NoError(t, r2.clientErr)
	require.NoError(t, r2.serverErr)
	assert.True(t, r2.resumed, "second connection should resume")
	require.NotNil(t, r2.peer)
	assert.True(t, r2.peer.IsProxy)
}

func TestTLSDefaults(t *testing.T) {
	f := newFixture(t)
	_, err := credentials.NewClientTLS(credentials.ClientTLSOptions{})
	assert.ErrorIs(t, err, credentials.ErrNoCAs)
	cfg := clientConfig(t, credentials.ClientTLSOptions{CAs: f.ca.Store()}, "h")
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.NotNil(t, cfg.ClientSessionCache)
	assert.NotNil(t, cfg.VerifyConnection)
	srv := serverConfig(t, f, f.host, true)
	assert.Equal(t, tls.RequireAnyClientCert, srv.ClientAuth)
	assert.Equal(t, uint16(tls.VersionTLS12), srv.MinVersion)
	// The host chain is completed from the CA store (root excluded): only the leaf here.
	assert.Len(t, srv.Certificates[0].Certificate, 1)
}

// TLS 1.2, which DISET peers still negotiate, with RSA and EC proxies.
func TestHandshakeTLS12(t *testing.T) {
	f := newFixture(t)
	rsaCA := pki.NewT(t, pki.Options{RSA: true})
	rsaUser := pki.Must(t)(rsaCA.User("rsa"))
	rsaHost := pki.Must(t)(rsaCA.Host("localhost"))
	for _, tc := range []struct {
		name        string
		ca          *pki.CA
		host, proxy *credentials.Credential
	}{
		{"ecdsa", f.ca, f.host, f.proxy},
		{"rsa", rsaCA, rsaHost, pki.Must(t)(rsaCA.Proxy(rsaUser, pki.RFC3820))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: tc.host, CAs: tc.ca.Store(), RequireClientCert: true})
			require.NoError(t, err)
			cli := clientConfig(t, credentials.ClientTLSOptions{Credential: tc.proxy, CAs: tc.ca.Store(), MaxVersion: tls.VersionTLS12}, "localhost")
			r := handshake(t, srv, cli)
			require.NoError(t, r.clientErr)
			require.NoError(t, r.serverErr)
			assert.True(t, r.peer.IsProxy)
		})
	}
}
