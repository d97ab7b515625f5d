package diracrpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code classifies why a call failed, the same way for both protocols, as
// connect-go's codes do. CodeOf finds it in any error a Client returns.
type Code int

// The codes. The zero Code is CodeUnknown: an error that is none of these
// (a local encoding error, for example), or no error at all.
const (
	CodeUnknown Code = iota
	// CodeCanceled: the caller cancelled the call's context.
	CodeCanceled
	// CodeUnreachable: the server could not be reached (refused, DNS,
	// connect timeout) or the connection broke during the call.
	CodeUnreachable
	// CodeTLS: the TLS handshake failed: the server's certificate was refused
	// by us, or ours by the server.
	CodeTLS
	// CodeUnauthorized: the service refused the caller (Errno 1111, HTTP 401/403).
	CodeUnauthorized
	// CodeNotImplemented: no such method (HTTP 501, DISET "Unknown method").
	CodeNotImplemented
	// CodeNotFound: the server does not serve the service at this URL (HTTP
	// 404, DISET "<service> is not up in this server").
	CodeNotFound
	// CodeServiceError: the service answered S_ERROR (a *Error).
	CodeServiceError
	// CodeServerFailure: the server failed while serving the call: its
	// handler raised (HTTP 500 and other 5xx, DISET "Server error while
	// serving ..."), or DISET's framework refused the proposal. Deterministic
	// as far as the client knows: not sent again once it reached the service.
	CodeServerFailure
	// CodeUnavailable: the server or a gateway in front of it is
	// temporarily unable to serve (HTTP 502, 503, 504). Transient: an
	// idempotent call is sent again.
	CodeUnavailable
	// CodeTimeout: the call's deadline or the timeout option ran out while
	// waiting for the server.
	CodeTimeout
	// CodeCircuitOpen: not sent, the server's circuit breaker is open.
	CodeCircuitOpen
	// CodeNoURL: there was no URL to call.
	CodeNoURL
	// CodeProtocol: the peer's answer is not valid for the protocol.
	CodeProtocol
	// CodeConfiguration: no call was made: the configuration does not lead
	// to the service (a name it does not define, a malformed name or URL,
	// URLs the selector's mode cannot use).
	CodeConfiguration
)

var codeNames = [...]string{"unknown", "canceled", "unreachable", "tls", "unauthorized", "not_implemented",
	"not_found", "service_error", "server_failure", "unavailable", "timeout", "circuit_open", "no_url", "protocol", "configuration"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code_%d", int(c))
}

// sentinel is the sentinel error matching c (nil for codes without one).
func (c Code) sentinel() error {
	switch c {
	case CodeCanceled:
		return context.Canceled
	case CodeUnreachable:
		return ErrUnreachable
	case CodeTLS:
		return ErrTLS
	case CodeUnauthorized:
		return ErrUnauthorized
	case CodeNotImplemented:
		return ErrNotImplemented
	case CodeNotFound:
		return ErrNotFound
	case CodeServerFailure:
		return ErrServerFailure
	case CodeUnavailable:
		return ErrUnavailable
	case CodeTimeout:
		return ErrTimeout
	case CodeCircuitOpen:
		return ErrCircuitOpen
	case CodeNoURL:
		return ErrNoURL
	case CodeProtocol:
		return ErrProtocol
	case CodeConfiguration:
		return ErrConfiguration
	}
	return nil
}

// Code classifies an S_ERROR. DIRAC's DISET framework reports a few of its
// own failures as S_ERROR messages, recognised here so that both protocols
// give the same code: "Unknown method" (HTTPS: 501), "Server error while
// serving" (HTTPS: 500), "<service> is not up in this server" (HTTPS: 404;
// as a result rather than a refusal of the proposal when a gateway relays
// it, or says it of a service it cannot lead to).
func (e *Error) Code() Code {
	switch {
	case e.Has(ENOAUTH):
		return CodeUnauthorized
	case e.Errno == ENOSYS, e.Errno == 0 && strings.HasPrefix(e.Message, "Unknown method "):
		return CodeNotImplemented
	case e.Errno == 0 && strings.HasPrefix(e.Message, "Server error while serving "):
		return CodeServerFailure
	case e.Errno == 0 && strings.HasSuffix(e.Message, NotUpSuffix):
		return CodeNotFound
	}
	return CodeServiceError
}

// NotUpSuffix ends the S_ERROR message DIRAC's DISET framework answers for
// a service the server does not serve: "<service> is not up in this server".
const NotUpSuffix = " is not up in this server"

// NotUp is DIRAC's S_ERROR for a service the server (or a gateway) does not
// serve (CodeNotFound).
func NotUp(service string) *Error {
	return &Error{Message: service + NotUpSuffix}
}

// TransportError is a failed attempt that is not an S_ERROR result: the
// transports return it already classified. An S_ERROR the server sent
// before the call ran (DISET's refusal of a proposal) is its Err.
type TransportError struct {
	// Protocol and URL say where the attempt went.
	Protocol Protocol
	URL      string
	// Code classifies the failure.
	Code Code
	// Reached is true when the service may have run the call: the arguments
	// were delivered and no answer proves the contrary. A call that has not
	// reached the service can always be sent again.
	Reached bool
	// RetryAfter is set when the server asked not to be called again before
	// this long (HTTP Retry-After) and the transport did not wait: the
	// client then calls other URLs only.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("diracrpc: %s %s: %s: %v", e.Protocol, e.URL, e.Code, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// Is matches the sentinel of the error's code.
func (e *TransportError) Is(target error) bool {
	s := e.Code.sentinel()
	return s != nil && s == target
}

// CodeOf classifies err: the code of the *TransportError or *Error it
// wraps (the most specific one: after failover, the last attempt's cause),
// else of the sentinels and context errors it matches; CodeUnknown when
// none applies. ErrNoURL tells that the loop gave up after trying; the
// code tells why.
func CodeOf(err error) Code {
	if err == nil {
		return CodeUnknown
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Code
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Code()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	}
	for c := CodeUnknown + 1; int(c) < len(codeNames); c++ {
		if s := c.sentinel(); s != nil && errors.Is(err, s) {
			return c
		}
	}
	return CodeUnknown
}

// Reached reports whether the failed call may have run on the service. It
// is false when the call certainly did not run: it never left the client,
// the connection or the TLS handshake failed first, a breaker held it back,
// or the server refused it before running anything (unauthorised, no such
// method, service not there). It is true for an S_ERROR the service
// returned, a server failure, and a connection lost or timed out after the
// arguments were sent. A call with Reached false is safe to send again.
func Reached(err error) bool {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Reached
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Reached
	}
	var de *Error
	if errors.As(err, &de) {
		// "not up in this server" as a result (through a gateway) stays
		// reached: a service may be relaying what its own call was told.
		return de.Code() != CodeNotImplemented
	}
	return false
}
