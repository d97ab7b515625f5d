package credentials_test

import (
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// A resumed session skips the signature checks but not the validity times:
// once the client's proxy has expired (by the server's clock), resumption is
// refused by the server.
func TestResumedSessionExpiryServer(t *testing.T) {
	f := newFixture(t)
	var offset atomic.Int64
	srv, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: f.host, CAs: f.ca.Store(),
		RequireClientCert: true, Now: shiftedClock(&offset)})
	require.NoError(t, err)
	cli := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store()}, "localhost")
	checkResumedExpiry(t, srv, cli, &offset, f.proxy.Chain[0].NotAfter,
		func(r handshakeResult) error { return r.serverErr })
}

// The same on the client side, with the server's certificate.
func TestResumedSessionExpiryClient(t *testing.T) {
	f := newFixture(t)
	srv := serverConfig(t, f, f.host, true)
	var offset atomic.Int64
	cli := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store(),
		Now: shiftedClock(&offset)}, "localhost")
	checkResumedExpiry(t, srv, cli, &offset, f.host.Chain[0].NotAfter,
		func(r handshakeResult) error { return r.clientErr })
}

// shiftedClock is now moved by offset (a time.Duration), which a test
// changes to jump past a certificate's end.
func shiftedClock(offset *atomic.Int64) func() time.Time {
	return func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
}

// checkResumedExpiry makes a session, resumes it, then moves the verifying
// side's clock (offset) past notAfter: the next handshake must fail there
// (errOf picks that side's error) with ReasonExpired.
func checkResumedExpiry(t *testing.T, srv, cli *tls.Config, offset *atomic.Int64, notAfter time.Time, errOf func(handshakeResult) error) {
	t.Helper()
	require.NoError(t, errOf(handshake(t, srv, cli)))
	r2 := handshake(t, srv, cli)
	require.NoError(t, errOf(r2))
	require.True(t, r2.resumed)

	offset.Store(int64(time.Until(notAfter) + time.Hour))
	err := errOf(handshake(t, srv, cli))
	var ve *credentials.VerifyError
	require.True(t, errors.As(err, &ve), "got %v", err)
	assert.Equal(t, credentials.ReasonExpired, ve.Reason)
}

// Two ClientTLS sharing one session cache never resume each other's
// sessions: each one only skips verification for sessions it verified.
func TestSharedSessionCacheScoped(t *testing.T) {
	f := newFixture(t)
	srv := serverConfig(t, f, f.host, true)
	cache := tls.NewLRUClientSessionCache(8)
	lax := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, SkipCACheck: true, SessionCache: cache}, "localhost")
	strict := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store(), SessionCache: cache}, "localhost")
	require.NoError(t, handshake(t, srv, lax).clientErr)
	r := handshake(t, srv, strict)
	require.NoError(t, r.clientErr)
	assert.False(t, r.resumed, "a session of another ClientTLS was resumed")
	r = handshake(t, srv, strict)
	require.NoError(t, r.clientErr)
	assert.True(t, r.resumed)
}

// A ticket issued by another server config, even with the same ticket keys,
// is not resumed: the full verification runs.
func TestTicketFromOtherConfigNotResumed(t *testing.T) {
	f := newFixture(t)
	var key [32]byte
	key[0] = 1
	s1 := serverConfig(t, f, f.host, true)
	s2 := serverConfig(t, f, f.host, true)
	s1.SetSessionTicketKeys([][32]byte{key})
	s2.SetSessionTicketKeys([][32]byte{key})
	cli := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store()}, "localhost")
	require.NoError(t, handshake(t, s1, cli).serverErr)
	r := handshake(t, s2, cli)
	require.NoError(t, r.serverErr)
	assert.False(t, r.resumed, "a ticket of another config was resumed")
	require.NotNil(t, r.peer)
	assert.True(t, r.peer.IsProxy)
	r = handshake(t, s2, cli)
	require.NoError(t, r.serverErr)
	assert.True(t, r.resumed)
	require.NotNil(t, r.peer)
	assert.True(t, r.peer.IsProxy)
}

// TLS 1.2 (which DISET peers still negotiate) resumes through the same
// ticket binding, and the resumed peer's credentials are complete.
func TestResumptionTLS12(t *testing.T) {
	f := newFixture(t)
	srv := serverConfig(t, f, f.host, true)
	cli := clientConfig(t, credentials.ClientTLSOptions{Credential: f.proxy, CAs: f.ca.Store(), MaxVersion: tls.VersionTLS12}, "localhost")
	r1 := handshake(t, srv, cli)
	require.NoError(t, r1.serverErr)
	require.NoError(t, r1.clientErr)
	r2 := handshake(t, srv, cli)
	require.NoError(t, r2.serverErr)
	require.NoError(t, r2.clientErr)
	assert.True(t, r2.resumed)
	require.NotNil(t, r2.peer)
	assert.Equal(t, r1.peer.DN, r2.peer.DN)
	assert.Equal(t, r1.peer.ProxyTypes, r2.peer.ProxyTypes)
	assert.True(t, r2.peer.IsProxy)
}
