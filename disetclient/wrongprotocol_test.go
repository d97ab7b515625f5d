package disetclient_test

import (
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/faults"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// TestDIPSURLForHTTPSPort: a dips:// URL given for an HTTPS port. An HTTPS
// server that answers the proposal in HTTP ran nothing: the call fails at
// once with the hint (CodeProtocol, not reached) and goes on to the other
// URLs. Go's and Tornado's HTTPS servers say nothing instead (they wait for
// the end of an HTTP header): the timeout keeps its code and names the
// possible cause.
func TestDIPSURLForHTTPSPort(t *testing.T) {
	svc := testharness.NewTestService("")
	sleeping := make(chan struct{}, 1)
	testharness.OnCall(svc, "sleep", func() { sleeping <- struct{}{} })
	h := testharness.NewT(t, testharness.Options{Service: svc})
	opts := h.Options()
	opts.Timeout = time.Minute // the failure must not come from a timeout

	t.Run("answered in HTTP", func(t *testing.T) {
		// A TLS server answering whatever comes first with an HTTP 400,
		// as HTTP servers do with a request they cannot parse.
		host := pki.Must(t)(h.CA.Host("localhost", "127.0.0.1"))
		tlsCfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: h.CA.Store()})
		require.NoError(t, err)
		plan := faults.NewPlan(1).Add(faults.Every(), faults.Fault{Kind: faults.Garbage,
			Garbage: []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")})
		dip, err := url.Parse(h.DIPURL)
		require.NoError(t, err)
		p, err := faults.StartProxy(faults.ProxyConfig{Target: dip.Host, TLS: tlsCfg, Plan: plan})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		wrong := "dips://" + p.Addr() + "/" + testharness.DefaultService

		c, err := disetclient.New([]string{wrong}, opts, disetclient.Options{})
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Call(ctxT(t), "add", 1, 2)
		testkit.WrongProtocol(t, err, diracrpc.HTTPS, false, "https://"+p.Addr()+"/"+testharness.DefaultService)
		assert.Contains(t, err.Error(), "answered like an HTTPS server")
		assert.Contains(t, err.Error(), `"HTTP/1.1 400 Bad Request`)

		// Not tried again, the next URL is.
		opts := opts
		opts.FailoverURLs, opts.Attempts = []string{h.DIPSURL}, 0 // DIRAC's rule: 3 per URL
		c, err = disetclient.New([]string{wrong}, opts, disetclient.Options{})
		require.NoError(t, err)
		defer c.Close()
		res, err := c.Call(ctxT(t), "add", 1, 2)
		require.NoError(t, err)
		assert.Equal(t, h.DIPSURL, res.URL)
		assert.Equal(t, int64(3), res.Value)
		assert.Equal(t, int64(2), p.Stats().Conns, "the wrong port once per call")
	})

	t.Run("silent", func(t *testing.T) {
		// A TLS server that says nothing, as Go's and Tornado's HTTPS
		// servers do with a proposal (they wait for the end of an HTTP
		// header). The deadline passes once it holds the proposal: the
		// handshake came first, however slow the machine.
		host := pki.Must(t)(h.CA.Host("localhost", "127.0.0.1"))
		tlsCfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: h.CA.Store()})
		require.NoError(t, err)
		addr, read := silentTLS(t, tlsCfg)
		wrong := "dips://" + addr + "/" + testharness.DefaultService
		c, err := disetclient.New([]string{wrong}, opts, disetclient.Options{})
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Call(testkit.DeadlineOnSignal(read), "add", 1, 2)
		assert.Equal(t, diracrpc.CodeTimeout, diracrpc.CodeOf(err), "%v", err)
		assert.False(t, diracrpc.Reached(err), "no proposal was accepted")
		testkit.WrongProtocol(t, err, diracrpc.HTTPS, true, "https://"+addr+"/"+testharness.DefaultService)
		assert.Contains(t, err.Error(), "is this a dips:// URL for an https:// port?")

		// A DISET server that answers the proposal and then takes its time
		// gets no such hint.
		c, err = disetclient.New([]string{h.DIPSURL}, opts, disetclient.Options{})
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Call(testkit.DeadlineOnSignal(sleeping), "sleep", 60)
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeTimeout, diracrpc.CodeOf(err), "%v", err)
		var wpe *diracrpc.WrongProtocolError
		assert.NotErrorAs(t, err, &wpe)
	})
}

// silentTLS serves TLS with cfg on 127.0.0.1 and never answers: it
// completes the handshake and reads. read delivers once a connection sent
// bytes after its handshake.
func silentTLS(t *testing.T, cfg *tls.Config) (addr string, read <-chan struct{}) {
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	got := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					select {
					case got <- struct{}{}:
					default:
					}
				}
			})
		}
	})
	return l.Addr().String(), got
}
