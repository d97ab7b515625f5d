package httpsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/diracgo/diracrpc"
)

// sinkKey carries ReceiveFile's writer to the transport, through the
// client's loop (which stays the one place for retries and failover).
type sinkKey struct{}

// sink counts what was written: once bytes are out, the call must not be
// sent again.
type sink struct {
	w io.Writer
	n int64
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.n += int64(n)
	return n, err
}

func sinkOf(ctx context.Context) *sink {
	s, _ := ctx.Value(sinkKey{}).(*sink)
	return s
}

// ErrNotHTTPS: ReceiveFile needs a client over HTTPS.
var ErrNotHTTPS = errors.New("httpsclient: the client does not speak HTTPS")

// ReceiveFile downloads a file as DIRAC's TornadoClient.receiveFile does
// (method streamToClient, rawContent) and streams the body into w, never
// holding it in memory. An S_ERROR answer is returned as a *diracrpc.Error
// instead of being written into w (DIRAC writes it into the file). The
// Result's Value is the number of bytes written (int64).
//
// The call goes through c's loop (failover, breakers, stub); once bytes have
// been written to w it is never sent again.
func ReceiveFile(ctx context.Context, c *diracrpc.Client, w io.Writer, args ...any) (*diracrpc.Result, error) {
	if c.Protocol() != diracrpc.HTTPS {
		return nil, ErrNotHTTPS
	}
	return c.Call(context.WithValue(ctx, sinkKey{}, &sink{w: w}), "streamToClient", args...)
}

// receive streams a 200 answer of streamToClient into the sink.
func (t *transport) receive(ctx context.Context, a *diracrpc.Attempt, resp *http.Response, s *sink) (*diracrpc.Result, error) {
	before := s.n
	var err error
	if isJSON(resp) {
		// The handler returned a dictionary (typically an S_ERROR):
		// Tornado sent it as JSON instead of raw content.
		raw, rerr := readLimited(resp.Body, t.opts.MaxResponseBytes)
		if rerr != nil {
			return nil, classify(ctx, a.URL, fmt.Errorf("reading the answer of %s: %w", a.Method, rerr))
		}
		res, derr := decodeAnswer(resp, a, raw)
		if derr != nil {
			return nil, derr
		}
		var data []byte
		switch v := res.Value.(type) {
		case string:
			data = []byte(v)
		case []byte:
			data = v
		default:
			return nil, statusFailure(resp, a.URL, a.Method, raw,
				fmt.Errorf("%w: streamToClient returned a %T", diracrpc.ErrProtocol, v))
		}
		_, err = s.Write(data)
	} else {
		_, err = io.Copy(s, resp.Body)
	}
	n := s.n - before
	if err != nil {
		err = fmt.Errorf("httpsclient: %s from %s after %d bytes: %w", a.Method, a.URL, n, err)
		if s.n > 0 {
			// Part of the file is written: final, whatever the call's marks.
			return nil, &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: a.URL, Code: diracrpc.CodeUnknown,
				Reached: true, Err: err}
		}
		return nil, classify(ctx, a.URL, err)
	}
	return &diracrpc.Result{Value: n, Protocol: diracrpc.HTTPS, URL: a.URL}, nil
}

func isJSON(resp *http.Response) bool {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// ErrFileTooLarge: SendFile's data cannot fit in one request under the
// server's 100 MiB body limit once base64-encoded.
var ErrFileTooLarge = errors.New("httpsclient: file too large for one HTTPS request")

// ErrRequestTooLarge: the encoded request is over the server's 100 MiB body
// limit (MaxRequestBytes); it is refused before sending.
var ErrRequestTooLarge = errors.New("httpsclient: request body over 100 MiB")

// MaxSendFileBytes is the largest file SendFile accepts: the server's body
// limit leaves room for about this much once base64 and form encoding are
// applied.
const MaxSendFileBytes = 64 << 20

// SendFile uploads the content of r as DIRAC's TornadoClient.sendFile does:
// it reads it whole and calls streamFromClient(fileID, "", size, data) as a
// normal call through c, the bytes travelling base64-encoded inside args.
// Files over MaxSendFileBytes are refused before anything is sent.
func SendFile(ctx context.Context, c *diracrpc.Client, fileID any, r io.Reader) (*diracrpc.Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSendFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("httpsclient: reading the file: %w", err)
	}
	if len(data) > MaxSendFileBytes {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrFileTooLarge, MaxSendFileBytes)
	}
	return c.Call(ctx, "streamFromClient", fileID, "", int64(len(data)), data)
}
