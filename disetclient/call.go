package disetclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/failover"
)

// Stage says how far a call got before it failed.
type Stage int

// Stages of a DISET call.
const (
	StageConnect   Stage = iota // TCP connect and TLS handshake
	StageProposal               // proposal sent, waiting for the server's S_OK
	StageArguments              // arguments being sent
	StageResult                 // arguments sent, waiting for the result
)

func (s Stage) String() string {
	return [...]string{"connect", "proposal", "arguments", "result"}[s]
}

// TransportError is a failure of the client or the network (not an S_ERROR
// the service sent). Reached reports whether the arguments may have reached
// the service.
type TransportError struct {
	URL   string
	Stage Stage
	Err   error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("disetclient: %s: %s: %v", e.URL, e.Stage, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Reached reports whether the service may have run the call.
func (e *TransportError) Reached() bool { return e.Stage >= StageArguments }

// callOnce runs one attempt on url. Errors after which it is safe to try
// again are marked failover.Retryable.
func (c *Client) callOnce(ctx context.Context, rawURL, method string, args []any) (*diracrpc.Result, error) {
	u := c.urls[rawURL]
	fail := func(stage Stage, err error) error {
		ctxErr := ctx.Err()
		if d, ok := ctx.Deadline(); ok && ctxErr == nil && !time.Now().Before(d) {
			// The connection deadline (set from ctx's) fired a moment
			// before ctx noticed.
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		te := &TransportError{URL: rawURL, Stage: stage, Err: err}
		if ctxErr != nil {
			return te // the caller gave up: nothing to retry
		}
		if stage < StageArguments || (c.cfg.Idempotent != nil && c.cfg.Idempotent(method)) {
			return failover.Retryable(te)
		}
		return te
	}

	nc, raw, err := c.dial(ctx, u)
	if err != nil {
		return nil, fail(StageConnect, err)
	}
	defer nc.Close()
	// The whole exchange is bounded by the RPC timeout and by ctx; a
	// cancellation closes the TCP connection, which unblocks any read or
	// write. (Closing the TLS layer instead would first send close_notify,
	// which a server may answer before the socket is gone.)
	deadline := time.Now().Add(c.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	conn := diset.NewConn(nc, c.cfg.Encoding)
	proposal := diracrpc.OK([]any{
		[]any{u.Service(), c.cfg.Setup, c.cfg.VO},
		[]any{"RPC", method},
		c.extra,
		c.cfg.Version,
	})
	if err := conn.Send(proposal); err != nil {
		return nil, fail(StageProposal, err)
	}
	r1, _, err := conn.Recv(0)
	if err != nil {
		return nil, fail(StageProposal, err)
	}
	if _, err := diracrpc.ParseResult(r1); err != nil {
		var de *diracrpc.Error
		if errors.As(err, &de) && !de.Has(diracrpc.ENOAUTH) && ctx.Err() == nil {
			// DIRAC redoes the call when the proposal is refused for any
			// reason but authorisation: nothing ran.
			return nil, failover.Retryable(err)
		}
		return nil, err
	}
	if err := conn.Send(diracrpc.OK(args)); err != nil {
		return nil, fail(StageArguments, err)
	}
	r2, payload, err := conn.Recv(0)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // cancelled while the answer arrived: the caller gave up
	}
	if err != nil {
		return nil, fail(StageResult, err)
	}
	v, err := diracrpc.ParseResult(r2)
	if err != nil {
		return nil, err
	}
	return &diracrpc.Result{Value: v, Raw: payload, Protocol: u.Protocol, URL: rawURL}, nil
}

// dial connects to every address of the host in turn, each attempt (TCP
// connect plus TLS handshake) bounded by ConnectTimeout. It returns the
// connection to use and the TCP connection under it.
func (c *Client) dial(ctx context.Context, u *endpoint.URL) (nc, raw net.Conn, err error) {
	addrs := []string{u.Host}
	if net.ParseIP(u.Host) == nil {
		var err error
		if addrs, err = net.DefaultResolver.LookupHost(ctx, u.Host); err != nil {
			return nil, nil, fmt.Errorf("DNS lookup failed %w", err)
		}
	}
	dialer := c.cfg.DialContext
	if dialer == nil {
		d := &net.Dialer{KeepAlive: 0} // SO_KEEPALIVE on with Go's default period
		dialer = d.DialContext
	}
	var errs []error
	for _, a := range addrs {
		nc, raw, err := c.dialOne(ctx, dialer, u, net.JoinHostPort(a, strconv.Itoa(u.Port)))
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

func (c *Client) dialOne(ctx context.Context, dialer func(context.Context, string, string) (net.Conn, error),
	u *endpoint.URL, addr string) (nc, raw net.Conn, err error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	raw, err = dialer(actx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if u.Protocol != diracrpc.DIPS {
		return raw, raw, nil
	}
	tc := tls.Client(raw, c.tlsConfig(u.Host))
	if err := tc.HandshakeContext(actx); err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("Can't connect to %s: %w", u, err)
	}
	return tc, raw, nil
}
