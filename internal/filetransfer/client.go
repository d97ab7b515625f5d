package filetransfer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/diracgo/diracrpc"
)

// The client's half of a whole transfer (TransferClient). Each function
// starts right after the proposal ["FileTransfer", fi.Direction] was
// accepted (R1 = S_OK()), and returns the final result's S_OK value, or the
// S_ERROR as a *diracrpc.Error. The connection is then spent: the caller
// closes it.

// Start sends the file info and reads the server's answer: nil for
// "Accepted", the S_ERROR otherwise (the server then closes).
func Start(ctx context.Context, f Frames, fi FileInfo, o Options) error {
	l := newLink(ctx, f, &o)
	defer l.release()
	if err := l.send(okFrame(fi.Value())); err != nil {
		return err
	}
	v, err := l.recv(ResultFrameLimit)
	if err != nil {
		return err
	}
	if _, err = diracrpc.ParseResult(v); err == nil && o.Accepted != nil {
		o.Accepted()
	}
	return err
}

// Final reads the final result of the transfer.
func Final(ctx context.Context, f Frames, o Options) (any, error) {
	l := newLink(ctx, f, &o)
	defer l.release()
	v, err := l.recv(ResultFrameLimit)
	if err != nil {
		return nil, err
	}
	return diracrpc.ParseResult(v)
}

// finalAfterAbort reads the final result within the abort grace once ctx is
// done, so the server is seen to finish; its answer is then only logged by
// the caller's error (the cancellation wins).
func finalAfterAbort(ctx context.Context, f Frames, o Options) (any, error) {
	l := newLink(ctx, f, &o)
	l.aborting = true
	defer l.release()
	v, err := l.recv(ResultFrameLimit)
	if err != nil {
		return nil, err
	}
	return diracrpc.ParseResult(v)
}

// Upload runs a FromClient or BulkFromClient transfer: file info, the bytes
// of src in chunks, the end with the MD5, the final result. If ctx ends or
// src fails, the upload is stopped with S_ERROR in place of a chunk
// (FileHelper.sendError), which every DIRAC receiver takes as a failure; the
// abort flag would make a DIRAC receiver keep the truncated data as the
// whole file.
func Upload(ctx context.Context, f Frames, fi FileInfo, src io.Reader, o Options) (any, error) {
	if !fi.Direction.Upload() {
		return nil, fmt.Errorf("filetransfer: Upload with direction %s", fi.Direction)
	}
	if err := Start(ctx, f, fi, o); err != nil {
		return nil, err
	}
	s := NewSender(ctx, f, o)
	defer s.Release()
	_, rerr := s.ReadFrom(src)
	if rerr == nil {
		rerr = s.Close()
	}
	if rerr == nil {
		return Final(ctx, f, o)
	}
	switch {
	case ctx.Err() != nil:
		_ = s.Fail("Transfer cancelled by the client")
		_, _ = finalAfterAbort(ctx, f, o)
		return nil, fmt.Errorf("filetransfer: upload: %w", context.Cause(ctx))
	case s.Done():
		// The server stopped the data phase: its final result tells why.
		return finalOr(ctx, f, o, rerr)
	case s.Err() != nil:
		// A frame failed (network, idle timeout): nothing more can be said
		// on this connection.
		return nil, fmt.Errorf("filetransfer: upload: the connection failed: %w", rerr)
	}
	// src failed: tell the server, then read its answer.
	_ = s.Fail("Error while sending file: " + rerr.Error())
	_, _ = Final(ctx, f, o)
	return nil, fmt.Errorf("filetransfer: upload: the caller's reader failed: %w", rerr)
}

// finalOr reads the final result after the peer ended the data phase early
// (err): an S_ERROR final result is the better error; an S_OK one does not
// make the transfer a success, but after an abort its value comes with
// ErrAborted (BundleDelivery answers an up-to-date bundle with an abort
// and S_OK(version)).
func finalOr(ctx context.Context, f Frames, o Options, err error) (any, error) {
	var de *diracrpc.Error
	if errors.As(err, &de) {
		return nil, err // the peer's S_ERROR was its final answer
	}
	v, ferr := Final(ctx, f, o)
	switch {
	case errors.As(ferr, &de):
		return nil, fmt.Errorf("%w (%w)", ferr, err)
	case ferr == nil && errors.Is(err, ErrAborted):
		return v, err
	}
	return nil, err
}

// Download runs a ToClient or BulkToClient transfer, writing the data to
// dst as it arrives. If ctx ends or dst fails, the transfer is stopped with
// the abort flag (FileHelper.markAsTransferred), so the server's sender
// stops, and the final result is read within the abort grace. A server that
// aborts before any data (DIRAC's answer to an unknown file) gives its final
// S_ERROR; an abort with an S_OK final result returns that value and
// ErrAborted.
func Download(ctx context.Context, f Frames, fi FileInfo, dst io.Writer, o Options) (any, error) {
	if !fi.Direction.Download() {
		return nil, fmt.Errorf("filetransfer: Download with direction %s", fi.Direction)
	}
	if err := Start(ctx, f, fi, o); err != nil {
		return nil, err
	}
	o.DeclaredSize = -1
	o.AnswerFirst = o.MaxSize <= 0
	r := NewReceiver(ctx, f, o)
	defer r.Release()
	_, err := r.WriteTo(dst)
	if err == nil {
		return Final(ctx, f, o)
	}
	switch {
	case ctx.Err() != nil:
		_ = r.Abort()
		_, _ = finalAfterAbort(ctx, f, o)
		return nil, fmt.Errorf("filetransfer: download: %w", context.Cause(ctx))
	case r.Done():
		return finalOr(ctx, f, o, err)
	case r.l.rbroken || r.l.wbroken:
		// A frame failed (network, idle timeout): nothing more can be said
		// on this connection.
		return nil, fmt.Errorf("filetransfer: download: the connection failed: %w", err)
	case r.Err() != nil:
		// An invalid frame: stop the server's sender as below.
		_ = r.Abort()
		_, _ = Final(ctx, f, o)
		return nil, fmt.Errorf("filetransfer: download: %w", err)
	}
	// dst failed: stop the server's sender, then read its answer.
	_ = r.Abort()
	_, _ = Final(ctx, f, o)
	return nil, fmt.Errorf("filetransfer: download: the caller's writer failed: %w", err)
}

// List runs a ListBulk transfer: file info, then the final result (the
// listing), read with DIRAC's limit.
func List(ctx context.Context, f Frames, fi FileInfo, o Options) (any, error) {
	if fi.Direction != ListBulk {
		return nil, fmt.Errorf("filetransfer: List with direction %s", fi.Direction)
	}
	if err := Start(ctx, f, fi, o); err != nil {
		return nil, err
	}
	return Final(ctx, f, o)
}
