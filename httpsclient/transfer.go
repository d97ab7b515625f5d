package httpsclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

var _ diracrpc.FileTransport = (*transport)(nil)

// The methods of DIRAC's Tornado file transfers.
const (
	methodToClient   = "streamToClient"
	methodFromClient = "streamFromClient"
)

// MaxUploadBytes is the largest file an HTTPS upload takes: its base64 form
// plus the form around it must fit in the server's 100 MiB body limit
// (MaxRequestBytes, Tornado's and package server's).
const MaxUploadBytes = (MaxRequestBytes - 64<<10) / 4 * 3

// Transfer makes one file transfer over HTTPS, as DIRAC's
// TornadoClient.receiveFile and sendFile, streaming both ways. Tornado has
// no bulk transfers: they are CodeNotImplemented.
func (t *transport) Transfer(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	switch a.Transfer.Direction {
	case diracrpc.ToClient:
		return t.download(ctx, a)
	case diracrpc.FromClient:
		return t.upload(ctx, a)
	}
	return nil, &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: a.URL, Code: diracrpc.CodeNotImplemented,
		Err: fmt.Errorf("%w: %s does not exist over HTTPS (DISET only)", diracrpc.ErrNotImplemented, a.Transfer.Direction)}
}

// download POSTs streamToClient(fileID, token) with rawContent and streams
// a raw answer into the writer. A JSON answer is decoded: its S_ERROR is
// returned and never written (DIRAC's client writes it into the file).
func (t *transport) download(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	x := a.Transfer
	body, err := t.form(methodToClient, []any{x.FileID, x.Token}, true)
	if err != nil {
		return nil, local(a.URL, err)
	}
	resp, err := t.post(ctx, a, methodToClient, bytes.NewReader(body), int64(len(body)), formContentType)
	if err != nil {
		return nil, unreached(err)
	}
	defer resp.Body.Close()
	var n int64
	if isJSON(resp) {
		raw, rerr := readAnswer(resp, t.opts.MaxResponseBytes, false)
		if rerr != nil {
			return nil, classify(ctx, a.URL, fmt.Errorf("reading the answer of %s: %w", methodToClient, rerr))
		}
		res, derr := decodeAnswer(resp, &diracrpc.Attempt{URL: a.URL, Method: methodToClient}, raw)
		if derr != nil {
			return nil, derr
		}
		// A handler returning a str: Tornado sends it as JSON.
		var data []byte
		switch v := res.Value.(type) {
		case string:
			data = []byte(v)
		case []byte:
			data = v
		default:
			return nil, statusFailure(resp, a.URL, methodToClient, raw,
				fmt.Errorf("%w: streamToClient returned a %T", diracrpc.ErrProtocol, v))
		}
		m, werr := x.Writer.Write(data)
		n, err = int64(m), werr
	} else {
		x.SetTotal(resp.ContentLength)
		n, err = io.Copy(&writeRecorder{w: x.Writer}, resp.Body)
		// net/http reports a body shorter than its Content-Length as
		// io.ErrUnexpectedEOF; a chunked one cut short likewise.
	}
	if err != nil {
		var wr *writeError
		if errors.As(err, &wr) {
			return nil, &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: a.URL, Code: diracrpc.CodeUnknown,
				Reached: true, Err: fmt.Errorf("writing the data after %d bytes: %w", n, wr.err)}
		}
		err = classify(ctx, a.URL, fmt.Errorf("%s from %s after %d bytes: %w", methodToClient, a.URL, n, err))
		if n == 0 {
			err = unreached(err)
		}
		return nil, err
	}
	return &diracrpc.Result{Value: n, Protocol: diracrpc.HTTPS, URL: a.URL}, nil
}

// writeRecorder tells the caller's writer's failures from the network's.
type writeRecorder struct{ w io.Writer }

type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (r *writeRecorder) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// upload POSTs streamFromClient(fileID, token, size, <bytes>) as DIRAC's
// TornadoClient.sendFile does, but streamed: the form is
// multipart/form-data (Tornado and package server parse it) with args
// last, so the base64 of the data is written as it is read, needs no
// URL-escaping, and the Content-Length is exact from the size. method and
// the client's keywords come first, so that a streaming server can
// authorise before the data.
func (t *transport) upload(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	x := a.Transfer
	if x.Size < 0 {
		return nil, local(a.URL, fmt.Errorf("httpsclient: an HTTPS upload needs the size of the data (diracrpc.WithSize)"))
	}
	if x.Size > MaxUploadBytes {
		return nil, local(a.URL, fmt.Errorf("%w: %d bytes over HTTPS, whose requests are limited to %d MiB (%d bytes of data once base64-encoded); use DISET (dips://) for larger files",
			diracrpc.ErrTooLarge, x.Size, MaxRequestBytes>>20, MaxUploadBytes))
	}
	head, tail, boundary, err := t.multipart(x)
	if err != nil {
		return nil, local(a.URL, err)
	}
	n := int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(x.Size))) + int64(len(tail))
	src := &exactReader{r: x.Reader, left: x.Size}
	body := io.MultiReader(strings.NewReader(head), newBase64Reader(src), strings.NewReader(tail))
	resp, err := t.post(ctx, a, methodFromClient, body, n, "multipart/form-data; boundary="+boundary)
	if err != nil {
		if src.err != nil {
			return nil, &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: a.URL, Code: diracrpc.CodeUnknown,
				Reached: true, Err: fmt.Errorf("reading the data: %w", src.err)}
		}
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := readAnswer(resp, t.opts.MaxResponseBytes, false)
	if err != nil {
		return nil, classify(ctx, a.URL, fmt.Errorf("reading the answer of %s: %w", methodFromClient, err))
	}
	return decodeAnswer(resp, &diracrpc.Attempt{URL: a.URL, Method: methodFromClient}, raw)
}

// multipart returns the form around the base64 data: every field, then
// args up to the base64 text; and what closes args and the form.
func (t *transport) multipart(x *diracrpc.Transfer) (head, tail, boundary string, err error) {
	kw, err := url.ParseQuery(strings.TrimPrefix(string(t.tail), "&"))
	if err != nil {
		return "", "", "", err
	}
	boundary = "diracrpc" + strconv.FormatInt(x.Size, 36) + "x7f3a9c1e5b2d4086"
	id, err := jencode.Marshal(x.FileID)
	if err != nil {
		return "", "", "", fmt.Errorf("httpsclient: encoding the file id: %w", err)
	}
	tok, _ := jencode.Marshal(x.Token)
	var b strings.Builder
	field := func(name, v string) {
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + v + "\r\n")
	}
	field("method", methodFromClient)
	for _, k := range []string{"extraCredentials", "clientVO", "clientSetup"} {
		if v, ok := kw[k]; ok {
			field(k, v[0])
		}
	}
	b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"args\"\r\n\r\n")
	fmt.Fprintf(&b, `[%s, %s, %d, {"__dCls": "b64", "obj": "`, id, tok, x.Size)
	return b.String(), "\"}]\r\n--" + boundary + "--\r\n", boundary, nil
}

// exactReader yields exactly left bytes of r: fewer or more is an error,
// which aborts the request (the server then sees a short body).
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		var one [1]byte
		if n, _ := io.ReadFull(e.r, one[:]); n > 0 {
			e.err = fmt.Errorf("%w: the data is longer than the size declared", diracrpc.ErrTooLarge)
			return 0, e.err
		}
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.left)]
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = fmt.Errorf("the data ended %d bytes before the size declared: %w", e.left, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// base64Reader encodes r as standard base64 while it is read, holding one
// block.
type base64Reader struct {
	r       io.Reader
	in, out []byte
	pending []byte
	eof     bool
}

const base64Block = 3 * 16 << 10 // 48 KiB of data, 64 KiB of text

func newBase64Reader(r io.Reader) *base64Reader {
	return &base64Reader{r: r, in: make([]byte, base64Block), out: make([]byte, base64.StdEncoding.EncodedLen(base64Block))}
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		// Whole multiples of 3 bytes, so that padding only ends the data.
		n, err := io.ReadFull(b.r, b.in)
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			b.eof = true
		default:
			return 0, err
		}
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(b.out[:m], b.in[:n])
		b.pending = b.out[:m]
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

// post sends one transfer request straight through the server's pool (not
// go-retryablehttp: a streamed body cannot be sent again; the client's loop
// decides about other attempts) and classifies a failure or a non-200
// answer.
func (t *transport) post(ctx context.Context, a *diracrpc.Attempt, method string, body io.Reader, n int64, ctype string) (*http.Response, error) {
	tg, ok := t.targets[a.URL]
	if !ok {
		return nil, local(a.URL, fmt.Errorf("httpsclient: unknown URL %s", a.URL))
	}
	tm := diracrpc.TimingOf(ctx)
	tm.Begin(a.URL)
	ctx = tm.HTTPTrace(ctx)
	h, err := t.callHeader(ctype)
	if err != nil {
		return nil, local(a.URL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, body)
	if err != nil {
		return nil, local(a.URL, err)
	}
	req.ContentLength = n
	req.Header = h
	var sent atomic.Bool
	req.Body = sentBody{req.Body, &sent}
	if getBody := req.GetBody; getBody != nil { // a download's form: net/http may send it again
		req.GetBody = func() (io.ReadCloser, error) {
			b, err := getBody()
			return sentBody{b, &sent}, err
		}
	}
	resp, err := tg.srv.client.Do(req)
	if err != nil {
		return nil, notSent(classify(ctx, a.URL, err), sent.Load())
	}
	if resp.StatusCode != http.StatusOK {
		excerpt, _ := readAnswer(resp, bodyExcerpt, true) // inflated, as a call's
		resp.Body.Close()
		return nil, statusFailure(resp, a.URL, method, excerpt)
	}
	return resp, nil
}

// unreached marks a download's failure before any data as not having
// reached the service, as over DISET: a download is a read, and until data
// flowed trying again is safe (after data, the client's rule applies); a
// download the caller cancelled before data is not reached either. An
// answer of the service (an S_ERROR, a 5xx) keeps its mark.
func unreached(err error) error {
	var te *diracrpc.TransportError
	if errors.As(err, &te) && te.Reached {
		switch te.Code {
		case diracrpc.CodeUnreachable, diracrpc.CodeTimeout, diracrpc.CodeCanceled:
			cp := *te
			cp.Reached = false
			return &cp
		}
	}
	return err
}
