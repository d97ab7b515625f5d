package httpsclient

import (
	"context"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc"
)

// retryLater is the one retry of the same URL made here: when HTTP says the
// request was not processed and may be sent later (502/503/504 with a
// Retry-After within maxRetryAfter), and only while the call's budget
// allows (diracrpc.Attempt.Again spends one of its attempts and gives the
// client's backoff). It returns how long to wait first. Everything else
// (failures, other answers) returns to the client's loop.
func retryLater(ctx context.Context, a *diracrpc.Attempt, maxRetryAfter time.Duration, resp *http.Response) (time.Duration, bool) {
	if ctx.Err() != nil {
		return 0, false
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		d, ok := retryAfter(resp)
		if !ok || d > maxRetryAfter {
			return 0, false
		}
		return a.Again(ctx, d)
	}
	return 0, false
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
