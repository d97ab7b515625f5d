package gateway

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
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/server"
)

// ErrTransferToHTTPS: the service is reached over HTTPS, whose file
// streaming is another protocol (streamToClient/streamFromClient); DISET
// transfers go through the gateway to DISET services only.
var ErrTransferToHTTPS = errors.New("file transfers through the gateway need the service over DISET (dips://); its selector mode picks HTTPS")

// transferVersion is the client version the gateway announces to services.
const transferVersion = "diracrpc-gateway"

// serveTransfer relays one DISET file transfer (PROTOCOL.md §4.9) between
// the caller and the service, with the caller's delegated proxy, chunk by
// chunk (memory stays bounded by a few chunks, whatever the size). As in
// DIRAC's gateway the caller's file description comes first; the gateway
// answers it with the service's own answer ("Accepted" or its S_ERROR),
// relays the data phase and then the service's final result.
func (g *Gateway) serveTransfer(ctx context.Context, call *server.DISETCall, ent *entry, dir filetransfer.Direction) error {
	in := call.Frames()
	fv, _, err := call.Recv(filetransfer.ControlFrameLimit)
	if err != nil {
		return err
	}
	fi, err := filetransfer.ParseFileInfo(dir, fv)
	if err != nil {
		_ = call.Reply((&diracrpc.Error{Message: "Error while receiving file description: " + err.Error()}).Dict(false))
		return err
	}
	if max := g.cfg.MaxTransferBytes; max > 0 && dir.Upload() && fi.Size > max {
		_ = call.Reply((&diracrpc.Error{Message: "Transfer size is too big"}).Dict(false))
		return errTooBig
	}
	out, err := g.dialTransfer(ctx, ent, call, dir)
	if err != nil {
		_ = call.Reply(errorDict(call.Service, err))
		return err
	}
	defer out.Close()
	opts := filetransfer.Options{NoCheckSum: filetransfer.NoCheckSum(fi.Token)}
	var res any
	switch {
	case dir.Upload():
		// The service's "Accepted" comes inside Upload: the caller gets
		// "Accepted" first (DIRAC's gateway answers before asking too), and
		// a refusal as the final result.
		if err := call.Reply(diracrpc.OK(filetransfer.Accepted)); err != nil {
			return err
		}
		ro := opts
		ro.DeclaredSize, ro.MaxSize = fi.Size, g.cfg.MaxTransferBytes
		recv := filetransfer.NewReceiver(ctx, in, ro)
		res, err = filetransfer.Upload(ctx, out, fi, recv, opts)
		if !recv.Done() {
			_ = recv.Abort() // the service stopped: stop the caller too
		}
		recv.Release()
	case dir.Download():
		if err := call.Reply(diracrpc.OK(filetransfer.Accepted)); err != nil {
			return err
		}
		snd := filetransfer.NewSender(ctx, in, opts)
		res, err = filetransfer.Download(ctx, out, fi, snd, opts)
		switch {
		case err == nil:
			err = snd.Close()
		case !snd.Done() && errors.Is(err, filetransfer.ErrAborted):
			// The service aborted (DIRAC's answer to an unknown file): abort
			// towards the caller too, who then reads the service's result.
			_ = snd.Abort()
		case !snd.Done():
			_ = snd.Fail("Error while receiving file from the service: " + err.Error())
		}
		snd.Release()
	default: // ListBulk: no data phase
		if err := call.Reply(diracrpc.OK(filetransfer.Accepted)); err != nil {
			return err
		}
		res, err = filetransfer.List(ctx, out, fi, opts)
	}
	if err != nil {
		_ = call.Reply(errorDict(call.Service, err))
		return err
	}
	return call.Reply(diracrpc.OK(res))
}

var errTooBig = errors.New("gateway: transfer size is too big")

// dialTransfer connects to the service's DISET URLs in turn with the
// caller's delegated proxy and proposes the transfer; it returns the frames
// once the service accepted the proposal.
func (g *Gateway) dialTransfer(ctx context.Context, ent *entry, call *server.DISETCall, dir filetransfer.Direction) (*diset.Conn, error) {
	sel, err := g.selectorFor(ent, call.Setup, call.VO)
	if err != nil {
		return nil, err
	}
	c, err := sel.Select(ctx, call.Service)
	if err != nil {
		return nil, err
	}
	if c.Protocol() == diracrpc.HTTPS {
		return nil, ErrTransferToHTTPS
	}
	o := g.cfg.Selector.Client
	cas := o.CAs
	if cas == nil {
		if cas, err = o.Locator.CAs(); err != nil {
			return nil, err
		}
	}
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: ent.cred, CAs: cas})
	if err != nil {
		return nil, err
	}
	var extra any = ""
	switch e := ent.extra.(type) {
	case string:
		extra = e
	case nil:
	default:
		extra = e // a [DN, group] list, as the caller sent it
	}
	var errs []error
	for _, raw := range c.URLs() {
		u, err := endpoint.ParseURL(raw)
		if err != nil || u.Protocol != diracrpc.DIPS {
			continue
		}
		conn, err := proposeTransfer(ctx, ct, u, []any{
			[]any{call.Service, call.Setup, call.VO}, dir.Action(), extra, transferVersion})
		if err == nil {
			return conn, nil
		}
		var de *diracrpc.Error
		if errors.As(err, &de) {
			return nil, err // the service answered: no other URL would differ
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no dips:// URL for %s", call.Service)
	}
	return nil, errors.Join(errs...)
}

func proposeTransfer(ctx context.Context, ct *credentials.ClientTLS, u *endpoint.URL, proposal []any) (*diset.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: ct.Config(u.Host)}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Host, strconv.Itoa(u.Port)))
	if err != nil {
		//lint:ignore ST1005 DIRAC's own wording (BaseClient), relayed to DIRAC clients.
		return nil, fmt.Errorf("Can't connect to %s: %w", u, err)
	}
	conn := diset.NewConn(nc, diset.JSON)
	_ = nc.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := conn.Send(diracrpc.OK(proposal)); err != nil {
		nc.Close()
		return nil, err
	}
	r1, _, err := conn.Recv(filetransfer.ControlFrameLimit)
	if err == nil {
		_, err = diracrpc.ParseResult(r1)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{}) // the data phase sets its own
	return conn, nil
}
