package faults

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func startProxy(t *testing.T, cfg ProxyConfig) *Proxy {
	t.Helper()
	p, err := StartProxy(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func TestProxyDISETPassThrough(t *testing.T) {
	b := startDISET(t)
	p := startProxy(t, ProxyConfig{Target: b.addr(), Protocol: DISET})
	for range 3 {
		got, err := disetCall(t, p.Addr(), 2*time.Second)
		require.NoError(t, err)
		assert.Equal(t, okResult, got)
	}
	s := p.Stats()
	assert.EqualValues(t, 3, s.Conns)
	assert.EqualValues(t, 3, s.Requests)
	assert.EqualValues(t, 3, s.Forwarded)
	assert.Zero(t, s.Total())
	assert.EqualValues(t, 3, b.executed.Load())
}

// TestProxyDISETFaults runs one call per fault and checks what the client saw
// and whether the service ran.
func TestProxyDISETFaults(t *testing.T) {
	for _, tc := range []struct {
		fault    Fault
		executed int64
		requests int64
		check    func(t *testing.T, got string, err error)
	}{
		{Fault{Kind: Refuse}, 0, 0, func(t *testing.T, _ string, err error) {
			require.Error(t, err)
			assert.True(t, isReset(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF), "%v", err)
		}},
		{Fault{Kind: Hang}, 0, 0, func(t *testing.T, _ string, err error) {
			assert.True(t, os.IsTimeout(err), "%v", err)
		}},
		{Fault{Kind: DropBeforeRequest}, 0, 1, func(t *testing.T, _ string, err error) {
			assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err), "%v", err)
		}},
		{Fault{Kind: DropAfterRequest}, 1, 1, func(t *testing.T, _ string, err error) {
			assert.True(t, errors.Is(err, io.EOF) || isReset(err), "%v", err)
		}},
		{Fault{Kind: ResetMidFrame, KeepBytes: 10}, 1, 1, func(t *testing.T, _ string, err error) {
			assert.True(t, isReset(err) || errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
		}},
		{Fault{Kind: Garbage}, 1, 1, func(t *testing.T, _ string, err error) {
			assert.ErrorIs(t, err, frame.ErrMalformed)
		}},
		{Fault{Kind: DelayAnswer}, 1, 1, func(t *testing.T, _ string, err error) {
			assert.True(t, os.IsTimeout(err), "%v", err)
		}},
		{Fault{Kind: DelayAnswer, Delay: 30 * time.Millisecond}, 1, 1, func(t *testing.T, got string, err error) {
			require.NoError(t, err)
			assert.Equal(t, okResult, got)
		}},
		{Fault{Kind: DelayAccept, Delay: 30 * time.Millisecond}, 1, 1, func(t *testing.T, got string, err error) {
			require.NoError(t, err)
			assert.Equal(t, okResult, got)
		}},
		{Fault{Kind: DelayHandshake, Delay: 30 * time.Millisecond}, 1, 1, func(t *testing.T, got string, err error) {
			require.NoError(t, err)
			assert.Equal(t, okResult, got)
		}},
	} {
		t.Run(tc.fault.Kind.String(), func(t *testing.T) {
			b := startDISET(t)
			plan := NewPlan(1).Add(Nth(1), tc.fault)
			p := startProxy(t, ProxyConfig{Target: b.addr(), Protocol: DISET, Plan: plan})
			start := time.Now()
			got, err := disetCall(t, p.Addr(), clientTimeout(tc.fault))
			tc.check(t, got, err)
			if tc.fault.Delay > 0 {
				assert.GreaterOrEqual(t, time.Since(start), tc.fault.Delay)
			}
			s := p.Stats()
			assert.EqualValues(t, 1, s.Conns)
			assert.EqualValues(t, tc.requests, s.Requests)
			assert.EqualValues(t, map[Kind]int64{tc.fault.Kind: 1}, s.Faults)
			assert.EqualValues(t, tc.executed, b.executed.Load())

			// The plan only hit the first call: the next one passes.
			got, err = disetCall(t, p.Addr(), 2*time.Second)
			require.NoError(t, err)
			assert.Equal(t, okResult, got)
		})
	}
}

func TestProxyStopStart(t *testing.T) {
	b := startDISET(t)
	p := startProxy(t, ProxyConfig{Target: b.addr(), Protocol: DISET, Plan: NewPlan(1).Add(Every(), Fault{Kind: Hang})})
	// A hung connection is cut by Stop.
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("5:hello"))
	require.NoError(t, err)
	require.NoError(t, p.Stop())
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, os.IsTimeout(err), "Stop must close open connections: %v", err)

	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	require.Error(t, err, "a stopped proxy refuses connections")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	p.cfg.Plan.Clear()
	got, err := disetCall(t, p.Addr(), 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, okResult, got)
}

func TestRelisten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ln2, err := Relisten(ctx, "tcp", addr)
	require.NoError(t, err)
	assert.Equal(t, addr, ln2.Addr().String())
	// While the port is taken, Relisten gives up with ctx.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	_, err = Relisten(ctx2, "tcp", addr)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, ln2.Close())
}

// tlsClient dials addr with TLS trusting ca, as a dips client would.
func tlsClient(t *testing.T, ca *pki.CA, addr string) (*tls.Conn, error) {
	t.Helper()
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{CAs: ca.Store()})
	require.NoError(t, err)
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: ct.Config("127.0.0.1")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

func TestProxyTLS(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	good := pki.Must(t)(ca.Host("localhost", "127.0.0.1"))
	expired := pki.Must(t)(ca.ExpiredHost("localhost", "127.0.0.1"))
	wrongHost := pki.Must(t)(ca.Host("wrong.example"))
	serverTLS := func(c *credentials.Credential) *tls.Config {
		cfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: c, CAs: ca.Store()})
		require.NoError(t, err)
		return cfg
	}

	t.Run("good certificate: frames seen through TLS", func(t *testing.T) {
		b := startDISET(t)
		plan := NewPlan(1).Add(Nth(1), Fault{Kind: DropAfterRequest})
		p := startProxy(t, ProxyConfig{Target: b.addr(), Protocol: DISET, TLS: serverTLS(good), Plan: plan})
		c, err := tlsClient(t, ca, p.Addr())
		require.NoError(t, err)
		_, err = disetOn(c, 2*time.Second)
		_ = c.Close()
		require.Error(t, err)
		c, err = tlsClient(t, ca, p.Addr())
		require.NoError(t, err)
		got, err := disetOn(c, 2*time.Second)
		_ = c.Close()
		require.NoError(t, err)
		assert.Equal(t, okResult, got)
		assert.EqualValues(t, 2, p.Stats().Requests)
		assert.EqualValues(t, 2, b.executed.Load())
	})
	for name, cred := range map[string]*credentials.Credential{"expired": expired, "wrong host": wrongHost} {
		t.Run(name, func(t *testing.T) {
			b := startDISET(t)
			p := startProxy(t, ProxyConfig{Target: b.addr(), Protocol: DISET, TLS: serverTLS(cred)})
			_, err := tlsClient(t, ca, p.Addr())
			var ve *credentials.VerifyError
			require.ErrorAs(t, err, &ve)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, ok := WaitStats(ctx, p.Stats, func(s Stats) bool { return s.HandshakeErrors == 1 })
			assert.True(t, ok, "%+v", s)
			assert.Zero(t, s.Requests)
			assert.Zero(t, b.executed.Load())
		})
	}
}

func TestProxyRawAndBackendDown(t *testing.T) {
	// A backend that is gone: the proxy accepts then closes; counted.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	p := startProxy(t, ProxyConfig{Target: dead})
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	_ = c.Close()
	assert.EqualValues(t, 1, p.Stats().BackendErrors)

	// Raw mode: garbage instead of the DISET answer.
	b := startDISET(t)
	p2 := startProxy(t, ProxyConfig{Target: b.addr(), Plan: NewPlan(1).Add(Every(), Fault{Kind: Garbage, Garbage: []byte("xx")})})
	_, err = disetCall(t, p2.Addr(), time.Second)
	require.Error(t, err)
	assert.EqualValues(t, 1, p2.Stats().Faults[Garbage])
}

// TestProxyNoticesClientGone: a client that gives up during a delay ends
// the proxied connection at once, whatever the delay.
func TestProxyNoticesClientGone(t *testing.T) {
	for _, f := range []Fault{
		{Kind: DelayAccept},
		{Kind: DelayHandshake, Delay: time.Hour},
		{Kind: DelayAnswer},
		{Kind: Hang},
	} {
		for _, proto := range []Protocol{DISET, HTTP} {
			t.Run(f.Kind.String()+map[Protocol]string{DISET: "/DISET", HTTP: "/HTTP"}[proto], func(t *testing.T) {
				var target string
				if proto == DISET {
					target = startDISET(t).addr()
				} else {
					target = strings.TrimPrefix(startHTTP(t, nil).URL, "http://")
				}
				p := startProxy(t, ProxyConfig{Target: target, Protocol: proto, Plan: NewPlan(1).Add(Every(), f)})
				if proto == DISET {
					_, err := disetCall(t, p.Addr(), 100*time.Millisecond)
					require.Error(t, err)
				} else {
					_, _, err := post(t, httpClient(t, 100*time.Millisecond), "http://"+p.Addr()+"/x")
					require.Error(t, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				s, ok := WaitStats(ctx, p.Stats, func(s Stats) bool { return s.Active == 0 })
				assert.True(t, ok, "connection still open: %+v", s)
			})
		}
	}
}

// clientTimeout is short where the fault means no answer, long otherwise
// (a loaded CI machine must not turn a slow success into a failure).
func clientTimeout(f Fault) time.Duration {
	if f.Kind == Hang || (f.Kind == DelayAnswer && f.Delay == 0) {
		return 300 * time.Millisecond
	}
	return 5 * time.Second
}
