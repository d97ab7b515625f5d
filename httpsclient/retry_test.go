package httpsclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
)

const okBody = `{"OK": true, "Value": 5}`

// dropper counts the calls that reached it; the first `drops` of them have
// their connection dropped after the whole request was read.
func dropper(t *testing.T, drops int64, runs *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if n := runs.Add(1); n <= drops {
			conn, _, err := http.NewResponseController(w).Hijack()
			if !assert.NoError(t, err) {
				return
			}
			conn.Close()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, okBody)
	}
}

// TestDroppedAfterSendRunsOnce: the connection drops after the request
// reached the service. A method that is not idempotent must not be sent
// again; an idempotent one is, and its retry's outcome is returned.
func TestDroppedAfterSendRunsOnce(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	base := e.startRaw(t, dropper(t, 1, &runs))
	c := e.client(t, base+"/"+svcName, diracrpc.Options{})
	_, err := c.Call(ctxT(t), "add", 1, 2)
	require.Error(t, err)
	assert.True(t, diracrpc.Reached(err))
	assert.EqualValues(t, 1, runs.Load(), "a non-idempotent call ran more than once")

	runs.Store(0)
	res, err := c.Call(diracrpc.WithIdempotent(ctxT(t)), "add", 1, 2)
	require.NoError(t, err, "the retry's own outcome is returned")
	assert.Equal(t, int64(5), res.Value)
	assert.EqualValues(t, 2, runs.Load())

	runs.Store(0)
	c2 := e.client(t, base+"/"+svcName, diracrpc.Options{Idempotent: []string{"add"}})
	_, err = c2.Call(ctxT(t), "add", 1, 2)
	require.NoError(t, err)
	assert.EqualValues(t, 2, runs.Load())
}

// flakyListener closes the first n accepted connections before the TLS
// handshake: the request never reaches the server, so it is retried.
type flakyListener struct {
	net.Listener
	n atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.n.Add(-1) < 0 {
			return c, err
		}
		c.Close()
	}
}

func TestRetryWhenNotSent(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fl := &flakyListener{Listener: l}
	fl.n.Store(2)
	base := e.serveRaw(t, fl, dropper(t, 0, &runs))
	c := e.client(t, base+"/"+svcName, diracrpc.Options{})
	res, err := c.Call(ctxT(t), "add", 2, 3)
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.Value)
	assert.EqualValues(t, 1, runs.Load())
}

func TestRetry503(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	retryAfter := "0"
	var mu sync.Mutex
	var bodies []string
	base := e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		if runs.Add(1) == 1 {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, okBody)
	}))
	c := e.client(t, base+"/"+svcName, diracrpc.Options{})
	res, err := c.Call(ctxT(t), "add", 2, 3)
	require.NoError(t, err, "503 with Retry-After is retried")
	assert.Equal(t, int64(5), res.Value)
	assert.EqualValues(t, 2, runs.Load())
	mu.Lock()
	if assert.Len(t, bodies, 2) {
		assert.True(t, strings.HasPrefix(bodies[0], "method=add&args=%5B2%2C+3%5D&clientVO="), bodies[0])
		assert.Equal(t, bodies[0], bodies[1], "the retry sends the whole form again")
	}
	mu.Unlock()

	// Without Retry-After a non-idempotent call is not retried, and the
	// status is kept.
	runs.Store(0)
	retryAfter = ""
	_, err = c.Call(ctxT(t), "add", 2, 3)
	require.ErrorIs(t, err, diracrpc.ErrUnavailable)
	assert.True(t, diracrpc.Reached(err), "without Retry-After the 503 may come after the service ran")
	assert.Contains(t, err.Error(), "503")
	assert.EqualValues(t, 1, runs.Load())

	// Retry-After longer than the caller's deadline: no wait, the 503 is returned.
	runs.Store(0)
	retryAfter = "5"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Call(ctx, "add", 2, 3)
	var te *diracrpc.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, diracrpc.CodeUnavailable, te.Code)
	assert.Equal(t, 5*time.Second, te.RetryAfter)
	assert.False(t, te.Reached)
	assert.EqualValues(t, 1, runs.Load(), "the URL is not called again before its Retry-After")
}

// TestRetriesExhaustedKeepLastAnswer: an idempotent call answered 502 every
// time ends with the last 502 (retryablehttp would drop it), and the
// shared connections survive (retryablehttp would close them).
func TestRetriesExhaustedKeepLastAnswer(t *testing.T) {
	e := newEnv(t)
	var runs, conns atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srvURL := e.serveRaw(t, &countingListener{Listener: l, n: &conns}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		runs.Add(1)
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	c := e.client(t, srvURL+"/"+svcName, diracrpc.Options{Idempotent: []string{"ping"}, Attempts: 3, Breaker: diracrpc.BreakerSettings{Disabled: true}})
	_, err = c.Call(ctxT(t), "ping")
	require.ErrorIs(t, err, diracrpc.ErrUnavailable)
	require.ErrorIs(t, err, diracrpc.ErrNoURL)
	assert.Contains(t, err.Error(), "502")
	assert.Contains(t, err.Error(), "bad gateway")
	assert.EqualValues(t, 3, runs.Load())
	assert.LessOrEqual(t, conns.Load(), int64(3))
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	var healthy atomic.Bool
	base := e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		runs.Add(1)
		if !healthy.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{"OK": false, "Errno": 0, "Message": "S_ERROR does not count"}`)
	}))
	var changes atomic.Int64
	c := e.client(t, base+"/"+svcName, diracrpc.Options{Breaker: diracrpc.BreakerSettings{
		ConsecutiveFailures: 2, OpenTimeout: 50 * time.Millisecond,
		OnStateChange: func(string, string, string) { changes.Add(1) }}})
	ctx := ctxT(t)
	for range 2 {
		_, err := c.Call(ctx, "add", 1, 1)
		require.ErrorIs(t, err, diracrpc.ErrServerFailure)
	}
	_, err := c.Call(ctx, "add", 1, 1)
	require.ErrorIs(t, err, diracrpc.ErrCircuitOpen)
	assert.EqualValues(t, 2, runs.Load(), "an open breaker sends nothing")

	// (That the caller's own cancellation never counts is
	// TestCancellationDoesNotTrip.)
	healthy.Store(true)
	require.Eventually(t, func() bool {
		_, err := c.Call(ctx, "add", 1, 1)
		return !errorsIsOpen(err)
	}, 10*time.Second, 10*time.Millisecond, "half-open probe closes the breaker")
	// S_ERROR answers do not open it again.
	for range 5 {
		_, err := c.Call(ctx, "add", 1, 1)
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de)
	}
	assert.EqualValues(t, 3, changes.Load(), "closed->open->half-open->closed")
}

func errorsIsOpen(err error) bool { return err != nil && isOpen(err) }

func isOpen(err error) bool { return errors.Is(err, diracrpc.ErrCircuitOpen) }

func TestCancellationDoesNotTrip(t *testing.T) {
	e := newEnv(t)
	svc := newSleepy(t, e)
	_, url := e.startGo(t, server.HTTPSConfig{}, svc.svc)
	c := e.client(t, url, diracrpc.Options{Breaker: diracrpc.BreakerSettings{ConsecutiveFailures: 1}})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-svc.started; cancel() }()
		_, err := c.Call(ctx, "block")
		require.ErrorIs(t, err, context.Canceled)
		cancel()
	}
	_, err := c.Call(ctxT(t), "ping")
	require.NoError(t, err)
}

type sleepy struct {
	svc     *server.Service
	started chan struct{}
}

func newSleepy(t *testing.T, e *env) *sleepy {
	s := &sleepy{svc: server.NewService(svcName), started: make(chan struct{}, 8)}
	s.svc.Registry = e.reg
	s.svc.DefaultAuth = []string{"all"}
	s.svc.HandleFunc("block", func(ctx context.Context, _ *server.Request) (any, error) {
		s.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	return s
}

func TestFailover(t *testing.T) {
	e := newEnv(t)
	_, good := e.startGo(t, server.HTTPSConfig{})
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := l.Addr().String()
	l.Close()
	dead := "https://" + deadAddr + "/" + svcName
	c := e.clientURLs(t, []string{dead, good}, diracrpc.Options{Attempts: 2})
	for range 4 {
		res, err := c.Call(ctxT(t), "add", 1, 2)
		require.NoError(t, err)
		assert.Equal(t, good, res.URL)
	}

	// Every URL down: ErrNoURL, with the last error inside.
	c = e.clientURLs(t, []string{dead}, diracrpc.Options{FailoverURLs: []string{"https://" + deadAddr + "/" + svcName + "x"}, Attempts: 2})
	_, err = c.Call(ctxT(t), "add", 1, 2)
	require.ErrorIs(t, err, diracrpc.ErrNoURL)
	assert.Equal(t, diracrpc.CodeUnreachable, diracrpc.CodeOf(err))
	assert.False(t, diracrpc.Reached(err))
}

// TestOpenBreakerMovesToNextURL: a server whose breaker is open is skipped.
func TestOpenBreakerMovesToNextURL(t *testing.T) {
	e := newEnv(t)
	var badRuns atomic.Int64
	bad := e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		badRuns.Add(1)
		http.Error(w, "boom", http.StatusInternalServerError)
	})) + "/" + svcName
	_, good := e.startGo(t, server.HTTPSConfig{})
	c := e.clientURLs(t, []string{bad}, diracrpc.Options{FailoverURLs: []string{good}, Breaker: diracrpc.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Hour}})
	_, err := c.Call(ctxT(t), "add", 1, 2) // 500 from bad: not retried (not idempotent)
	require.ErrorIs(t, err, diracrpc.ErrServerFailure)
	res, err := c.Call(ctxT(t), "add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, good, res.URL)
	assert.EqualValues(t, 1, badRuns.Load())
}

// Answers are read whole, and their connection kept alive, whether their
// length is announced or not; an answer cut short is a lost connection
// after the call was sent.
func TestAnswersKeepTheConnection(t *testing.T) {
	e := newEnv(t)
	var conns atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := e.serveRaw(t, &countingListener{Listener: l, n: &conns}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		switch r.PostForm.Get("method") {
		case "sized":
			w.Header().Set("Content-Length", strconv.Itoa(len(okBody)))
			io.WriteString(w, okBody)
		case "chunked":
			io.WriteString(w, okBody[:10])
			w.(http.Flusher).Flush()
			io.WriteString(w, okBody[10:])
		case "empty":
			w.Header().Set("Content-Length", "0")
		case "cut":
			w.Header().Set("Content-Length", strconv.Itoa(len(okBody)+10))
			io.WriteString(w, okBody)
		}
	}))
	c := e.client(t, base+"/"+svcName, diracrpc.Options{})
	for range 3 {
		for _, m := range []string{"sized", "chunked"} {
			res, err := c.Call(ctxT(t), m)
			require.NoError(t, err, m)
			assert.Equal(t, int64(5), res.Value)
			assert.Equal(t, okBody, string(res.Raw))
		}
	}
	assert.EqualValues(t, 1, conns.Load(), "one connection, kept alive")

	_, err = c.Call(ctxT(t), "empty")
	require.ErrorIs(t, err, diracrpc.ErrProtocol, "an empty answer is no result")
	_, err = c.Call(ctxT(t), "cut")
	require.ErrorIs(t, err, diracrpc.ErrUnreachable)
	assert.True(t, diracrpc.Reached(err))
}
