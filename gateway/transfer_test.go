package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// transferService keeps uploads in memory and serves them back; "who"
// downloads the caller's DN, so the identity is checked.
func transferService() *server.Service {
	var mu sync.Mutex
	files := map[string][]byte{}
	svc := testharness.NewTestService(service)
	svc.HandleTransfer(server.FromClient, server.Transfer{Auth: []string{"authenticated"}, Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		if tr.FileID == "refuse" {
			return nil, &diracrpc.Error{Message: "refused by the service"}
		}
		b, err := io.ReadAll(tr.Body)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		files[fmt.Sprint(tr.FileID)] = b
		mu.Unlock()
		sum := md5.Sum(b)
		return value.NewDict("size", int64(len(b)), "md5", hex.EncodeToString(sum[:]), "by", tr.Credentials.Username), nil
	}})
	svc.HandleTransfer(server.ToClient, server.Transfer{Auth: []string{"authenticated"}, Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		id := fmt.Sprint(tr.FileID)
		if id == "who" {
			_, err := io.WriteString(tr.Writer, tr.Credentials.DN)
			return "ok", err
		}
		mu.Lock()
		b, ok := files[id]
		mu.Unlock()
		if !ok {
			return nil, &diracrpc.Error{Message: "no such file " + id}
		}
		_, err := tr.Writer.Write(b)
		return "sent", err
	}})
	return svc
}

// transferConn opens a DISET connection to url as proxy and proposes the
// transfer d: what DIRAC's TransferClient does, delegation included.
func transferConn(t *testing.T, url string, proxy *credentials.Credential, cas *credentials.CAStore, d filetransfer.Direction) *diset.Conn {
	t.Helper()
	u, err := endpoint.ParseURL(url)
	require.NoError(t, err)
	conn := dial(t, u, proxy, cas)
	require.NoError(t, conn.Send(diracrpc.OK([]any{[]any{u.Service(), "Test", "vo"}, d.Action(), "", "test"})))
	r1, _, err := conn.Recv(0)
	require.NoError(t, err)
	v, err := diracrpc.ParseResult(r1)
	require.NoError(t, err)
	if d, ok := v.(*value.Dict); ok {
		csr, _ := d.Lookup("delegate")
		chain, err := credentials.SignProxyRequest(proxy, []byte(csr.(string)), 0)
		require.NoError(t, err)
		require.NoError(t, conn.Send(string(chain)))
		r1, _, err = conn.Recv(0)
		require.NoError(t, err)
		_, err = diracrpc.ParseResult(r1)
		require.NoError(t, err)
	}
	return conn
}

// dial opens a DISET connection to u (on 127.0.0.1) as proxy, closed at
// the end of the test; every frame has a deadline.
func dial(t *testing.T, u *endpoint.URL, proxy *credentials.Credential, cas *credentials.CAStore) *diset.Conn {
	t.Helper()
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: proxy, CAs: cas})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := tls.Dialer{Config: ct.Config(u.Host)}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(u.Port)))
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(time.Minute)))
	return diset.NewConn(nc, diset.JSON)
}

// proposeTo sends an RPC proposal naming service (whatever the URL's path)
// to the DISET server at url.
func proposeTo(t *testing.T, url string, proxy *credentials.Credential, cas *credentials.CAStore, service string) *diset.Conn {
	t.Helper()
	u, err := endpoint.ParseURL(url)
	require.NoError(t, err)
	conn := dial(t, u, proxy, cas)
	require.NoError(t, conn.Send(diracrpc.OK([]any{[]any{service, "Test", "vo"}, []any{"RPC", "whoami"}, "", "test"})))
	return conn
}

// TestGatewayTransfers: uploads and downloads pass through the gateway
// chunk by chunk (4 MiB, several chunks), with the caller's identity at the
// service; a service's refusal and an unknown file come back as its
// S_ERROR; a transfer to a service reached over HTTPS is refused clearly.
func TestGatewayTransfers(t *testing.T) {
	w := newWorld(t, worldOpts{mode: selector.DISET, svc: transferService()})
	proxy, cas := w.h.Files.ProxyCred, w.h.CA.Store()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("diracrpc gateway "), 4<<20/17)
	sum := md5.Sum(data)

	res, err := filetransfer.Upload(ctx, transferConn(t, w.disetURL, proxy, cas, filetransfer.FromClient),
		filetransfer.FileInfo{Direction: filetransfer.FromClient, FileID: "big", Size: int64(len(data))}, bytes.NewReader(data), filetransfer.Options{})
	require.NoError(t, err)
	d := res.(*value.Dict)
	size, _ := d.Lookup("size")
	md, _ := d.Lookup("md5")
	by, _ := d.Lookup("by")
	assert.EqualValues(t, len(data), size)
	assert.Equal(t, hex.EncodeToString(sum[:]), md)
	assert.Equal(t, "testuser", by, "the service sees the caller")

	var got bytes.Buffer
	res, err = filetransfer.Download(ctx, transferConn(t, w.disetURL, proxy, cas, filetransfer.ToClient),
		filetransfer.FileInfo{Direction: filetransfer.ToClient, FileID: "big"}, &got, filetransfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, "sent", res)
	assert.True(t, bytes.Equal(data, got.Bytes()))

	got.Reset()
	_, err = filetransfer.Download(ctx, transferConn(t, w.disetURL, proxy, cas, filetransfer.ToClient),
		filetransfer.FileInfo{Direction: filetransfer.ToClient, FileID: "who"}, &got, filetransfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, credentials.SubjectDN(w.h.Files.User.Leaf()), got.String())

	_, err = filetransfer.Download(ctx, transferConn(t, w.disetURL, proxy, cas, filetransfer.ToClient),
		filetransfer.FileInfo{Direction: filetransfer.ToClient, FileID: "missing"}, io.Discard, filetransfer.Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "no such file missing")

	_, err = filetransfer.Upload(ctx, transferConn(t, w.disetURL, proxy, cas, filetransfer.FromClient),
		filetransfer.FileInfo{Direction: filetransfer.FromClient, FileID: "refuse", Size: 3}, bytes.NewReader([]byte("abc")), filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "refused by the service")

	wh := newWorld(t, worldOpts{mode: selector.HTTPS, svc: transferService()})
	_, err = filetransfer.Download(ctx, transferConn(t, wh.disetURL, wh.h.Files.ProxyCred, wh.h.CA.Store(), filetransfer.ToClient),
		filetransfer.FileInfo{Direction: filetransfer.ToClient, FileID: "who"}, io.Discard, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "need the service over DISET")
}
