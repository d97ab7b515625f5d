package disetclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/value"
)

// stage says how far an attempt got before it failed.
type stage int

const (
	stageConnect   stage = iota // TCP connect and TLS handshake
	stageProposal               // proposal sent, waiting for the server's S_OK
	stageArguments              // arguments being sent
	stageResult                 // arguments sent, waiting for the result
)

func (s stage) String() string {
	return [...]string{"connect", "proposal", "arguments", "result"}[s]
}

// Attempt runs one DISET call on a.URL: connect, proposal, arguments,
// result. Its errors are classified: *diracrpc.TransportError, or the
// result's *diracrpc.Error.
func (t *transport) Attempt(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	u, ok := t.urls[a.URL]
	if !ok {
		return nil, t.fail(ctx, a.URL, stageConnect, fmt.Errorf("unknown URL %s", a.URL))
	}
	tm := diracrpc.TimingOf(ctx)
	tm.Begin(a.URL)
	nc, raw, err := t.connect(ctx, u)
	if err != nil {
		return nil, t.fail(ctx, a.URL, stageConnect, err)
	}
	defer nc.Close()
	// The whole exchange is bounded by the RPC timeout and by ctx; a
	// cancellation closes the TCP connection, which unblocks any read or
	// write. (Closing the TLS layer instead would first send close_notify,
	// which a server may answer before the socket is gone.)
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	var fb *firstByteConn
	if tm != nil {
		fb = &firstByteConn{Conn: nc, tm: tm}
		nc = fb
	}
	conn := diset.NewConn(nc, t.opts.Encoding)
	conn.Prealloc(diset.ClientPrealloc)
	proposal := diracrpc.OK([]any{
		[]any{u.Service(), t.cfg.Setup, t.cfg.VO},
		[]any{"RPC", a.Method},
		t.cfg.ExtraCredentials,
		t.opts.Version,
	})
	if err := conn.Send(proposal); err != nil {
		// With TLS 1.3 a server refusing our certificate says so after the
		// handshake, with an alert and a close: the alert is still there
		// to read when our write already met the closed connection.
		if _, _, rerr := conn.Recv(0); isTLSFailure(rerr) {
			err = rerr
		}
		return nil, t.fail(ctx, a.URL, stageProposal, err)
	}
	r1, p1, err := conn.Recv(0)
	if err != nil {
		return nil, t.proposalFailure(ctx, a.URL, u, conn, recvErr(p1, err))
	}
	v1, err := diracrpc.ParseResult(r1)
	if err != nil {
		return nil, refusal(a.URL, u.Protocol, err)
	}
	if csr, ok := delegationRequest(v1); ok {
		// A gateway asks for a proxy (§4.12): sign its request with our
		// credential, send the bare PEM chain, and read its S_OK.
		if err := t.delegate(conn, csr); err != nil {
			return nil, t.fail(ctx, a.URL, stageProposal, err)
		}
		r1, p1, err = conn.Recv(0)
		if err != nil {
			return nil, t.fail(ctx, a.URL, stageProposal, recvErr(p1, err))
		}
		if _, err := diracrpc.ParseResult(r1); err != nil {
			return nil, refusal(a.URL, u.Protocol, err)
		}
	}
	tm.Step(diracrpc.PhaseProposal)
	if fb != nil {
		fb.armed = true
	}
	if err := conn.Send(diracrpc.OK(a.Args)); err != nil {
		return nil, t.fail(ctx, a.URL, stageArguments, err)
	}
	var r2 any
	var payload []byte
	undecoded := false
	if a.Undecoded {
		r2, payload, undecoded, err = conn.RecvResultUndecoded(0)
	} else {
		r2, payload, err = conn.RecvResult(0)
	}
	tm.Step(diracrpc.PhaseTransfer)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // cancelled while the answer arrived: the caller gave up
	}
	if err != nil {
		return nil, t.fail(ctx, a.URL, stageResult, recvErr(payload, err))
	}
	if undecoded {
		return &diracrpc.Result{Raw: payload, Undecoded: true, Protocol: u.Protocol, URL: a.URL}, nil
	}
	v, err := diracrpc.ParseResult(r2)
	if err != nil {
		var de *diracrpc.Error
		if errors.As(err, &de) {
			return nil, de // the service's answer
		}
		return nil, &diracrpc.TransportError{Protocol: u.Protocol, URL: a.URL, Code: diracrpc.CodeProtocol, Reached: true, Err: err}
	}
	return &diracrpc.Result{Value: v, Raw: payload, Protocol: u.Protocol, URL: a.URL, Extra: diracrpc.ExtraKeys(r2)}, nil
}

// proposalFailure classifies the failure to read the answer to the
// proposal, telling an HTTPS server apart: one that answers in HTTP
// certainly ran nothing (CodeProtocol, not reached); one that says nothing
// after the TLS handshake, as DIRAC's Tornado does (it waits for the end of
// an HTTP header that never comes), may be the cause of the timeout or
// close, which keeps its code.
func (t *transport) proposalFailure(ctx context.Context, url string, u *endpoint.URL, conn *diset.Conn, err error) error {
	if errors.Is(err, frame.ErrHTTP) && ctx.Err() == nil {
		return &diracrpc.TransportError{Protocol: u.Protocol, URL: url, Code: diracrpc.CodeProtocol,
			Err: fmt.Errorf("%s: %w", stageProposal, &diracrpc.WrongProtocolError{URL: url, Other: diracrpc.HTTPS,
				Answer: bytes.Clone(conn.Pending()[:min(len(conn.Pending()), 80)]), Err: err})}
	}
	ended := isTimeout(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(ctx.Err(), context.DeadlineExceeded)
	if ended && u.Protocol == diracrpc.DIPS && len(conn.Pending()) == 0 && !isTLSFailure(err) &&
		!errors.Is(ctx.Err(), context.Canceled) {
		err = &diracrpc.WrongProtocolError{URL: url, Other: diracrpc.HTTPS, Silent: true, Err: err}
	}
	return t.fail(ctx, url, stageProposal, err)
}

// firstByteConn steps the call's Timing to the end of PhaseServer at the
// first byte read once armed (after the proposal's answer).
type firstByteConn struct {
	net.Conn
	tm          *diracrpc.Timing
	armed, seen bool
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.armed && !c.seen && n > 0 {
		c.seen = true
		c.tm.Step(diracrpc.PhaseServer)
	}
	return n, err
}

// refusal classifies the server's refusal of the proposal: nothing ran.
// DIRAC answers "Unauthorized query" (final), "<service> is not up in this
// server" (wrong URL), or another framework failure; DIRAC's client redoes
// the call after any of them but the first.
func refusal(url string, p diracrpc.Protocol, err error) error {
	code := diracrpc.CodeProtocol
	var de *diracrpc.Error
	if errors.As(err, &de) {
		switch {
		case de.Has(diracrpc.ENOAUTH):
			code = diracrpc.CodeUnauthorized
		case de.Code() == diracrpc.CodeNotFound:
			code = diracrpc.CodeNotFound
		default:
			code = diracrpc.CodeServerFailure
		}
	}
	return &diracrpc.TransportError{Protocol: p, URL: url, Code: code, Err: err}
}

// protocolError marks a frame that arrived but is not valid.
type protocolError struct{ err error }

func (e protocolError) Error() string { return e.err.Error() }
func (e protocolError) Unwrap() error { return e.err }

// recvErr marks what Recv returns for a frame it read but could not decode
// (it then returns the payload too) or a malformed frame.
func recvErr(payload []byte, err error) error {
	if payload != nil || errors.Is(err, frame.ErrMalformed) || errors.Is(err, frame.ErrTooLarge) ||
		errors.Is(err, diracrpc.ErrProtocol) {
		return protocolError{err}
	}
	return err
}

// fail classifies a failure at stage: the caller's cancellation or
// deadline, a refused handshake, a timeout, an invalid frame, or a
// connection that could not be made or broke. The arguments may have
// reached the service from stageArguments on.
func (t *transport) fail(ctx context.Context, url string, s stage, err error) error {
	var ee *value.EncodeError
	if errors.As(err, &ee) || errors.Is(err, diset.ErrEncode) {
		// Encoding fails, and a frame of ours is found too large, before a
		// byte of it is written.
		return t.local(url, fmt.Errorf("%s: %w", s, err))
	}
	reached := s >= stageArguments
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
		// The connection deadline (set from ctx's) fired a moment
		// before ctx noticed.
		ctxErr = context.DeadlineExceeded
	}
	var code diracrpc.Code
	var pe protocolError
	switch {
	case errors.Is(ctxErr, context.Canceled):
		code = diracrpc.CodeCanceled
	case ctxErr != nil:
		code = diracrpc.CodeTimeout
	case isTLSFailure(err) && s <= stageProposal:
		code = diracrpc.CodeTLS
	case errors.As(err, &pe):
		code = diracrpc.CodeProtocol
	case isTimeout(err) && s > stageConnect:
		code = diracrpc.CodeTimeout
	default:
		code = diracrpc.CodeUnreachable
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return &diracrpc.TransportError{Protocol: t.protocolOf(url), URL: url, Code: code, Reached: reached,
		Err: fmt.Errorf("%s: %w", s, err)}
}

// local is the caller's own mistake, found before it was sent (a value
// that cannot be encoded): CodeUnknown, as httpsclient reports it, so that
// it is neither tried again nor counted against the server's breaker.
func (t *transport) local(url string, err error) error {
	return &diracrpc.TransportError{Protocol: t.protocolOf(url), URL: url, Code: diracrpc.CodeUnknown, Err: err}
}

// isTLSFailure: the handshake failed here, or the server's alert refusing
// our certificate arrived (with TLS 1.3 only on the first read, after the
// proposal was written).
func isTLSFailure(err error) bool {
	var he handshakeError
	var op *net.OpError
	return errors.As(err, &he) || (errors.As(err, &op) && op.Op == "remote error")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshakeError marks a failed TLS handshake.
type handshakeError struct{ err error }

func (e handshakeError) Error() string { return e.err.Error() }
func (e handshakeError) Unwrap() error { return e.err }

// connect connects to every address of the host in turn, each attempt (TCP
// connect plus TLS handshake) bounded by ConnectTimeout. It returns the
// connection to use and the TCP connection under it.
func (t *transport) connect(ctx context.Context, u *endpoint.URL) (nc, raw net.Conn, err error) {
	addrs := []string{u.Host}
	if net.ParseIP(u.Host) == nil {
		var err error
		if addrs, err = net.DefaultResolver.LookupHost(ctx, u.Host); err != nil {
			return nil, nil, fmt.Errorf("DNS lookup failed %w", err)
		}
		diracrpc.TimingOf(ctx).Step(diracrpc.PhaseDNS)
	}
	var errs []error
	for _, a := range addrs {
		nc, raw, err := t.connectOne(ctx, u, net.JoinHostPort(a, strconv.Itoa(u.Port)))
		if err == nil {
			return nc, raw, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, errors.Join(errs...)
}

func (t *transport) connectOne(ctx context.Context, u *endpoint.URL, addr string) (nc, raw net.Conn, err error) {
	actx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	raw, err = t.dial(actx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	diracrpc.TimingOf(ctx).Step(diracrpc.PhaseConnect)
	if u.Protocol != diracrpc.DIPS {
		return raw, raw, nil
	}
	tc := tls.Client(raw, t.tlsConfig(u.Host))
	if err := tc.HandshakeContext(actx); err != nil {
		raw.Close()
		//lint:ignore ST1005 DIRAC's own message, which callers match
		return nil, nil, handshakeError{fmt.Errorf("Can't connect to %s: %w", u, err)}
	}
	diracrpc.TimingOf(ctx).Step(diracrpc.PhaseTLS)
	return tc, raw, nil
}

func (t *transport) protocolOf(url string) diracrpc.Protocol {
	if u, ok := t.urls[url]; ok {
		return u.Protocol
	}
	return diracrpc.DIPS
}

// delegationRequest returns the PEM request of an R1 S_OK({"delegate": csr}).
func delegationRequest(v any) ([]byte, bool) {
	d, ok := v.(*value.Dict)
	if !ok {
		return nil, false
	}
	csr, ok := d.Lookup("delegate")
	if !ok {
		return nil, false
	}
	switch csr := csr.(type) {
	case string:
		return []byte(csr), true
	case []byte:
		return csr, true
	}
	return nil, false
}

// delegate signs the gateway's request and sends the chain as a bare PEM
// string frame, as DIRAC's client does; a client without a credential (dip://)
// cannot delegate.
func (t *transport) delegate(conn *diset.Conn, csr []byte) error {
	if t.tls == nil {
		return protocolError{fmt.Errorf("%w: the server asks for a delegation and the client has no credential", diracrpc.ErrProtocol)}
	}
	chain, err := t.tls.SignProxyRequest(csr)
	if err != nil {
		return protocolError{fmt.Errorf("%w: %w", diracrpc.ErrProtocol, err)}
	}
	return conn.Send(string(chain))
}
