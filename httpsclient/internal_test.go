package httpsclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// TestNoCloseIdleForRetryablehttp: go-retryablehttp closes the client's idle
// connections when it gives up; the client it drives must not expose them.
func TestNoCloseIdleForRetryablehttp(t *testing.T) {
	tlsc, err := credentials.NewClientTLS(credentials.ClientTLSOptions{SkipCACheck: true})
	require.NoError(t, err)
	for _, disabled := range []bool{false, true} {
		s := newServer("h:1", "h", tlsc, &Config{Breaker: BreakerSettings{Disabled: disabled}}, nil)
		_, ok := s.client.Transport.(interface{ CloseIdleConnections() })
		assert.False(t, ok, "breaker disabled=%v", disabled)
	}
}

func TestForm(t *testing.T) {
	c := &Client{}
	c.cfg.VO, c.cfg.Setup, c.cfg.ExtraCredentials = "lhcb", "Production", "hosts"
	require.NoError(t, c.buildTail())
	b, err := c.Form("echo", []any{"a b/\u00e9"}, false)
	require.NoError(t, err)
	// PROTOCOL.md §5.2's example, produced by Python's urlencode.
	assert.Equal(t, `method=echo&args=%5B%22a+b%2F%5Cu00e9%22%5D&extraCredentials=%22hosts%22&clientVO=lhcb&clientSetup=Production`, string(b))
	c.cfg.ExtraCredentials = nil
	require.NoError(t, c.buildTail())
	b, err = c.Form("streamToClient", []any{"SB:x", ""}, true)
	require.NoError(t, err)
	assert.Equal(t, `method=streamToClient&args=%5B%22SB%3Ax%22%2C+%22%22%5D&clientVO=lhcb&clientSetup=Production&rawContent=True`, string(b))
	b, err = c.Form("ping", nil, false)
	require.NoError(t, err)
	assert.Equal(t, `method=ping&args=%5B%5D&clientVO=lhcb&clientSetup=Production`, string(b))
}

func TestCheckRetryPolicy(t *testing.T) {
	rs := RetrySettings{}.withDefaults()
	resp := func(code int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	ctxWith := func(idem bool) context.Context {
		return context.WithValue(context.Background(), attemptKey{}, &attemptState{idempotent: idem, retry: rs})
	}
	cases := []struct {
		name string
		resp *http.Response
		err  error
		idem bool
		want bool
	}{
		{"dial timeout", nil, &ConnectError{Err: context.DeadlineExceeded}, false, false}, // failover moves on instead
		{"connect error", nil, &ConnectError{Err: errTest}, false, true},
		{"certificate", nil, &ConnectError{Err: &credentials.VerifyError{}}, false, false},
		{"circuit open", nil, &CircuitOpenError{Err: errTest}, false, false},
		{"after send", nil, errTest, false, false},
		{"handshake refused by the server", nil, &net.OpError{Op: "remote error", Err: errTest}, false, false},
		{"after send idempotent", nil, errTest, true, true},
		{"500", resp(500, ""), nil, true, false},
		{"503", resp(503, ""), nil, false, false},
		{"503 idempotent", resp(503, ""), nil, true, true},
		{"503 retry-after", resp(503, "1"), nil, false, true},
		{"504 retry-after too long", resp(504, "3600"), nil, false, false},
		{"200", resp(200, ""), nil, true, false},
		{"401", resp(401, ""), nil, true, false},
	}
	for _, tc := range cases {
		got, err := checkRetry(ctxWith(tc.idem), tc.resp, tc.err)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.name)
	}
	// No time left before the deadline: no retry.
	ctx, cancel := context.WithTimeout(ctxWith(true), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	got, _ := checkRetry(ctx, nil, errTest)
	assert.False(t, got)
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
