package faults

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpCase is one fault and what the HTTP client and the service saw.
type httpCase struct {
	fault    Fault
	executed int64
	check    func(t *testing.T, resp *http.Response, body string, err error)
}

func httpCases() []httpCase {
	failed := func(t *testing.T, _ *http.Response, _ string, err error) {
		require.Error(t, err)
	}
	return []httpCase{
		{Fault{Kind: DropBeforeRequest}, 0, failed},
		{Fault{Kind: DropAfterRequest}, 1, failed},
		{Fault{Kind: ResetMidFrame}, 1, failed},
		{Fault{Kind: Garbage}, 1, failed},
		{Fault{Kind: DelayAnswer}, 1, func(t *testing.T, _ *http.Response, _ string, err error) {
			require.Error(t, err)
			assert.True(t, os.IsTimeout(err) || errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "Timeout"), "%v", err)
		}},
		{Fault{Kind: DelayAnswer, Delay: 20 * time.Millisecond}, 1, func(t *testing.T, resp *http.Response, body string, err error) {
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, `{"OK": true, "Value": "METHOD=PING"}`, body)
		}},
		{Fault{Kind: HTTPStatus, RetryAfter: "1"}, 0, func(t *testing.T, resp *http.Response, _ string, err error) {
			require.NoError(t, err)
			assert.Equal(t, 503, resp.StatusCode)
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		}},
		{Fault{Kind: HTTPStatus, Status: 502, Forward: true}, 1, func(t *testing.T, resp *http.Response, _ string, err error) {
			require.NoError(t, err)
			assert.Equal(t, 502, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Retry-After"))
		}},
	}
}

func post(t *testing.T, c *http.Client, url string) (*http.Response, string, error) {
	resp, err := c.Post(url, "application/x-www-form-urlencoded", strings.NewReader("method=ping"))
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestProxyHTTPFaults(t *testing.T) {
	for _, tc := range httpCases() {
		t.Run(tc.fault.Kind.String(), func(t *testing.T) {
			b := startHTTP(t, nil)
			plan := NewPlan(1).Add(Nth(2), tc.fault)
			p := startProxy(t, ProxyConfig{Target: strings.TrimPrefix(b.URL, "http://"), Protocol: HTTP, Plan: plan})
			c := httpClient(t, clientTimeout(tc.fault))
			url := "http://" + p.Addr() + "/Test/Svc"
			// Call 1 passes and leaves a kept-alive connection: call 2
			// (the faulty one) is the second request on it.
			resp, body, err := post(t, c, url)
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode, body)
			resp, body, err = post(t, c, url)
			tc.check(t, resp, body, err)
			s := p.Stats()
			assert.EqualValues(t, 2, s.Requests)
			assert.EqualValues(t, map[Kind]int64{tc.fault.Kind: 1}, s.Faults)
			assert.EqualValues(t, 1+tc.executed, b.executed.Load())
			assert.EqualValues(t, 1+tc.executed, s.Forwarded)
			assert.EqualValues(t, 1, s.Conns, "call 2 reused the connection")
		})
	}
}

func TestMiddlewareFaults(t *testing.T) {
	for _, tc := range httpCases() {
		t.Run(tc.fault.Kind.String(), func(t *testing.T) {
			plan := NewPlan(1).Add(Nth(1), tc.fault)
			var mw *Middleware
			b := startHTTP(t, func(h http.Handler) http.Handler {
				mw = HTTPMiddleware(plan, h)
				return mw
			})
			c := httpClient(t, clientTimeout(tc.fault))
			resp, body, err := post(t, c, b.URL+"/Test/Svc")
			tc.check(t, resp, body, err)
			assert.EqualValues(t, tc.executed, b.executed.Load())
			resp, body, err = post(t, c, b.URL+"/Test/Svc")
			require.NoError(t, err)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, `{"OK": true, "Value": "METHOD=PING"}`, body)
			s := mw.Stats()
			assert.EqualValues(t, 2, s.Requests)
			assert.EqualValues(t, 1+tc.executed, s.Forwarded)
			assert.EqualValues(t, map[Kind]int64{tc.fault.Kind: 1}, s.Faults)
		})
	}
}

func TestMiddlewareBodyLimit(t *testing.T) {
	var mw *Middleware
	b := startHTTP(t, func(h http.Handler) http.Handler {
		mw = HTTPMiddleware(nil, h)
		mw.MaxBody = 4
		return mw
	})
	resp, _, err := post(t, httpClient(t, time.Second), b.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, b.executed.Load())
	assert.Zero(t, mw.Stats().Requests)
}

var _ http.Handler = (*Middleware)(nil)
