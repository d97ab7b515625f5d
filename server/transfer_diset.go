package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/value"
)

// serveTransfer serves a FileTransfer action after R1 (PROTOCOL.md §4.9):
// file info, "Accepted" or a refusal, the data phase run by the handler,
// the final result (sent with final). req was authorised for
// "FileTransfer/<action>"; sc counts the bytes moved.
func (s *DISET) serveTransfer(ctx context.Context, conn *diset.Conn, req *Request, action string,
	send func(*value.Dict) bool, final func(*value.Dict), sc *serverCall, log *slog.Logger) {
	nc := conn.Net()
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	v, _, err := conn.Recv(filetransfer.ControlFrameLimit)
	if err != nil {
		log.Info("diracrpc server: cannot receive the file info", "direction", action, "err", err)
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	d := Direction(action)
	fi, err := filetransfer.ParseFileInfo(d, v)
	if err != nil && d.Valid() {
		log.Info("diracrpc server: invalid file info", "direction", action, "err", err)
		final(errDict("Invalid file info: " + err.Error()))
		return
	}
	fi.Direction = d
	release, refusal := s.svc.beginTransfer(ctx, fi)
	if refusal != nil {
		final(s.svc.PreHandlerError(refusal))
		return
	}
	defer release()
	if !send(diracrpc.OK(filetransfer.Accepted)) {
		return
	}
	lim := s.svc.transferLimits()
	opts := filetransfer.Options{IdleTimeout: lim.IdleTimeout, DeclaredSize: -1,
		NoCheckSum: filetransfer.NoCheckSum(fi.Token)}
	tr := &TransferRequest{Request: req, Direction: d, FileID: fi.FileID, Token: fi.Token, Size: fi.Size}
	req.Args = fi.Value()
	var (
		rcv *filetransfer.Receiver
		snd *filetransfer.Sender
	)
	switch {
	case d.Upload():
		opts.MaxSize, opts.DeclaredSize = lim.MaxSize, fi.Size
		rcv = filetransfer.NewReceiver(ctx, conn, opts)
		defer rcv.Release()
		tr.Body = rcv
	case d.Download():
		opts.NoCheckSum = false // the MD5 costs little and never hurts a receiver
		snd = filetransfer.NewSender(ctx, conn, opts)
		defer snd.Release()
		tr.Writer = snd
	}
	o := s.svc.runTransfer(ctx, tr)
	if rcv != nil {
		sc.transferred(d, rcv.Received())
	} else if snd != nil {
		defer func() { sc.transferred(d, snd.Sent()) }()
	}
	res := o.result
	switch {
	case rcv != nil:
		// Whatever the handler did, the data phase ends here, so the
		// client is not left waiting for an answer to its chunk.
		if !rcv.Done() {
			_ = rcv.Abort()
			if o.kind == returnedValue {
				res = errDict("Incomplete transfer")
			}
		} else if err := rcv.Err(); err != nil && o.kind == returnedValue {
			// The handler ignored a failed upload.
			res = errDict(transferMessage(err))
		}
	case snd != nil:
		switch {
		case o.kind == returnedValue:
			if err := snd.Close(); err != nil && !errors.Is(err, filetransfer.ErrAborted) {
				log.Info("diracrpc server: transfer to the client failed", "direction", action, "err", err)
				return
			}
		case snd.Sent() == 0:
			// Failed before any data: abort, as DIRAC's handlers answer an
			// unknown file, then the error.
			if err := snd.Abort(); err != nil {
				return
			}
		}
		// Failed after some data: the error takes the place of the next
		// chunk (FileHelper.sendError), and is the final result.
		if err := snd.Err(); err != nil && !errors.Is(err, filetransfer.ErrAborted) {
			return // the connection is broken
		}
	}
	final(res)
}
