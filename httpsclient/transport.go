package httpsclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// server is one keep-alive connection pool per server (host:port), shared
// by all calls.
type server struct {
	transport *http.Transport
	// client is what go-retryablehttp drives. Its transport has no
	// CloseIdleConnections, so retryablehttp giving up cannot close the
	// connections other calls are using.
	client *http.Client
	// retry is the go-retryablehttp client driving client, made once.
	retry *retryablehttp.Client
	// shook: a TLS handshake with the server succeeded; answered: it sent
	// a byte after one. Shaken but never answered is how a DISET server
	// treats HTTPS requests (see Attempt).
	shook, answered atomic.Bool
}

func newServer(addr, host string, tlsc *credentials.ClientTLS, tc *diracrpc.TransportConfig,
	proxy func(*http.Request) (*url.URL, error), resume bool) *server {
	s := &server{}
	timeout, connectTimeout := tc.Timeout, tc.ConnectTimeout
	tlsConf := tlsc.Config(host)
	if !resume {
		tlsConf.ClientSessionCache = nil // see Options.ResumeSessions
	}
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		raw, err := dialer.DialContext(ctx, network, a)
		if err != nil {
			return nil, &connectError{server: addr, err: err}
		}
		return newTimeoutConn(raw, timeout), nil
	}
	if proxy == nil {
		proxy = environmentProxy(addr)
	}
	t := &http.Transport{
		// Dialling and the handshake are done here so that their failures
		// are known for what they are: the request was never sent.
		DialTLSContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			conn, err := dial(ctx, network, a)
			if err != nil {
				return nil, err
			}
			hctx, cancel := context.WithTimeout(ctx, connectTimeout)
			defer cancel()
			tc := tls.Client(conn, tlsConf)
			if err := tc.HandshakeContext(hctx); err != nil {
				conn.Close()
				return nil, &connectError{server: addr, handshake: true, err: err}
			}
			diracrpc.TimingOf(ctx).Step(diracrpc.PhaseTLS)
			s.shook.Store(true)
			return newAlertConn(tc, &s.answered), nil
		},
		// Through a proxy, net/http dials the proxy with DialContext and
		// runs the handshake itself, inside the tunnel, with these.
		Proxy:               proxy,
		DialContext:         dial,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: connectTimeout,
		// HTTP/1.1 only, as Tornado: with DialTLSContext set and
		// ForceAttemptHTTP2 false, net/http never negotiates h2.
		ForceAttemptHTTP2:   false,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// No ResponseHeaderTimeout: the connection's read deadline (see
		// timeoutConn) already bounds the wait for the answer, as DIRAC's
		// per-operation timeout does, without a timer per call.
		ExpectContinueTimeout: 0,
	}
	hc := &http.Client{Transport: plainTransport{t}, CheckRedirect: noRedirect}
	s.transport, s.client, s.retry = t, hc, newRetryClient(hc)
	return s
}

// alertConn is the TLS connection net/http is given. With TLS 1.3 a server
// refusing our certificate says so after the handshake, with an alert and
// a close. net/http's reader gets the alert, but its writer may first meet
// the closed connection, and the call would then fail as a broken pipe or
// a closed connection (unreachable) rather than as the refusal it is. A write that fails so
// waits a moment for the reader's alert and reports it instead.
//
// It also looks at the first bytes the server sends: a DISET frame
// ("31:{...") instead of "HTTP/1.1 ..." is a DISET server's refusal of
// what it took for a proposal, reported as such (net/http would only find
// a malformed answer), and any byte marks the server as one that answers.
type alertConn struct {
	net.Conn
	alert   atomic.Pointer[error]
	alerted chan struct{}
	once    sync.Once
	// seen: a byte was read (only net/http's reader reads); answered is
	// the server's mark.
	seen     bool
	answered *atomic.Bool
}

// alertWait bounds a failed write's wait for the reader's alert: it comes
// with the close that broke the write, so it is read at once or not at all.
const alertWait = 100 * time.Millisecond

func newAlertConn(c net.Conn, answered *atomic.Bool) *alertConn {
	return &alertConn{Conn: c, alerted: make(chan struct{}), answered: answered}
}

func (c *alertConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && isHandshakeAlert(err) {
		c.alert.Store(&err)
		c.once.Do(func() { close(c.alerted) })
	}
	if n > 0 && !c.seen {
		c.seen = true
		c.answered.Store(true)
		if isFrameStart(p[:n]) {
			return 0, &disetAnswerError{answer: bytes.Clone(p[:min(n, 80)])}
		}
	}
	return n, err
}

// isFrameStart: b starts with a DISET frame's header, 1 to 9 digits and a
// colon, which no HTTP answer does.
func isFrameStart(b []byte) bool {
	i := bytes.IndexByte(b[:min(len(b), 10)], ':')
	if i < 1 {
		return false
	}
	for _, c := range b[:i] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// disetAnswerError: the server answered with a DISET frame.
type disetAnswerError struct{ answer []byte }

func (e *disetAnswerError) Error() string {
	return fmt.Sprintf("a DISET frame where an HTTP answer was expected: %q", e.answer)
}

func (c *alertConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	// net.ErrClosed: net/http's reader got the alert first and closed the
	// connection under the writer.
	if err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)) {
		t := time.NewTimer(alertWait)
		select {
		case <-c.alerted:
			err = *c.alert.Load()
		case <-t.C:
		}
		t.Stop()
	}
	return n, err
}

// environmentProxy is http.ProxyFromEnvironment for the server at addr,
// decided once: net/http reads the environment once per process, and its
// answer depends only on the scheme and host:port, the same for every
// request to one server. nil: no proxy.
func environmentProxy(addr string) func(*http.Request) (*url.URL, error) {
	u, err := http.ProxyFromEnvironment(&http.Request{URL: &url.URL{Scheme: "https", Host: addr}})
	switch {
	case err != nil:
		return http.ProxyFromEnvironment // each request fails with the error, as before
	case u == nil:
		return nil
	}
	return http.ProxyURL(u)
}

// timeoutConn gives every read and write DIRAC's per-operation timeout:
// the server must make progress within the timeout option (connect, each
// read of the answer, each write of the request), whatever the call's
// deadline. To spare a timer update per read and write, a deadline is moved
// on only once an eighth of the timeout has passed since it was set: each
// operation gets between 7/8 and all of the timeout.
//
// A write also moves the read deadline on: net/http keeps a read pending on
// a kept-alive connection from the moment it goes idle, and the answer to a
// request written later must get its own timeout, not what is left of one
// armed when the connection went idle.
type timeoutConn struct {
	net.Conn
	timeout time.Duration
	// base is the monotonic origin of the times below, which are taken with
	// time.Since (cheaper than time.Now).
	base time.Time
	// When the read and write deadlines were last set (ns since base, 0:
	// never); atomic: net/http reads and writes from two goroutines.
	readSet, writeSet atomic.Int64
}

func newTimeoutConn(c net.Conn, timeout time.Duration) *timeoutConn {
	// base is a little in the past so that no setting time is 0.
	return &timeoutConn{Conn: c, timeout: timeout, base: time.Now().Add(-time.Second)}
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	if err := c.arm(time.Since(c.base), true); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *timeoutConn) Write(b []byte) (int, error) {
	now := time.Since(c.base)
	if err := c.arm(now, false); err != nil {
		return 0, err
	}
	if err := c.arm(now, true); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// arm sets the read (or write) deadline timeout after now (since c.base),
// unless the one set last is less than timeout/8 old.
func (c *timeoutConn) arm(now time.Duration, read bool) error {
	set := &c.writeSet
	if read {
		set = &c.readSet
	}
	if last := set.Load(); last != 0 && int64(now)-last < int64(c.timeout/8) {
		return nil
	}
	set.Store(int64(now))
	if read {
		return c.Conn.SetReadDeadline(c.base.Add(now + c.timeout))
	}
	return c.Conn.SetWriteDeadline(c.base.Add(now + c.timeout))
}

// noRedirect: DIRAC services never redirect; a POST must not be re-sent elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// plainTransport hides CloseIdleConnections of the shared transport.
type plainTransport struct{ rt http.RoundTripper }

func (p plainTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return cancellable(r, p.rt)
}

// cancellable runs one round trip and, if the caller cancelled it meanwhile,
// reports a failure as the cancellation: net/http can return an error that
// does not say so (a closed connection), or the 5xx answer the server sent
// because the connection closed (a response may race the cancellation and
// win). Neither says anything about the server's health, and the breaker
// must not count them.
func cancellable(req *http.Request, rt http.RoundTripper) (*http.Response, error) {
	resp, err := rt.RoundTrip(req)
	cerr := req.Context().Err()
	if !errors.Is(cerr, context.Canceled) || (err == nil && resp.StatusCode < 500) {
		return resp, err
	}
	if err == nil {
		resp.Body.Close()
		return nil, fmt.Errorf("httpsclient: %s after the call was cancelled: %w", resp.Status, cerr)
	}
	if !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w (%w)", err, cerr)
	}
	return nil, err
}
