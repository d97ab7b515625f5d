package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// budgetEnv is a plain-HTTP server whose "hold" method keeps its call (and
// so its body's share of MaxBufferedBytes) until release is closed.
type budgetEnv struct {
	h        *HTTPS
	addr     string
	entered  chan struct{}
	release  chan struct{}
	released bool
}

func startBudget(t *testing.T, cfg HTTPSConfig) *budgetEnv {
	t.Helper()
	e := &budgetEnv{entered: make(chan struct{}, 8), release: make(chan struct{})}
	svc := NewService("Framework/Big")
	svc.DefaultAuth = []string{"all"}
	svc.Logger = quiet
	svc.HandleFunc("hold", func(ctx context.Context, r *Request) (any, error) {
		e.entered <- struct{}{}
		select {
		case <-e.release:
		case <-ctx.Done():
		}
		return int64(len(r.Args[0].(string))), nil
	})
	cfg.AllowAnonymous, cfg.Logger = true, quiet
	e.h = NewHTTPS(cfg, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.addr = l.Addr().String()
	go func() { _ = e.h.Serve(l) }()
	t.Cleanup(func() {
		e.free()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.h.Shutdown(ctx)
	})
	return e
}

func (e *budgetEnv) free() {
	if !e.released {
		e.released = true
		close(e.release)
	}
}

// holdBody is a form calling hold with a string of n bytes.
func holdBody(n int) string {
	return "method=hold&args=" + url.QueryEscape(`["`+strings.Repeat("x", n)+`"]`)
}

type budgetAnswer struct {
	code int
	err  error
}

func (e *budgetEnv) post(c *http.Client, body string) budgetAnswer {
	resp, err := c.Post("http://"+e.addr+"/Framework/Big", formType, strings.NewReader(body))
	if err != nil {
		return budgetAnswer{err: err}
	}
	resp.Body.Close()
	return budgetAnswer{code: resp.StatusCode}
}

// TestHTTPSLargeBodiesWaitForMemory: bodies that do not fit in
// MaxBufferedBytes together (three of 0.7 MiB in 1 MiB, as three of 40 MB
// in the default 100 MiB) wait for each other and are all served, as
// Tornado serves them, instead of being refused.
func TestHTTPSLargeBodiesWaitForMemory(t *testing.T) {
	e := startBudget(t, HTTPSConfig{MaxBodyBytes: 1 << 20})
	c := &http.Client{Timeout: 20 * time.Second}
	body := holdBody(700 << 10)
	answers := make(chan budgetAnswer, 3)
	go func() { answers <- e.post(c, body) }()
	<-e.entered // the first call holds its body's bytes
	for range 2 {
		go func() { answers <- e.post(c, body) }()
	}
	require.Eventually(t, func() bool { return e.h.budget.waiting.Load() == 2 }, 10*time.Second, time.Millisecond,
		"the two other bodies wait for the memory")
	e.free()
	for range 3 {
		a := <-answers
		require.NoError(t, a.err)
		assert.Equal(t, http.StatusOK, a.code)
	}
	// A call gives its bytes back once answered, maybe after its client read.
	require.Eventually(t, func() bool { return e.h.budget.free.Load() == e.h.budget.total }, 10*time.Second, time.Millisecond,
		"every byte given back")
}

// TestHTTPSBusyAnswerIsReadable: a body whose wait for memory ends is read
// and dropped before the 503, so a client that sends its whole body before
// reading (as DIRAC's requests-based client does) reads the answer rather
// than a broken connection, which then serves further calls.
func TestHTTPSBusyAnswerIsReadable(t *testing.T) {
	e := startBudget(t, HTTPSConfig{MaxBodyBytes: 1 << 20, MaxBufferedWait: 50 * time.Millisecond})
	c := &http.Client{Timeout: 20 * time.Second}
	body := holdBody(700 << 10)
	first := make(chan budgetAnswer, 1)
	go func() { first <- e.post(c, body) }()
	<-e.entered

	nc, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(20*time.Second)))
	request := func(body string) string {
		return "POST /Framework/Big HTTP/1.1\r\nHost: x\r\nContent-Type: " + formType +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	_, err = nc.Write([]byte(request(body))) // all of it, then read
	require.NoError(t, err, "the server reads the whole body")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.False(t, resp.Close, "the connection stays open")

	e.free()
	a := <-first
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.code)
	_, err = nc.Write([]byte(request("method=ping")))
	require.NoError(t, err)
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the connection serves the next call")
}

// TestByteBudgetRule: bodies take bytes as they grow; one is let through
// only while every body being read can still complete, so that two large
// bodies never wait for each other with the memory split between them; a
// waiter that gives up leaves the queue; the wait is bounded.
func TestByteBudgetRule(t *testing.T) {
	ctx := context.Background()
	b := newByteBudget(100)
	grow := func(s *bodyShare, n int64) error {
		_, err := b.grow(ctx, nil, s, n, time.Minute)
		return err
	}
	// A small body takes its whole claim at once.
	small := &bodyShare{claim: 10}
	require.NoError(t, grow(small, 10))

	// Two bodies of 80: the first starts; the second may not start while
	// the first could not then complete.
	x, y := &bodyShare{claim: 80}, &bodyShare{claim: 80}
	require.NoError(t, grow(x, 20))
	yErr := make(chan error, 1)
	go func() { yErr <- grow(y, 20) }()
	require.Eventually(t, func() bool { return b.waiting.Load() == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(70), b.free.Load(), "y waits holding nothing")
	require.NoError(t, grow(x, 40), "x completes")
	b.done(x)
	b.release(x)
	require.NoError(t, <-yErr, "x's bytes let y through")
	assert.Equal(t, int64(20), y.held)

	// A waiter whose context ends leaves the queue, the next one is served.
	z := &bodyShare{claim: 80}
	zctx, cancel := context.WithCancel(ctx)
	zErr := make(chan error, 1)
	go func() { _, err := b.grow(zctx, nil, z, 50, time.Minute); zErr <- err }()
	require.Eventually(t, func() bool { return b.waiting.Load() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-zErr, context.Canceled)
	assert.Zero(t, b.waiting.Load())
	assert.Zero(t, z.held)

	// The wait is bounded; a body over the whole budget is refused at once.
	_, err := b.grow(ctx, nil, &bodyShare{claim: 80}, 80, time.Millisecond)
	require.ErrorIs(t, err, errBusy)
	_, err = b.grow(ctx, nil, &bodyShare{claim: 101}, 1, time.Minute)
	require.ErrorIs(t, err, errOverBudget)

	b.release(y)
	b.release(small)
	assert.Equal(t, int64(100), b.free.Load())
	assert.Empty(t, b.growing)
}
