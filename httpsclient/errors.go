package httpsclient

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/diracgo/diracrpc"
)

// bodyExcerpt is how much of an unexpected answer a StatusError keeps.
const bodyExcerpt = 512

// StatusError is an answer that is not a DIRAC result: an HTTP status other
// than 200, or a 200 whose body is not a result. It matches
// diracrpc.ErrUnauthorized (401, 403), diracrpc.ErrNotImplemented (501)
// and diracrpc.ErrProtocol (a 200 that does not decode). For 401, 403 and
// 501 it also wraps the S_ERROR DIRAC's client makes up (Errno 13 or 38,
// Local), reachable with errors.As.
type StatusError struct {
	// Code is the HTTP status; Status its text ("500 Internal Server Error").
	Code   int
	Status string
	// URL is the URL that answered, Method the DIRAC method called.
	URL, Method string
	// Body is the start of the body (at most 512 bytes).
	Body []byte
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the underlying cause: the synthesized *diracrpc.Error, or the
	// decoding error of a 200 answer.
	Err error
}

func (e *StatusError) Error() string {
	switch {
	case e.Code == http.StatusOK:
		return fmt.Sprintf("httpsclient: undecodable answer from %s: %v: %q", e.URL, e.Err, e.Body)
	case e.Err != nil && isDIRACError(e.Err):
		return "httpsclient: " + e.Err.(*diracrpc.Error).Message
	}
	// DIRAC's text: requests' HTTPError message, then the body.
	kind := "Server"
	if e.Code < 500 {
		kind = "Client"
	}
	return fmt.Sprintf("httpsclient: %d %s Error: %s for url: %s: %s", e.Code, kind, http.StatusText(e.Code), e.URL, e.Body)
}

func isDIRACError(err error) bool { _, ok := err.(*diracrpc.Error); return ok }

// Unwrap returns Err.
func (e *StatusError) Unwrap() error { return e.Err }

// Is matches the sentinels of package diracrpc.
func (e *StatusError) Is(target error) bool {
	switch target {
	case diracrpc.ErrUnauthorized:
		return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
	case diracrpc.ErrNotImplemented:
		return e.Code == http.StatusNotImplemented
	case diracrpc.ErrProtocol:
		return e.Code == http.StatusOK
	}
	return false
}

// CircuitOpenError: the breaker of Server is open (or half-open and busy
// probing), so the call was not sent. It matches diracrpc.ErrCircuitOpen.
type CircuitOpenError struct {
	Server string
	Err    error // gobreaker's ErrOpenState or ErrTooManyRequests
}

func (e *CircuitOpenError) Error() string {
	return "httpsclient: circuit breaker of " + e.Server + " is open: " + e.Err.Error()
}

// Unwrap returns the breaker's error.
func (e *CircuitOpenError) Unwrap() error { return e.Err }

// Is matches diracrpc.ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == diracrpc.ErrCircuitOpen }

// ConnectError: the connection or its TLS handshake to Server failed, so the
// request was never sent.
type ConnectError struct {
	Server string
	Err    error
}

func (e *ConnectError) Error() string {
	return "httpsclient: cannot connect to " + e.Server + ": " + e.Err.Error()
}

// Unwrap returns the dial or handshake error.
func (e *ConnectError) Unwrap() error { return e.Err }

// statusError builds the error for a non-200 answer (or an undecodable 200).
func statusError(resp *http.Response, url, method string, body []byte, cause error) *StatusError {
	if len(body) > bodyExcerpt {
		body = body[:bodyExcerpt]
	}
	e := &StatusError{Code: resp.StatusCode, Status: resp.Status, URL: url, Method: method, Body: body, Err: cause}
	if d, ok := retryAfter(resp); ok {
		e.RetryAfter = d
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Err = &diracrpc.Error{Errno: diracrpc.EACCES, Message: diracrpc.FormatMessage(diracrpc.EACCES, "No access to "+url), Local: true}
	case http.StatusNotImplemented:
		e.Err = &diracrpc.Error{Errno: diracrpc.ENOSYS, Message: diracrpc.FormatMessage(diracrpc.ENOSYS, method+" is not implemented"), Local: true}
	}
	return e
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
