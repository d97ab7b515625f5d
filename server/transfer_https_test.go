package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
)

// startTransferHTTP serves svc over plain HTTP (the HTTPS handler without
// TLS; callers are anonymous).
func startTransferHTTP(t *testing.T, svc *server.Service, cfg server.HTTPSConfig) string {
	t.Helper()
	cfg.Logger, cfg.AllowAnonymous = quiet, true
	h := server.NewHTTPS(cfg, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	t.Cleanup(func() { h.Close() })
	return "http://" + l.Addr().String() + "/" + xferName
}

// post makes a DIRAC HTTPS call as TornadoClient does.
func postTransfer(t *testing.T, u, method string, raw bool, args ...any) (*http.Response, []byte) {
	t.Helper()
	a, err := jencode.Marshal(args)
	require.NoError(t, err)
	form := url.Values{"method": {method}, "args": {string(a)}, "clientVO": {"vo"}, "clientSetup": {"Test"}}
	if raw {
		form.Set("rawContent", "True")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil // a cut response: body is nil
	}
	return resp, body
}

func TestTransferHTTPS(t *testing.T) {
	svc, st := newTransferService(t)
	svc.TransferLimits = server.TransferLimits{MaxSize: 4 << 20}
	u := startTransferHTTP(t, svc, server.HTTPSConfig{})

	// streamToClient: the raw bytes.
	resp, body := postTransfer(t, u, "streamToClient", true, "gen:3000000")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	assert.True(t, bytes.Equal(gen(3000000), body))
	require.NoError(t, <-st.ended)
	resp, body = postTransfer(t, u, "streamToClient", true, "gen:0", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body)
	require.NoError(t, <-st.ended)

	// An unknown file: DIRAC's JSON S_ERROR.
	resp, body = postTransfer(t, u, "streamToClient", true, "nope")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json; charset=UTF-8", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"OK": false, "Errno": 0, "Message": "unknown file \"nope\""}`, string(body))
	<-st.ended

	// A handler failing after some bytes: the response is cut short, never
	// complete-looking.
	resp, body = postTransfer(t, u, "streamToClient", true, "fail-after:100000")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Nil(t, body, "a truncated body must not read as complete")
	<-st.ended

	// streamFromClient: bytes in args.
	data := gen(1 << 20)
	resp, body = postTransfer(t, u, "streamFromClient", false, "up-https", "tok", int64(len(data)), data)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	v, err := jencode.Decode(body)
	require.NoError(t, err)
	val := mustOK(t, v)
	assert.Equal(t, md5hex(data), lookup(t, val, "md5"))
	require.NoError(t, <-st.ended)
	st.mu.Lock()
	assert.True(t, bytes.Equal(data, st.files["up-https"]))
	st.mu.Unlock()

	// Lies and limits, refused before the handler runs.
	for _, tc := range []struct {
		args []any
		msg  string
	}{
		{[]any{"liar", "", int64(10), data}, "Received 1048576 bytes, 10 declared"},
		{[]any{"big", "", int64(-1), gen(5 << 20)}, "Exceeded maximum file size"},
		{[]any{"big", "", int64(5 << 20), []byte("x")}, "File size 5242880 exceeds the maximum of 4194304 bytes"},
		{[]any{"short", ""}, "streamFromClient takes 4 arguments (fileId, token, size, data), got 2"},
	} {
		resp, body = postTransfer(t, u, "streamFromClient", false, tc.args...)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		v, err := jencode.Decode(body)
		require.NoError(t, err)
		d := v.(interface{ Lookup(string) (any, bool) })
		msg, _ := d.Lookup("Message")
		assert.Equal(t, tc.msg, msg)
	}

	// A direction with no handler over HTTPS is an unknown method.
	svc2 := server.NewService("Framework/NoTransfers")
	svc2.Logger, svc2.DefaultAuth = quiet, []string{"all"}
	u2 := strings.Replace(startTransferHTTP(t, svc2, server.HTTPSConfig{}), xferName, svc2.Name, 1)
	resp, _ = postTransfer(t, u2, "streamToClient", true, "x")
	assert.Equal(t, http.StatusNotImplemented, resp.StatusCode)

	// Authorisation under FileTransfer/<Direction>: refused for anonymous.
	svc3, _ := newTransferService(t)
	svc3.Authorization = map[string][]string{"FileTransfer/Default": {"authenticated"}, "streamToClient": {"all"}}
	u3 := startTransferHTTP(t, svc3, server.HTTPSConfig{})
	resp, _ = postTransfer(t, u3, "streamToClient", true, "gen:10")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
