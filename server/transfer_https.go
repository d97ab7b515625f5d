package server

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/filetransfer"
)

// serveTransfer serves DIRAC's Tornado streaming methods from a transfer
// handler (PROTOCOL.md §5.7): streamToClient(fileId, token="") answers the
// raw bytes (application/octet-stream; an S_ERROR before any byte is JSON,
// as from DIRAC; a failure after some bytes cuts the connection, so the
// client sees a truncated body, never a complete-looking one);
// streamFromClient(fileId, token, size, data) carries the bytes base64
// inside args and is answered as an RPC. The request body is already read
// within HTTPSConfig.MaxBodyBytes. req was authorised for
// "FileTransfer/<Direction>".
func (h *HTTPS) serveTransfer(w http.ResponseWriter, r *http.Request, svc *Service, req *Request, d Direction) {
	ctx := r.Context()
	fi, data, err := httpsFileInfo(d, req.Args)
	if err != nil {
		h.writeJSON(w, r, errDict(err.Error()), jsonType)
		return
	}
	release, refusal := svc.beginTransfer(ctx, fi)
	if refusal != nil {
		h.writeJSON(w, r, svc.PreHandlerError(refusal), jsonType)
		return
	}
	defer release()
	lim := svc.transferLimits()
	tr := &TransferRequest{Request: req, Direction: d, FileID: fi.FileID, Token: fi.Token, Size: fi.Size}
	if d.Upload() {
		switch {
		case lim.MaxSize > 0 && int64(len(data)) > lim.MaxSize:
			h.writeJSON(w, r, errDict("Exceeded maximum file size"), jsonType)
			return
		case fi.Size >= 0 && int64(len(data)) != fi.Size:
			h.writeJSON(w, r, errDict(fmt.Sprintf("Received %d bytes, %d declared", len(data), fi.Size)), jsonType)
			return
		}
		body := bytes.NewReader(data)
		tr.Body = body
		o := svc.runTransfer(ctx, tr)
		callOf(w).transferred(d, int64(len(data)-body.Len()))
		switch {
		case o.kind == failed:
			writePage(w, http.StatusInternalServerError)
		case o.kind == returnedValue && body.Len() > 0:
			h.writeJSON(w, r, errDict("Incomplete transfer"), jsonType)
		default:
			h.writeJSON(w, r, o.result, jsonType)
		}
		return
	}
	rw := &rawWriter{w: w, rc: http.NewResponseController(w), idle: lim.IdleTimeout}
	defer func() {
		if rw.wrote {
			// The connection may serve further requests: no deadline left.
			_ = rw.rc.SetWriteDeadline(time.Time{})
		}
	}()
	tr.Writer = rw
	o := svc.runTransfer(ctx, tr)
	callOf(w).transferred(d, rw.n)
	switch {
	case rw.wrote && o.kind != returnedValue:
		// Too late for an error answer: cut the response short.
		callOf(w).fail(diracrpc.CodeServerFailure)
		panic(http.ErrAbortHandler)
	case o.kind == failed:
		writePage(w, http.StatusInternalServerError)
	case o.kind == returnedError:
		h.writeJSON(w, r, o.result, jsonUTF8Type)
	case !rw.wrote:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
}

// httpsFileInfo reads the arguments of streamToClient (fileId, token="")
// and streamFromClient (fileId, token, size, data).
func httpsFileInfo(d Direction, args []any) (filetransfer.FileInfo, []byte, error) {
	fi := filetransfer.FileInfo{Direction: d, Size: -1}
	if d == ToClient {
		if len(args) < 1 || len(args) > 2 {
			return fi, nil, fmt.Errorf("streamToClient takes 1 or 2 arguments (fileId, token), got %d", len(args))
		}
		fi.FileID = args[0]
		if len(args) == 2 {
			tok, ok := args[1].(string)
			if !ok {
				return fi, nil, fmt.Errorf("streamToClient: token is a %T, not a string", args[1])
			}
			fi.Token = tok
		}
		return fi, nil, nil
	}
	if len(args) != 4 {
		return fi, nil, fmt.Errorf("streamFromClient takes 4 arguments (fileId, token, size, data), got %d", len(args))
	}
	parsed, err := filetransfer.ParseFileInfo(d, okResult(args[:3]))
	if err != nil {
		return fi, nil, fmt.Errorf("streamFromClient: %w", err)
	}
	var data []byte
	switch v := args[3].(type) {
	case []byte:
		data = v
	case string:
		data = []byte(v)
	default:
		return fi, nil, fmt.Errorf("streamFromClient: data is a %T, not bytes", args[3])
	}
	return parsed, data, nil
}

func okResult(v any) any { return diracrpc.OK(v) }

// rawWriter streams a download as the response body: headers on the first
// write, each write bounded by the idle timeout.
type rawWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	idle  time.Duration
	wrote bool
	n     int64 // bytes written
}

func (rw *rawWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !rw.wrote {
		rw.wrote = true
		rw.w.Header().Set("Content-Type", "application/octet-stream")
		rw.w.WriteHeader(http.StatusOK)
	}
	_ = rw.rc.SetWriteDeadline(time.Now().Add(rw.idle))
	n, err := rw.w.Write(p)
	rw.n += int64(n)
	return n, err
}
