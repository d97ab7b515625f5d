package diracrpc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors, matched with errors.Is. Each stands for one Code (see
// CodeOf); the errors that carry more detail (*Error, *TransportError) match
// the sentinel of their code through their Is methods.
var (
	// ErrUnreachable: no connection to the server, or it broke (CodeUnreachable).
	ErrUnreachable = errors.New("diracrpc: server unreachable")
	// ErrTLS: the TLS handshake failed: the server's certificate was refused,
	// or the server refused ours (CodeTLS).
	ErrTLS = errors.New("diracrpc: TLS handshake refused")
	// ErrUnauthorized: the service refused the caller (DIRAC Errno 1111, HTTP
	// 401/403). Final: clients never retry it.
	ErrUnauthorized = errors.New("diracrpc: unauthorized")
	// ErrNotImplemented: the service has no such method (HTTP 501, DISET
	// "Unknown method").
	ErrNotImplemented = errors.New("diracrpc: method not implemented")
	// ErrNotFound: the server does not serve the service at this URL (HTTP
	// 404, DISET "<service> is not up in this server").
	ErrNotFound = errors.New("diracrpc: service not found at this URL")
	// ErrServerFailure: the server failed while serving the call (HTTP 500,
	// DISET "Server error while serving").
	ErrServerFailure = errors.New("diracrpc: server failure")
	// ErrUnavailable: the server is temporarily unavailable (HTTP 502, 503,
	// 504).
	ErrUnavailable = errors.New("diracrpc: server unavailable")
	// ErrTimeout: the call's deadline or the timeout option ran out.
	ErrTimeout = errors.New("diracrpc: timeout")
	// ErrCircuitOpen: the client refused to send the call because the server's
	// circuit breaker is open after repeated failures.
	ErrCircuitOpen = errors.New("diracrpc: circuit breaker open")
	// ErrNoURL: every URL of the service was tried, banned or refused, or
	// there was none. CodeOf still gives the cause of the last attempt.
	ErrNoURL = errors.New("diracrpc: no URL of the service could be reached")
	// ErrProtocol: the peer sent something that is not valid for the protocol.
	ErrProtocol = errors.New("diracrpc: protocol error")
	// ErrWrongProtocol: the server answered in DIRAC's other protocol (an
	// https:// URL for a DISET port, a dips:// URL for an HTTPS one); the
	// error is a *WrongProtocolError with CodeProtocol.
	ErrWrongProtocol = errors.New("diracrpc: the server speaks the other protocol")
	// ErrConfiguration: the configuration does not lead to the service
	// (CodeConfiguration); matched by the resolution errors of package
	// endpoint and the selector's.
	ErrConfiguration = errors.New("diracrpc: the configuration does not lead to the service")
)

// Error is a DIRAC S_ERROR: an error the service (or, for a few documented
// cases, the client library, as DIRAC's clients do) reports as a result
// dictionary. Match it with errors.As.
type Error struct {
	// Errno is the DIRAC or POSIX error number; 0 when unspecified.
	Errno int
	// Message is the message as sent; for a non-zero Errno DIRAC has already
	// formatted it as "<strerror> ( <errno> : <msg>)".
	Message string
	// CallStack is the server's stack trace, when it sent one.
	CallStack []string
	// Local is true when the client made the error up instead of receiving it
	// (for example the HTTPS client's "Permission denied ( 13 : ...)" for a 403).
	Local bool
}

// NewError builds an S_ERROR the way DIRAC's S_ERROR(errno, msg) does: a
// non-zero errno prefixes the message with its strerror text.
func NewError(errno int, msg string) *Error {
	return &Error{Errno: errno, Message: FormatMessage(errno, msg)}
}

// FormatMessage applies DIRAC's message rule: "<strerror> ( <errno> : <msg>)"
// for a non-zero errno, msg unchanged otherwise.
func FormatMessage(errno int, msg string) string {
	if errno == 0 {
		return msg
	}
	return StrError(errno) + " ( " + strconv.Itoa(errno) + " : " + msg + ")"
}

func (e *Error) Error() string {
	if e.Errno != 0 && !strings.Contains(e.Message, "( "+strconv.Itoa(e.Errno)+" :") {
		return fmt.Sprintf("S_ERROR %d: %s", e.Errno, e.Message)
	}
	return "S_ERROR: " + e.Message
}

// Is matches the sentinel of the error's code (see Error.Code):
// ErrUnauthorized for Errno 1111 (or, as DIRAC's cmpError does when Errno is
// missing, a message containing its strerror text), ErrNotImplemented for
// ENOSYS and DISET's "Unknown method", ErrServerFailure for DISET's "Server
// error while serving".
func (e *Error) Is(target error) bool {
	s := e.Code().sentinel()
	return s != nil && s == target
}

// Has reports whether the error is errno, with DIRAC's cmpError rule: compare
// the numbers when Errno is set, else look for strerror(errno) in Message.
func (e *Error) Has(errno int) bool {
	if e.Errno != 0 {
		return e.Errno == errno
	}
	return strings.Contains(e.Message, StrError(errno))
}

// WrongProtocolError says that the server at URL speaks, or may speak,
// DIRAC's other protocol: an https:// URL given for a DISET port, or a
// dips:// URL for an HTTPS (Tornado) one. Fix tells what to call instead.
//
// When the server answered in the other protocol (Silent false) the call
// certainly did not run: the error matches ErrWrongProtocol. DIRAC's own
// servers never answer a request of the other protocol: they complete the
// TLS handshake and then wait for the rest of a request that never comes.
// Silence is all the client sees, as from a slow or stuck service, so with
// Silent the error only names the possible cause of Err, the timeout or
// closed connection that ended the attempt (which keeps its code), and does
// not match ErrWrongProtocol.
type WrongProtocolError struct {
	// URL is the URL called.
	URL string
	// Other is the protocol the server speaks or may speak: HTTPS for a
	// dips:// URL, DIPS for an https:// one.
	Other Protocol
	// Silent: the server sent nothing after the TLS handshake.
	Silent bool
	// Answer is the start of what the server sent (not Silent).
	Answer []byte
	// Err is the failure (Silent) or the decoding error the answer met.
	Err error
}

func (e *WrongProtocolError) Error() string {
	server, _, _ := strings.Cut(afterScheme(e.URL), "/")
	like, request, scheme, other := "a DISET", "an HTTPS", "an https://", "a dips://"
	if e.Other == HTTPS {
		like, request, scheme, other = "an HTTPS", "a DISET", "a dips://", "an https://"
	}
	if e.Silent {
		return fmt.Sprintf("%v (possible cause: the server at %s completed the TLS handshake and then sent nothing, "+
			"as %s server does with %s request: is this %s URL for %s port? If so, %s)",
			e.Err, server, like, request, scheme, other, e.Fix())
	}
	answer := ""
	if len(e.Answer) > 0 {
		answer = fmt.Sprintf(" (%q)", clip(e.Answer))
	}
	return fmt.Sprintf("the server at %s answered like %s server%s: is this %s URL for %s port? (%s)",
		server, like, answer, scheme, other, e.Fix())
}

// Fix tells what to call instead.
func (e *WrongProtocolError) Fix() string {
	rest := afterScheme(e.URL)
	if e.Other == HTTPS {
		return "call https://" + rest + " (DIRAC ≥ 8.1 names HTTPS services System/Tornado<Handler>), " +
			"or use the service's dips:// port"
	}
	return "call dips://" + rest + ", or use the service's https:// port"
}

// Unwrap returns Err.
func (e *WrongProtocolError) Unwrap() error { return e.Err }

// Is matches ErrWrongProtocol when the server answered in the other protocol.
func (e *WrongProtocolError) Is(target error) bool { return target == ErrWrongProtocol && !e.Silent }

func afterScheme(url string) string {
	if _, rest, ok := strings.Cut(url, "://"); ok {
		return rest
	}
	return url
}

// clip is the start of an unexpected answer, for a message.
func clip(b []byte) []byte {
	const n = 80
	if len(b) > n {
		return b[:n]
	}
	return b
}
