package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/value"
)

// DISETHandler takes over DISET connections once their proposal is read, in
// place of the Service's dispatch: what a gateway (DIRAC's
// Framework/Gateway) does, serving calls for any service name. The server
// still does the TLS handshake, the connection and call limits and the
// graceful shutdown; the handler answers the proposal (Accept, Refuse or
// Delegate first) and the rest of the exchange.
type DISETHandler interface {
	ServeDISET(ctx context.Context, call *DISETCall)
}

// DISETCall is one DISET connection after its proposal, for a DISETHandler.
type DISETCall struct {
	// The proposal (PROTOCOL.md §4.6): the service named by the client, its
	// setup and VO, the action type (RPC, FileTransfer, Connection) and name,
	// the extraCredentials and the client's version.
	Service, Setup, VO string
	ActionType, Action string
	ExtraCredentials   any
	ClientVersion      string
	// Peer is the caller's verified chain; nil on dip://.
	Peer *credentials.PeerCredentials
	// RemoteAddr is the client's address.
	RemoteAddr string

	conn *diset.Conn
	s    *DISET
	log  *slog.Logger
	sc   *serverCall // telemetry; nil when off
}

// Accept answers the proposal with S_OK(): the client then sends its
// arguments (RPC) or file description (FileTransfer).
func (c *DISETCall) Accept() error { return c.send(diracrpc.OK(nil)) }

// Refuse answers the proposal with e; the server then closes.
func (c *DISETCall) Refuse(e *diracrpc.Error) {
	d := c.s.svc.PreHandlerError(e)
	c.sc.answer(d)
	_ = c.send(d)
}

// Done tells the server's telemetry how the call ended, for a handler
// that forwards answers it does not read (ReplyRaw): nil for S_OK, else
// the error, whose diracrpc.CodeOf is the call's error.type. A call
// refused with Refuse keeps that answer's code.
func (c *DISETCall) Done(err error) {
	if c.sc == nil || c.sc.answered {
		return
	}
	c.sc.done(err)
}

// Delegate asks the client for a proxy of its credential (§4.12) instead of
// answering the proposal; see credentials.ProxyRequest.Accept for what is
// accepted. On success the proposal is still to be answered (Accept); on
// failure the client has been sent the S_ERROR and the call is over.
func (c *DISETCall) Delegate(ctx context.Context) (*credentials.Credential, error) {
	return delegate(ctx, c.conn, c.s, c.Peer)
}

// Recv reads the next frame (the arguments, a file-transfer frame) within
// limit bytes (0: the server's MaxFrameSize) and the server's ReadTimeout;
// raw is its payload, valid until the next Recv.
func (c *DISETCall) Recv(limit int) (v any, raw []byte, err error) {
	if limit <= 0 {
		limit = c.s.cfg.MaxFrameSize
	}
	_ = c.conn.Net().SetReadDeadline(time.Now().Add(c.s.cfg.ReadTimeout))
	return c.conn.Recv(limit)
}

// Reply sends a result (or any frame value) with the server's encoding.
func (c *DISETCall) Reply(v any) error { return c.send(v) }

// ReplyRaw sends payload as one frame, unchanged: a result received from
// another DISET or HTTPS server goes back byte for byte (both encodings are
// read by every DISET client).
func (c *DISETCall) ReplyRaw(payload []byte) error {
	bp := bufpool.Get(frame.HeaderRoom + len(payload))
	buf := append(append(*bp, make([]byte, frame.HeaderRoom)...), payload...)
	_ = c.conn.Net().SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	err := c.conn.SendEncoded(buf, false)
	bufpool.Release(bp, buf)
	return err
}

// Net is the connection, for handlers that watch it (a peer going away).
func (c *DISETCall) Net() net.Conn { return c.conn.Net() }

// Frames is the DISET frame connection of a call, as package filetransfer
// runs a data phase on it (it sets its own deadlines).
type Frames interface {
	Send(v any) error
	Recv(limit int) (v any, raw []byte, err error)
	Net() net.Conn
}

// Frames gives the call's frames for a file transfer's data phase, which
// manages its deadlines itself (Recv and Reply set the server's).
func (c *DISETCall) Frames() Frames { return c.conn }

func (c *DISETCall) send(v any) error {
	_ = c.conn.Net().SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := sendFrame(c.conn, v); err != nil {
		logSendError(c.log, c.Action, err)
		return err
	}
	return nil
}

// delegate runs the delegation exchange on conn for the caller peer: R1 =
// S_OK({"delegate": <PEM request>}), then the bare PEM chain frame, checked
// against the caller's own verified chain. Refusals are answered with
// DIRAC's "Error in receiving delegated proxy: ..." and returned.
func delegate(ctx context.Context, conn *diset.Conn, s *DISET, peer *credentials.PeerCredentials) (*credentials.Credential, error) {
	if peer == nil {
		e := &diracrpc.Error{Message: "Error in receiving delegated proxy: the caller has no certificate to delegate"}
		_ = conn.Send(s.svc.PreHandlerError(e))
		return nil, fmt.Errorf("%w: no caller certificate", credentials.ErrDelegation)
	}
	req, err := credentials.NewProxyRequest(peer)
	if err != nil {
		_ = conn.Send(s.svc.PreHandlerError(&diracrpc.Error{Message: "Server Error: Can't generate delegation request"}))
		return nil, err
	}
	_ = conn.Net().SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := conn.Send(diracrpc.OK(value.NewDict("delegate", string(req.PEM)))); err != nil {
		return nil, err
	}
	_ = conn.Net().SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	v, _, err := conn.Recv(delegationLimit)
	if err == nil {
		var chain []byte
		switch v := v.(type) {
		case string:
			chain = []byte(v)
		case []byte:
			chain = v
		default:
			err = fmt.Errorf("%w: the delegated chain is a %T, not a PEM string", credentials.ErrDelegation, v)
		}
		if err == nil {
			now := time.Now
			if s.cfg.TLS != nil && s.cfg.TLS.Time != nil {
				now = s.cfg.TLS.Time
			}
			var cred *credentials.Credential
			if cred, err = req.Accept(chain, peer, now()); err == nil {
				return cred, nil
			}
		}
	}
	_ = conn.Send(s.svc.PreHandlerError(&diracrpc.Error{Message: "Error in receiving delegated proxy: " + err.Error()}))
	if !errors.Is(err, credentials.ErrDelegation) {
		err = fmt.Errorf("%w: %w", credentials.ErrDelegation, err)
	}
	return nil, err
}

// delegationLimit bounds the delegated chain frame: a proxy chain is a few
// kilobytes; ten certificates of 4 KiB leave room for any real one.
const delegationLimit = 64 << 10
