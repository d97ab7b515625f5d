package httpsclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/diracgo/diracrpc"
)

// attemptState is one attempt, in one allocation: the context of its
// request, where go-retryablehttp's CheckRetry (which gets the request's
// context, not the request) and Backoff find it, the request and its body.
// The policy stores the wait it chose for Backoff to return.
type attemptState struct {
	context.Context
	attempt       *diracrpc.Attempt
	maxRetryAfter time.Duration
	wait          time.Duration

	req     retryablehttp.Request
	form    []byte
	body    bytes.Reader
	readers int
}

type attemptKey struct{}

// Value makes the state its own context's value for attemptKey.
func (st *attemptState) Value(key any) any {
	if key == (attemptKey{}) {
		return st
	}
	return st.Context.Value(key)
}

// reader is the request's go-retryablehttp ReaderFunc: the form, from its
// start. SetBody calls it once for the length, without reading, and each
// try of the request once more; the first two share the state's reader.
// Later ones (go-retryablehttp's retries, net/http rewinding the body) get
// a new one: net/http may still be reading the previous one.
func (st *attemptState) reader() (io.Reader, error) {
	st.readers++
	if st.readers > 2 {
		return bytes.NewReader(st.form), nil
	}
	// A *bytes.Reader, not a wrapper: net/http then sends the headers and
	// the form in one write (a body it does not know as in memory gets its
	// headers flushed apart, one more write per call).
	st.body.Reset(st.form)
	return &st.body, nil
}

// sentBody is a transfer's request body, marking sent at the first read.
// Until net/http reads a request's body nothing of it can have reached
// the service (DIRAC's servers read the whole form before running
// anything), whatever the error: a context that ended before or while
// connecting.
type sentBody struct {
	io.ReadCloser
	sent *atomic.Bool
}

func (b sentBody) Read(p []byte) (int, error) {
	b.sent.Store(true)
	return b.ReadCloser.Read(p)
}

// notSent marks the failure of a request that sent nothing (sent false) as
// not having reached the service.
func notSent(err error, sent bool) error {
	var te *diracrpc.TransportError
	if sent || !errors.As(err, &te) || !te.Reached {
		return err
	}
	cp := *te
	cp.Reached = false
	return &cp
}

// backoff is the go-retryablehttp Backoff hook: the wait checkRetry chose
// (the client's one backoff, or the server's Retry-After). It is only asked
// after checkRetry said yes, that is with an answer whose request carries
// the attempt's state.
func backoff(_, _ time.Duration, _ int, resp *http.Response) time.Duration {
	if resp == nil || resp.Request == nil {
		return 0
	}
	if st, ok := resp.Request.Context().Value(attemptKey{}).(*attemptState); ok {
		return st.wait
	}
	return 0
}

// keepLastAnswer is the go-retryablehttp ErrorHandler: when retries run out
// the last answer is the call's answer (its status says what happened),
// not an error made up by the library.
func keepLastAnswer(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil && err == nil {
		return resp, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	return nil, err
}

// newRetryClient is the go-retryablehttp client of one server, made once:
// the policy of each call travels in its request's context. hc's transport
// must not have CloseIdleConnections: retryablehttp closes the idle
// connections of a client it gives up on, and they are every call's.
func newRetryClient(hc *http.Client) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient: hc,
		// The call's budget (Attempt.Again) bounds the retries, not this.
		RetryMax:     math.MaxInt32,
		CheckRetry:   checkRetry,
		Backoff:      backoff,
		ErrorHandler: keepLastAnswer,
	}
}

// checkRetry is the go-retryablehttp policy: the same URL is tried again
// only when HTTP says the request was not processed and may be sent later
// (502/503/504 with a Retry-After within the cap), and only while the
// call's budget allows (diracrpc.Attempt.Again spends one of its attempts
// and gives the client's backoff). Everything else returns to the client's
// loop. It never returns an error, so the last response or error is what
// the caller sees.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st, _ := ctx.Value(attemptKey{}).(*attemptState)
	if st == nil || ctx.Err() != nil || err != nil {
		return false, nil
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		d, ok := retryAfter(resp)
		if !ok || d > st.maxRetryAfter {
			return false, nil
		}
		wait, ok := st.attempt.Again(ctx, d)
		if !ok {
			return false, nil
		}
		st.wait = wait
		return true, nil
	}
	return false, nil
}
