package httpsclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// TestNoCloseIdleForRetryablehttp: go-retryablehttp closes the client's idle
// connections when it gives up; the client it drives must not expose them.
func TestNoCloseIdleForRetryablehttp(t *testing.T) {
	tlsc, err := credentials.NewClientTLS(credentials.ClientTLSOptions{SkipCACheck: true})
	require.NoError(t, err)
	s := newServer("h:1", "h", tlsc, &diracrpc.TransportConfig{Timeout: time.Minute, ConnectTimeout: time.Second}, nil, false)
	_, ok := s.client.Transport.(interface{ CloseIdleConnections() })
	assert.False(t, ok)
}

func TestForm(t *testing.T) {
	tr := &transport{}
	var err error
	tr.tail, err = formTail("hosts", "lhcb", "Production")
	require.NoError(t, err)
	b, err := tr.form("echo", []any{"a b/\u00e9"}, false)
	require.NoError(t, err)
	// PROTOCOL.md §5.2's example, produced by Python's urlencode.
	assert.Equal(t, `method=echo&args=%5B%22a+b%2F%5Cu00e9%22%5D&extraCredentials=%22hosts%22&clientVO=lhcb&clientSetup=Production`, string(b))
	tr.tail, err = formTail("", "lhcb", "Production")
	require.NoError(t, err)
	b, err = tr.form("streamToClient", []any{"SB:x", ""}, true)
	require.NoError(t, err)
	assert.Equal(t, `method=streamToClient&args=%5B%22SB%3Ax%22%2C+%22%22%5D&clientVO=lhcb&clientSetup=Production&rawContent=True`, string(b))
	b, err = tr.form("ping", nil, false)
	require.NoError(t, err)
	assert.Equal(t, `method=ping&args=%5B%5D&clientVO=lhcb&clientSetup=Production`, string(b))
	tr.tail, err = formTail([]any{"/DC=x/CN=u", "g"}, "lhcb", "Production")
	require.NoError(t, err)
	b, err = tr.form("ping", nil, false)
	require.NoError(t, err)
	assert.Equal(t, `method=ping&args=%5B%5D&extraCredentials=%5B%22%2FDC%3Dx%2FCN%3Du%22%2C+%22g%22%5D&clientVO=lhcb&clientSetup=Production`, string(b))
}

// TestCheckRetryPolicy: go-retryablehttp retries nothing but what HTTP
// defines (the positive case, which spends the call's budget, is in
// TestRetry503); everything else goes back to the client's loop.
func TestCheckRetryPolicy(t *testing.T) {
	resp := func(code int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	ctx := context.WithValue(context.Background(), attemptKey{},
		&attemptState{attempt: &diracrpc.Attempt{}, maxRetryAfter: DefaultMaxRetryAfter})
	cases := []struct {
		name string
		resp *http.Response
		err  error
	}{
		{"connect error", nil, &connectError{err: errTest}},
		{"after send", nil, errTest},
		{"handshake refused by the server", nil, &net.OpError{Op: "remote error", Err: errTest}},
		{"500", resp(500, ""), nil},
		{"503 without Retry-After", resp(503, ""), nil},
		{"503 with Retry-After, no budget", resp(503, "1"), nil},
		{"504 retry-after too long", resp(504, "3600"), nil},
		{"200", resp(200, ""), nil},
		{"401", resp(401, ""), nil},
	}
	for _, tc := range cases {
		got, err := checkRetry(ctx, tc.resp, tc.err)
		require.NoError(t, err)
		assert.False(t, got, tc.name)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "test" }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// A response or error that races the caller's cancellation (seen under load:
// the server answers 500 because the connection closed, and net/http hands
// that answer back) must come out as the cancellation, so that the breaker
// does not count it and the caller sees context.Canceled.
func TestCancellableReportsTheCancellation(t *testing.T) {
	//lint:ignore ST1008 the tracker comes last: it is what the checks look at after the outcome
	run := func(cancelFirst bool, status int, rtErr error) (*http.Response, error, *closeTracker) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://h:1/S/C", nil)
		require.NoError(t, err)
		body := &closeTracker{Reader: strings.NewReader("page")}
		resp, err := cancellable(req, roundTripFunc(func(*http.Request) (*http.Response, error) {
			if cancelFirst {
				cancel()
			}
			if rtErr != nil {
				return nil, rtErr
			}
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Body: body}, nil
		}))
		return resp, err, body
	}
	resp, err, body := run(true, 500, nil)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, body.closed, "the discarded answer's body is closed")

	_, err, _ = run(true, 0, errors.New("use of closed network connection"))
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "closed network connection")

	resp, err, _ = run(true, 200, nil)
	require.NoError(t, err, "a real answer is kept even if the caller has gone")
	assert.Equal(t, 200, resp.StatusCode)

	resp, err, _ = run(false, 500, nil)
	require.NoError(t, err, "without a cancellation a 500 is the server's")
	assert.Equal(t, 500, resp.StatusCode)
}

// deadlineConn records the deadlines timeoutConn sets.
type deadlineConn struct {
	net.Conn    // nil: only what timeoutConn calls is implemented
	read, write time.Time
}

func (c *deadlineConn) Read([]byte) (int, error)           { return 0, nil }
func (c *deadlineConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *deadlineConn) SetReadDeadline(t time.Time) error  { c.read = t; return nil }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.write = t; return nil }

// The answer to a request gets the whole timeout from the moment the
// request is written, also on a connection that was idle with a read
// pending (net/http's) whose deadline was set when it went idle.
func TestTimeoutConnArmsTheAnswerOnWrite(t *testing.T) {
	const timeout = time.Hour
	raw := &deadlineConn{}
	c := newTimeoutConn(raw, timeout)
	_, _ = c.Read(nil) // net/http's pending read on the idle connection
	// ... which went idle a quarter of the timeout ago.
	c.readSet.Add(-int64(timeout / 4))
	raw.read = raw.read.Add(-timeout / 4)

	sent := time.Now()
	_, err := c.Write([]byte("POST"))
	require.NoError(t, err)
	assert.False(t, raw.write.Before(sent.Add(timeout)))
	assert.False(t, raw.read.Before(sent.Add(timeout)), "the answer's deadline was not moved on by the request")

	// Operations soon after leave the deadlines alone (no timer update each).
	r, w := raw.read, raw.write
	_, _ = c.Read(nil)
	_, _ = c.Write(nil)
	assert.Equal(t, r, raw.read)
	assert.Equal(t, w, raw.write)
}

// FuzzQueryEscape: the form's escaping, done in place, is Python's
// quote_plus, which is Go's url.QueryEscape, whatever precedes it in the
// buffer. Seeds: testdata/fuzz/FuzzQueryEscape.
func FuzzQueryEscape(f *testing.F) {
	f.Fuzz(func(t *testing.T, prefix, s []byte) {
		got := appendQueryEscape(slices.Clip(prefix), s)
		want := string(prefix) + url.QueryEscape(string(s))
		if string(got) != want {
			t.Fatalf("appendQueryEscape(%q, %q) = %q, want %q", prefix, s, got, want)
		}
	})
}

// The environment's proxy is decided once per server, as
// http.ProxyFromEnvironment would decide for each request. net/http reads
// the environment once per process: a child process runs the checks with
// a proxy in its environment.
func TestEnvironmentProxy(t *testing.T) {
	child := os.Getenv("HTTPSCLIENT_PROXY_CHILD") != ""
	if !child {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestEnvironmentProxy$", "-test.v")
		cmd.Env = append(os.Environ(), "HTTPSCLIENT_PROXY_CHILD=1", "HTTPS_PROXY=http://proxy.example:3128",
			"NO_PROXY=excluded.example.org")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "--- PASS: TestEnvironmentProxy", "%s", out)
	}
	for _, addr := range []string{"127.0.0.1:9443", "dirac.example.org:9443", "excluded.example.org:9443"} {
		req := &http.Request{URL: &url.URL{Scheme: "https", Host: addr, Path: "/Framework/Foo"}}
		want, wantErr := http.ProxyFromEnvironment(req)
		var got *url.URL
		var err error
		if p := environmentProxy(addr); p != nil {
			got, err = p(req)
		}
		assert.Equal(t, want, got, addr)
		assert.Equal(t, wantErr, err, addr)
		if child && addr == "dirac.example.org:9443" {
			assert.Equal(t, "http://proxy.example:3128", got.String(), "the child's environment names a proxy")
		}
	}
}

// An answer arriving as the caller's context ends ends the call with the
// context: seen under load, net/http hands over an answer it read while it
// closed the connection, the server's handler having been cut short by that
// close (answering 200 with nothing, or a result: TestDeadlineHTTPS in
// internal/testkit/reliability, 2 runs in 60 under load).
func TestNoResultAfterTheContextEnded(t *testing.T) {
	const u = "https://h:1/S/C"
	for _, c := range []struct {
		deadline bool
		body     string
	}{{true, ""}, {false, ""}, {true, `{"OK": true, "Value": "unblocked"}`}, {false, `{"OK": true, "Value": "unblocked"}`}} {
		deadline := c.deadline
		tr := &transport{opts: Options{}.withDefaults(), targets: map[string]*target{}}
		tr.formHeader = tr.header(formContentType, "")
		var err error
		tr.tail, err = formTail("", "vo", "setup")
		require.NoError(t, err)
		tmpl, err := http.NewRequest(http.MethodPost, u, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		if deadline {
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
		}
		defer cancel()
		hc := &http.Client{CheckRedirect: noRedirect, Transport: plainTransport{roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if !deadline {
				cancel()
			}
			<-r.Context().Done()
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(c.body)), Request: r}, nil
		})}}
		srv := &server{client: hc, retry: newRetryClient(hc)}
		// A server that completed the handshake and had never answered:
		// the answer to the close does not count, a timeout gets the hint.
		srv.shook.Store(true)
		tr.targets[u] = &target{srv: srv, tmpl: tmpl}
		res, err := tr.Attempt(ctx, &diracrpc.Attempt{URL: u, Method: "ping"})
		assert.Nil(t, res)
		want, code := context.Canceled, diracrpc.CodeCanceled
		if deadline {
			want, code = context.DeadlineExceeded, diracrpc.CodeTimeout
		}
		assert.ErrorIs(t, err, want)
		assert.Equal(t, code, diracrpc.CodeOf(err))
		assert.True(t, diracrpc.Reached(err))
		var wpe *diracrpc.WrongProtocolError
		assert.Equal(t, deadline, errors.As(err, &wpe), "the silent-server hint, for a timeout only: %v", err)
	}

	// With the context alive, it is the protocol error it is.
	tr := &transport{opts: Options{}.withDefaults(), targets: map[string]*target{}}
	tr.formHeader = tr.header(formContentType, "")
	tmpl, err := http.NewRequest(http.MethodPost, u, nil)
	require.NoError(t, err)
	hc := &http.Client{Transport: plainTransport{roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})}}
	tr.targets[u] = &target{srv: &server{client: hc, retry: newRetryClient(hc)}, tmpl: tmpl}
	_, err = tr.Attempt(context.Background(), &diracrpc.Attempt{URL: u, Method: "ping"})
	assert.ErrorIs(t, err, diracrpc.ErrProtocol)
	assert.Equal(t, diracrpc.CodeProtocol, diracrpc.CodeOf(err))
}

// TestFormIsKnownInMemory: net/http sends a request's headers and body in
// one write only when it knows the body is in memory (*bytes.Reader and a
// few others); a wrapper around the form cost one more write and about 10%
// of a call's CPU (BenchmarkCall, cpu-ratio 1.11 → 1.21).
func TestFormIsKnownInMemory(t *testing.T) {
	st := &attemptState{form: []byte("method=ping")}
	for range 3 {
		r, err := st.reader()
		assert.NoError(t, err)
		assert.IsType(t, &bytes.Reader{}, r)
	}
}
