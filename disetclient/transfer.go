package disetclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
)

var _ diracrpc.FileTransport = (*transport)(nil)

// Transfer makes one DISET file transfer on a.URL (DIRAC's TransferClient):
// the proposal ["FileTransfer", <Direction>] on a connection of its own,
// then the transfer of package filetransfer. Until the server accepts the
// proposal nothing has flowed, as for a call.
func (t *transport) Transfer(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	x := a.Transfer
	dir := filetransfer.Direction(x.Direction)
	fi := filetransfer.FileInfo{Direction: dir, FileID: x.FileID, Token: x.Token, Size: x.Size}
	// A file id that cannot be encoded is found before connecting: the
	// server would only see a proposal and a closed connection.
	if _, err := diset.Marshal(fi.Value(), t.opts.Encoding); err != nil {
		return nil, t.local(a.URL, fmt.Errorf("file info: %w", err))
	}
	conn, raw, err := t.propose(ctx, a, dir.Action())
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	// Each wait for the server gets the client's timeout, as a call's does
	// (DIRAC's TransferClient: 600 s), not filetransfer's default.
	o := filetransfer.Options{NoCheckSum: x.NoCheckSum, Accepted: x.Accept, IdleTimeout: t.cfg.Timeout}
	src := &recorder{r: x.Reader}
	dst := &recorder{w: x.Writer}
	var v any
	switch {
	case dir.Upload():
		v, err = filetransfer.Upload(ctx, conn, fi, src, o)
	case dir.Download():
		v, err = filetransfer.Download(ctx, conn, fi, dst, o)
	default:
		v, err = filetransfer.List(ctx, conn, fi, o)
	}
	u := t.urls[a.URL]
	res := &diracrpc.Result{Value: v, Protocol: u.Protocol, URL: a.URL}
	if err == nil {
		return res, nil
	}
	var de *diracrpc.Error
	code := diracrpc.CodeUnreachable
	switch {
	case errors.As(err, &de):
		return nil, err // the service's answer (a refusal, an unknown file, its final S_ERROR)
	case errors.Is(err, filetransfer.ErrAborted) && v != nil && dir.Upload():
		// The receiver needs no more (SandboxStore: the sandbox exists)
		// and answered S_OK: DIRAC's TransferClient returns that answer.
		return res, nil
	case errors.Is(err, filetransfer.ErrAborted) && v != nil && x.Moved() == 0:
		// BundleDelivery: abort before any data, then S_OK(current version).
		return res, fmt.Errorf("%w: %w", diracrpc.ErrNotModified, err)
	case src.err != nil && errors.Is(err, src.err), dst.err != nil && errors.Is(err, dst.err):
		code = diracrpc.CodeUnknown // the caller's reader or writer failed
	case errors.Is(err, context.Canceled):
		code = diracrpc.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, filetransfer.ErrIdle):
		code = diracrpc.CodeTimeout
	case errors.Is(err, diracrpc.ErrProtocol), errors.Is(err, filetransfer.ErrChecksum),
		errors.Is(err, filetransfer.ErrSizeMismatch), errors.Is(err, filetransfer.ErrAborted),
		errors.Is(err, filetransfer.ErrTooLarge):
		code = diracrpc.CodeProtocol
	}
	// Reached once data moved; an upload the server accepted is marked so
	// by the client (Transfer.Accept).
	return nil, &diracrpc.TransportError{Protocol: u.Protocol, URL: a.URL, Code: code,
		Reached: x.Moved() > 0, Err: err}
}

// recorder remembers the error of the caller's reader or writer, to tell
// it from the transfer's own.
type recorder struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// propose connects to a.URL and proposes action, as Attempt does for
// ["RPC", method]; it returns the frame connection once the server
// accepted (R1 = S_OK()), its deadline cleared, and the connection to
// close. Its errors are classified as Attempt's.
func (t *transport) propose(ctx context.Context, a *diracrpc.Attempt, action []any) (*diset.Conn, interface{ Close() error }, error) {
	u, ok := t.urls[a.URL]
	if !ok {
		return nil, nil, t.fail(ctx, a.URL, stageConnect, fmt.Errorf("unknown URL %s", a.URL))
	}
	tm := diracrpc.TimingOf(ctx)
	tm.Begin(a.URL)
	nc, raw, err := t.connect(ctx, u)
	if err != nil {
		return nil, nil, t.fail(ctx, a.URL, stageConnect, err)
	}
	deadline := time.Now().Add(t.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn := diset.NewConn(nc, t.opts.Encoding)
	conn.Prealloc(diset.ClientPrealloc)
	proposal := diracrpc.OK([]any{
		[]any{u.Service(), t.cfg.Setup, t.cfg.VO},
		action,
		t.cfg.ExtraCredentials,
		t.opts.Version,
	})
	fail := func(err error) (*diset.Conn, interface{ Close() error }, error) {
		stop()
		nc.Close()
		return nil, nil, err
	}
	if err := conn.Send(proposal); err != nil {
		return fail(t.fail(ctx, a.URL, stageProposal, err))
	}
	r1, p1, err := conn.Recv(0)
	if err != nil {
		return fail(t.fail(ctx, a.URL, stageProposal, recvErr(p1, err)))
	}
	if _, err := diracrpc.ParseResult(r1); err != nil {
		return fail(refusal(a.URL, u.Protocol, err))
	}
	if !stop() {
		// ctx ended while the proposal was answered: raw is closed.
		return fail(t.fail(ctx, a.URL, stageProposal, ctx.Err()))
	}
	tm.Step(diracrpc.PhaseProposal)
	// From here filetransfer sets a deadline per frame (idle timeout) and
	// watches ctx itself, so that an abort can still be sent.
	_ = nc.SetDeadline(time.Time{})
	return conn, nc, nil
}
