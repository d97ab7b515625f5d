package httpsclient

import (
	"context"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc"
)

// attemptState is one attempt's bookkeeping for go-retryablehttp, whose
// CheckRetry gets the request's context, not the request: it travels there.
// The policy stores the wait it chose for Backoff to return.
type attemptState struct {
	attempt       *diracrpc.Attempt
	maxRetryAfter time.Duration
	wait          time.Duration
}

type attemptKey struct{}

func (st *attemptState) backoff(time.Duration, time.Duration, int, *http.Response) time.Duration {
	return st.wait
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
