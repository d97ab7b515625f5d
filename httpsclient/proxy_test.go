package httpsclient_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// connectProxy is an HTTP proxy that only tunnels (CONNECT), as the proxies
// in front of grid sites do; it counts the tunnels it opened.
type connectProxy struct {
	url     *url.URL
	tunnels atomic.Int32
	mu      sync.Mutex
	conns   []net.Conn
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.url = &url.URL{Scheme: "http", Host: l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		dst, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		src, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			dst.Close()
			return
		}
		p.tunnels.Add(1)
		p.mu.Lock()
		p.conns = append(p.conns, src, dst)
		p.mu.Unlock()
		_, _ = src.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { _, _ = io.Copy(dst, src); dst.Close() }()
		go func() { _, _ = io.Copy(src, dst); src.Close() }()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

// Through a CONNECT proxy, calls reach the service over one reused tunnel,
// with the same credentials and the same verification of the server.
func TestCallsThroughAProxy(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{})
	p := startConnectProxy(t)
	c := e.client(t, url, diracrpc.Options{}, httpsclient.Options{Proxy: http.ProxyURL(p.url)})
	for range 3 {
		res, err := c.Call(ctxT(t), "add", 2, 3)
		require.NoError(t, err)
		assert.Equal(t, int64(5), res.Value)
	}
	res, err := c.Call(ctxT(t), "whoami")
	require.NoError(t, err)
	assert.Contains(t, res.Value.(interface{ Keys() []any }).Keys(), "DN", "the proxy credential went through the tunnel")
	assert.EqualValues(t, 1, p.tunnels.Load(), "one tunnel, kept alive")

	// A server the client cannot verify is refused through the tunnel too.
	other := pki.NewT(t, pki.Options{})
	stranger := e.client(t, url, diracrpc.Options{CAs: other.Store(), Credential: pki.Must(t)(other.User("stranger"))}, httpsclient.Options{Proxy: http.ProxyURL(p.url)})
	_, err = stranger.Call(ctxT(t), "add", 2, 3)
	var ve *credentials.VerifyError
	assert.ErrorAs(t, err, &ve)
}
