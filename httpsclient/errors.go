package httpsclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// bodyExcerpt is how much of an unexpected answer an error keeps.
const bodyExcerpt = 512

// statusError is an answer that is not a DIRAC result: an HTTP status other
// than 200, or a 200 whose body is not a result. For 401, 403 and 501 it
// wraps the S_ERROR DIRAC's client makes up (Errno 13 or 38, Local),
// reachable with errors.As.
type statusError struct {
	code        int
	url, method string
	body        []byte
	err         error
}

func (e *statusError) Error() string {
	var de *diracrpc.Error
	switch {
	case e.code == http.StatusOK:
		return fmt.Sprintf("undecodable answer from %s: %v: %q", e.url, e.err, e.body)
	case errors.As(e.err, &de):
		return de.Message
	}
	// DIRAC's text: requests' HTTPError message, then the body.
	kind := "Server"
	if e.code < 500 {
		kind = "Client"
	}
	return fmt.Sprintf("%d %s Error: %s for url: %s: %s", e.code, kind, http.StatusText(e.code), e.url, e.body)
}

func (e *statusError) Unwrap() error { return e.err }

// statusFailure classifies a non-200 answer (or an undecodable 200, with
// its cause).
func statusFailure(resp *http.Response, url, method string, body []byte, cause ...error) error {
	if len(body) > bodyExcerpt {
		body = body[:bodyExcerpt]
	}
	e := &statusError{code: resp.StatusCode, url: url, method: method, body: body, err: errors.Join(cause...)}
	te := &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: url, Err: e}
	switch c := resp.StatusCode; {
	case c == http.StatusOK:
		te.Code, te.Reached = diracrpc.CodeProtocol, true
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		te.Code = diracrpc.CodeUnauthorized
		e.err = &diracrpc.Error{Errno: diracrpc.EACCES, Message: diracrpc.FormatMessage(diracrpc.EACCES, "No access to "+url), Local: true}
	case c == http.StatusNotImplemented:
		te.Code = diracrpc.CodeNotImplemented
		e.err = &diracrpc.Error{Errno: diracrpc.ENOSYS, Message: diracrpc.FormatMessage(diracrpc.ENOSYS, method+" is not implemented"), Local: true}
	case c == http.StatusNotFound:
		te.Code = diracrpc.CodeNotFound
	case c == http.StatusBadGateway || c == http.StatusServiceUnavailable || c == http.StatusGatewayTimeout:
		// With Retry-After the server (or its gateway) says it did not
		// process the request.
		d, later := retryAfter(resp)
		te.Code, te.Reached, te.RetryAfter = diracrpc.CodeUnavailable, !later, d
	case c >= 500:
		te.Code, te.Reached = diracrpc.CodeServerFailure, true
	default:
		te.Code = diracrpc.CodeProtocol
	}
	return te
}

// local is a failure before anything was sent, that retrying cannot mend.
func local(url string, err error) error {
	return &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: url, Code: diracrpc.CodeUnknown, Err: err}
}

// connectError: the connection or its TLS handshake failed, so the request
// was never sent.
type connectError struct {
	server    string
	handshake bool
	err       error
}

func (e *connectError) Error() string { return "cannot connect to " + e.server + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// silentHint names the possible cause of a timeout at a server that
// completed TLS handshakes and never sent a byte: DIRAC's DISET servers
// read an HTTPS request as the start of a frame whose length never ends,
// and wait.
func silentHint(err error, url string) error {
	var te *diracrpc.TransportError
	if !errors.As(err, &te) || te.Code != diracrpc.CodeTimeout {
		return err
	}
	cp := *te
	cp.Err = &diracrpc.WrongProtocolError{URL: url, Other: diracrpc.DIPS, Silent: true, Err: te.Err}
	return &cp
}

// classify turns a failed round trip into a classified error.
func classify(ctx context.Context, url string, err error) error {
	var ce *connectError
	sent := !errors.As(err, &ce)
	te := &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: url, Err: err, Reached: sent}
	ctxErr := ctx.Err()
	var de *disetAnswerError
	switch {
	case errors.Is(ctxErr, context.Canceled):
		te.Code = diracrpc.CodeCanceled
	case ctxErr != nil:
		te.Code = diracrpc.CodeTimeout
	case errors.As(err, &de):
		// A DISET server took the request for a proposal and refused it:
		// nothing ran.
		te.Code, te.Reached = diracrpc.CodeProtocol, false
		te.Err = &diracrpc.WrongProtocolError{URL: url, Other: diracrpc.DIPS, Answer: de.answer, Err: err}
	case (ce != nil && ce.handshake) || isHandshakeAlert(err) || isCertificateError(err):
		// A refused handshake: with TLS 1.3 the server's alert only arrives
		// once the request is written, but nothing was processed.
		te.Code, te.Reached = diracrpc.CodeTLS, false
	case !sent:
		te.Code = diracrpc.CodeUnreachable
	case isTimeout(err):
		te.Code = diracrpc.CodeTimeout
	default:
		te.Code = diracrpc.CodeUnreachable
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		te.Err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return te
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isHandshakeAlert: the server sent a TLS alert ("remote error: tls: bad
// certificate"): it refused the handshake. crypto/tls reports alerts as a
// *net.OpError with Op "remote error" (tls.AlertError is for QUIC only).
func isHandshakeAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// isCertificateError: a certificate was refused (here through a proxy's
// tunnel, where net/http runs the handshake itself).
func isCertificateError(err error) bool {
	var ve *credentials.VerifyError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		errors.As(err, &ci)
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
