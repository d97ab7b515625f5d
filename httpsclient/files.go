package httpsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

// ReceiveFile downloads a file as DIRAC's TornadoClient.receiveFile does
// (method streamToClient, rawContent) and streams the body into w, never
// holding it in memory. An S_ERROR answer is returned as a *diracrpc.Error
// instead of being written into w (DIRAC writes it into the file). The
// Result's Value is the number of bytes written (int64).
//
// Once bytes have been written to w the call is never retried.
func (c *Client) ReceiveFile(ctx context.Context, w io.Writer, args ...any) (_ *diracrpc.Result, err error) {
	const method = "streamToClient"
	if args == nil {
		args = []any{}
	}
	defer c.attachStub(&err, method, args)
	body, err := c.Form(method, args, true)
	if err != nil {
		return nil, err
	}
	var res *diracrpc.Result
	err = c.each(ctx, method, body, func(url string, resp *http.Response, _ bool) error {
		var n int64
		if isJSON(resp) {
			// The handler returned a dictionary (typically an S_ERROR):
			// Tornado sent it as JSON instead of raw content.
			raw, err := readLimited(resp.Body, c.maxResponse())
			if err != nil {
				return fmt.Errorf("httpsclient: reading the answer of %s from %s: %w", method, url, err)
			}
			v, err := jencode.Decode(raw)
			if err != nil {
				return statusError(resp, url, method, raw, fmt.Errorf("%w: %w", diracrpc.ErrProtocol, err))
			}
			val, err := diracrpc.ParseResult(v)
			if err != nil {
				return err
			}
			var data []byte
			switch val := val.(type) {
			case string:
				data = []byte(val)
			case []byte:
				data = val
			default:
				return statusError(resp, url, method, raw, fmt.Errorf("%w: streamToClient returned a %T", diracrpc.ErrProtocol, val))
			}
			m, err := w.Write(data)
			n = int64(m)
			if err != nil {
				return fmt.Errorf("httpsclient: writing the file: %w", err)
			}
		} else {
			n, err = io.Copy(w, resp.Body)
			if err != nil {
				// Not Retryable: part of the file is already written.
				return fmt.Errorf("httpsclient: %s from %s after %d bytes: %w", method, url, n, err)
			}
		}
		res = &diracrpc.Result{Value: n, Protocol: diracrpc.HTTPS, URL: url, Stub: c.stub(method, args)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
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
// normal call, the bytes travelling base64-encoded inside args. Files over
// MaxSendFileBytes are refused before anything is sent.
func (c *Client) SendFile(ctx context.Context, fileID any, r io.Reader) (*diracrpc.Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSendFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("httpsclient: reading the file: %w", err)
	}
	if len(data) > MaxSendFileBytes {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrFileTooLarge, MaxSendFileBytes)
	}
	return c.Call(ctx, "streamFromClient", fileID, "", int64(len(data)), data)
}
