package httpsclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

type idempotentKey struct{}

// WithIdempotent marks the calls made with ctx as idempotent: safe to run
// twice, so they are retried even after failures that may have reached the
// server (a dropped connection, a 502/503/504). Config.Idempotent marks
// methods for every call.
func WithIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

func isIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}

// attemptState is one call's retry bookkeeping on one URL. go-retryablehttp
// hands CheckRetry the request's context, not the request, so it travels
// there; the policy stores the wait it chose for Backoff to return.
type attemptState struct {
	idempotent bool
	retry      RetrySettings
	n          int
	wait       time.Duration
}

type attemptKey struct{}

// checkRetry is the go-retryablehttp policy. It retries only what is safe:
// the request never reached the server (dial and TLS failures other than a
// refused certificate), a 502/503/504 carrying Retry-After, or anything that
// failed for an idempotent call. A wait that would outlast the call's
// deadline is not started: the outcome at hand is returned instead. It never
// returns an error, so the last response or error is what the caller sees.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st, _ := ctx.Value(attemptKey{}).(*attemptState)
	if st == nil || ctx.Err() != nil {
		return false, nil
	}
	wait := backoff(st.retry, st.n)
	safe := false
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		case isCircuitOpen(err):
			// Fail fast: failover moves the call to another server.
		case notSent(err):
			safe = !isCertificateError(err)
		default:
			safe = st.idempotent
		}
	} else {
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if d, ok := retryAfter(resp); ok {
				if d > st.retry.MaxRetryAfter {
					return false, nil
				}
				safe, wait = true, max(d, wait)
			} else {
				safe = st.idempotent
			}
		}
	}
	if !safe {
		return false, nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return false, nil
	}
	st.n++
	st.wait = wait
	return true, nil
}

// backoff is exponential from WaitMin, capped at WaitMax, with full jitter.
func backoff(r RetrySettings, n int) time.Duration {
	d := r.WaitMin << min(n, 20)
	if d <= 0 || d > r.WaitMax {
		d = r.WaitMax
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func isCircuitOpen(err error) bool {
	var c *CircuitOpenError
	return errors.As(err, &c)
}

// notSent reports whether err proves the request was never processed: it
// never left the client, or the server refused the TLS handshake (with TLS
// 1.3 its alert only arrives once the request is written).
func notSent(err error) bool {
	var c *ConnectError
	return errors.As(err, &c) || isCircuitOpen(err) || isHandshakeAlert(err)
}

// isHandshakeAlert: the server sent a TLS alert ("remote error: tls: bad
// certificate"): it refused the handshake. crypto/tls reports alerts as a
// *net.OpError with Op "remote error" (tls.AlertError is for QUIC only).
func isHandshakeAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// isCertificateError: a certificate was refused, the server's by us or ours
// by the server. Retrying the same server cannot help (another server may:
// failover still tries it).
func isCertificateError(err error) bool {
	var ve *credentials.VerifyError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		errors.As(err, &ci) || isHandshakeAlert(err)
}
