package httpsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// server is everything a Client keeps per server (host:port): one
// keep-alive connection pool shared by all calls and one circuit breaker.
type server struct {
	addr      string
	transport *http.Transport
	// client is what go-retryablehttp drives. Its transport (the breaker)
	// has no CloseIdleConnections, so retryablehttp giving up cannot close
	// the connections other calls are using.
	client  *http.Client
	breaker *gobreaker.CircuitBreaker[*http.Response] // nil when disabled
}

func newServer(addr, host string, tlsc *credentials.ClientTLS, cfg *Config, log *slog.Logger) *server {
	timeout := cfg.timeout()
	tlsConf := tlsc.Config(host)
	connectTimeout := cfg.connectTimeout()
	dialer := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	s := &server{addr: addr}
	dial := func(ctx context.Context, network, a string) (net.Conn, error) {
		raw, err := dialer.DialContext(ctx, network, a)
		if err != nil {
			return nil, &ConnectError{Server: addr, Err: err}
		}
		return &timeoutConn{Conn: raw, timeout: timeout}, nil
	}
	proxy := cfg.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment
	}
	s.transport = &http.Transport{
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
				return nil, &ConnectError{Server: addr, Err: err}
			}
			return tc, nil
		},
		// Through a proxy, net/http dials the proxy with DialContext and
		// runs the handshake itself, inside the tunnel, with these.
		Proxy:               proxy,
		DialContext:         dial,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: connectTimeout,
		// HTTP/1.1 only, as Tornado: with DialTLSContext set and
		// ForceAttemptHTTP2 false, net/http never negotiates h2.
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: 0,
	}
	// Never hand retryablehttp something with CloseIdleConnections.
	var rt http.RoundTripper = plainTransport{s.transport}
	if b := cfg.Breaker; !b.Disabled {
		b = b.withDefaults()
		st := gobreaker.Settings{
			Name:        addr,
			MaxRequests: b.HalfOpenRequests,
			Interval:    b.Interval,
			Timeout:     b.OpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.ConsecutiveFailures },
			OnStateChange: func(name string, from, to gobreaker.State) {
				log.Warn("httpsclient: circuit breaker state change", "server", name, "from", from.String(), "to", to.String())
				if b.OnStateChange != nil {
					b.OnStateChange(name, from.String(), to.String())
				}
			},
			// Only failures of the server count: not S_ERROR answers (never
			// seen here, they are 200s), not 4xx, not the caller cancelling.
			IsSuccessful: func(err error) bool { return err == nil },
			IsExcluded:   func(err error) bool { return errors.Is(err, context.Canceled) },
		}
		s.breaker = gobreaker.NewCircuitBreaker[*http.Response](st)
		rt = breakerTransport{s: s}
	}
	s.client = &http.Client{Transport: rt, CheckRedirect: noRedirect}
	return s
}

// timeoutConn gives every read and write DIRAC's per-operation timeout:
// the server must make progress within Config.Timeout (connect, each read of
// the answer, each write of the request), whatever the call's deadline.
type timeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *timeoutConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
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

// serverFailure tells the breaker that a response is a failure of the server
// while the response itself still goes back to the caller.
type serverFailure struct{ code int }

func (e serverFailure) Error() string { return http.StatusText(e.code) }

// breakerTransport runs every round trip (every attempt, retries included)
// through the server's breaker. It deliberately has no CloseIdleConnections.
type breakerTransport struct{ s *server }

func (b breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.s.breaker.Execute(func() (*http.Response, error) {
		resp, err := cancellable(req, b.s.transport)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented {
			return resp, serverFailure{resp.StatusCode}
		}
		return resp, nil
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, &CircuitOpenError{Server: b.s.addr, Err: err}
	}
	var sf serverFailure
	if errors.As(err, &sf) {
		return resp, nil
	}
	return resp, err
}
