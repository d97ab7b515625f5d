package disetclient_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/value"
)

// fakeSender is a dip:// server whose ToClient transfers are scripted, to
// play what the Go server never does (wrong MD5, dying mid-stream,
// BundleDelivery's abort with S_OK). It counts connections.
type fakeSender struct {
	url   string
	conns atomic.Int64
}

func newFakeSender(t *testing.T, script func(c *diset.Conn)) *fakeSender {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeSender{url: "dip://" + l.Addr().String() + "/Framework/Fake"}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			c := diset.NewConn(nc, diset.JSON)
			if _, _, err := c.Recv(0); err == nil { // proposal
				_ = c.Send(diracrpc.OK(nil))
				if _, _, err := c.Recv(0); err == nil { // file info
					_ = c.Send(diracrpc.OK("Accepted"))
					script(c)
				}
			}
			nc.Close()
		}
	}()
	return f
}

func chunk(b []byte) *value.Dict { return diracrpc.OK([]any{true, b}) }

func md5of(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func fakeClient(t *testing.T, f *fakeSender) *diracrpc.Client {
	// Two URLs of the same server: a second attempt would show as a second
	// connection.
	c, err := disetclient.New([]string{f.url, f.url}, diracrpc.Options{BackoffMin: time.Millisecond,
		Breaker: diracrpc.BreakerSettings{Disabled: true}}, disetclient.Options{})
	require.NoError(t, err)
	return c
}

func TestTransferMD5Mismatch(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1000)
	f := newFakeSender(t, func(c *diset.Conn) {
		_ = c.Send(chunk(data))
		_, _, _ = c.Recv(0)
		_ = c.Send(diracrpc.OK([]any{false, md5of([]byte("other"))}))
		_ = c.Send(diracrpc.OK(nil))
	})
	c := fakeClient(t, f)
	var buf bytes.Buffer
	_, err := c.Receive(diracrpc.WithIdempotent(ctxT(t)), "file", &buf)
	require.ErrorIs(t, err, diracrpc.ErrChecksum)
	assert.Equal(t, diracrpc.CodeProtocol, diracrpc.CodeOf(err))
	assert.True(t, diracrpc.Reached(err))
	assert.Equal(t, int64(1), f.conns.Load(), "data flowed into a writer that cannot rewind: not again")

	// NoCheckSum in the token: the same transfer succeeds.
	buf.Reset()
	_, err = c.Receive(ctxT(t), "file", &buf, diracrpc.WithToken("NoCheckSum"))
	require.NoError(t, err)
	assert.Equal(t, data, buf.Bytes())
}

func TestTransferServerStopsMidStream(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {
		_ = c.Send(chunk(bytes.Repeat([]byte("y"), 5000)))
		_, _, _ = c.Recv(0)
		// and the server dies
	})
	c := fakeClient(t, f)
	var buf bytes.Buffer
	_, err := c.Receive(ctxT(t), "file", &buf)
	require.Error(t, err)
	assert.Equal(t, diracrpc.CodeUnreachable, diracrpc.CodeOf(err))
	assert.True(t, diracrpc.Reached(err))
	assert.Equal(t, int64(1), f.conns.Load(), "never retried once data has flowed")
	assert.Equal(t, 5000, buf.Len(), "what came is documented as written")
}

// TestTransferRetriedBeforeData: a server that dies after accepting but
// before any data is tried again (nothing flowed), as a call would be.
func TestTransferRetriedBeforeData(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {})
	c := fakeClient(t, f)
	_, err := c.Receive(ctxT(t), "file", &bytes.Buffer{})
	require.Error(t, err)
	assert.Greater(t, f.conns.Load(), int64(1))
}

// TestTransferNotModified plays BundleDelivery's answer to a current
// version: abort before any data, then S_OK(version).
func TestTransferNotModified(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {
		abort := diracrpc.OK([]any{false, ""})
		abort.Set("AbortTransfer", true)
		_ = c.Send(abort)
		_, _, _ = c.Recv(0)
		_ = c.Send(diracrpc.OK("v42"))
	})
	c := fakeClient(t, f)
	var buf bytes.Buffer
	res, err := c.Receive(ctxT(t), []any{"CAs", "v42"}, &buf)
	require.ErrorIs(t, err, diracrpc.ErrNotModified)
	require.NotNil(t, res)
	assert.Equal(t, "v42", res.Value)
	assert.Zero(t, buf.Len())
	assert.Equal(t, int64(1), f.conns.Load())
}

// TestTransferInvalidChunkAfterAnswer: the client answers a chunk before
// decoding it; one that turns out invalid fails the download with the
// abort flag on the next frame, and nothing is retried.
func TestTransferInvalidChunkAfterAnswer(t *testing.T) {
	aborted := make(chan bool, 1)
	f := newFakeSender(t, func(c *diset.Conn) {
		_ = c.Send(diracrpc.OK([]any{true, int64(5)}))
		_, _, _ = c.Recv(0) // answered first
		_ = c.Send(chunk([]byte("more")))
		v, _, err := c.Recv(0)
		d, _ := v.(*value.Dict)
		flag, _ := d.Lookup("AbortTransfer")
		aborted <- err == nil && flag == true
		_ = c.Send(diracrpc.OK(nil))
	})
	c := fakeClient(t, f)
	_, err := c.Receive(ctxT(t), "file", &bytes.Buffer{})
	require.Error(t, err)
	assert.Equal(t, diracrpc.CodeProtocol, diracrpc.CodeOf(err), "%v", err)
	assert.True(t, <-aborted, "the next chunk is answered with the abort flag")
	assert.Equal(t, int64(1), f.conns.Load())
}

// TestTransferKeepAliveBetweenChunks: a keep-alive ping between chunks is
// answered and skipped.
func TestTransferKeepAliveBetweenChunks(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {
		_ = c.SendPing()
		_, _, _ = c.RecvFrame(0) // the pong
		_ = c.Send(chunk([]byte("abc")))
		_, _, _ = c.Recv(0)
		_ = c.Send(diracrpc.OK([]any{false, md5of([]byte("abc"))}))
		_ = c.Send(diracrpc.OK("done"))
	})
	c := fakeClient(t, f)
	var buf bytes.Buffer
	res, err := c.Receive(ctxT(t), "file", &buf)
	require.NoError(t, err)
	assert.Equal(t, "abc", buf.String())
	assert.Equal(t, "done", res.Value)
}

// TestUploadAcceptedNotRetried: once the server accepted an upload it may
// have stored something: a lost connection is not retried, even before
// any chunk was answered.
func TestUploadAcceptedNotRetried(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {}) // accepts, then closes
	c := fakeClient(t, f)
	_, err := c.Send(ctxT(t), "file", bytes.NewReader(nil)) // no data: only the acceptance counts
	require.Error(t, err)
	assert.True(t, diracrpc.Reached(err))
	assert.Equal(t, int64(1), f.conns.Load())
}

// TestUnencodableValueIsTheCallersError: a value that cannot be encoded is
// the caller's mistake, as over HTTPS: CodeUnknown, not reached, never tried
// again and never counted against the server's breaker. A transfer finds it
// before connecting.
func TestUnencodableValueIsTheCallersError(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {})
	c, err := disetclient.New([]string{f.url, f.url}, diracrpc.Options{BackoffMin: time.Millisecond,
		Breaker: diracrpc.BreakerSettings{ConsecutiveFailures: 1}}, disetclient.Options{})
	require.NoError(t, err)
	for range 3 {
		_, err = c.Receive(ctxT(t), make(chan int), &bytes.Buffer{})
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeUnknown, diracrpc.CodeOf(err), "%v", err)
		assert.False(t, diracrpc.Reached(err))
		assert.NotErrorIs(t, err, diracrpc.ErrNoURL, "not tried again")
		assert.ErrorContains(t, err, "cannot encode chan int")
	}
	assert.Zero(t, f.conns.Load(), "found before connecting")
	for range 3 {
		_, err = c.Call(ctxT(t), "ping", make(chan int))
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeUnknown, diracrpc.CodeOf(err), "%v", err)
		assert.False(t, diracrpc.Reached(err))
		assert.NotErrorIs(t, err, diracrpc.ErrNoURL, "not tried again")
	}
	// The breaker (open after one failure) is still closed.
	res, err := c.Call(ctxT(t), "ping")
	require.NoError(t, err)
	assert.Equal(t, "Accepted", res.Value)
}

// deadlineConn records the deadlines set on a connection, as the time left
// when set.
type deadlineConn struct {
	net.Conn
	mu   sync.Mutex
	left []time.Duration
}

func (c *deadlineConn) SetDeadline(d time.Time) error {
	if !d.IsZero() {
		c.mu.Lock()
		c.left = append(c.left, time.Until(d))
		c.mu.Unlock()
	}
	return c.Conn.SetDeadline(d)
}

// TestTransferWaitsGetTheTimeout: every wait of a transfer is bounded by
// the client's timeout (Options.Timeout, DIRAC's rule), as a call's are.
func TestTransferWaitsGetTheTimeout(t *testing.T) {
	f := newFakeSender(t, func(c *diset.Conn) {
		_ = c.Send(chunk([]byte("abc")))
		_, _, _ = c.Recv(0)
		_ = c.Send(diracrpc.OK([]any{false, md5of([]byte("abc"))}))
		_ = c.Send(diracrpc.OK("done"))
	})
	for _, tc := range []struct {
		set, want time.Duration
	}{{0, diracrpc.DefaultTimeout}, {300 * time.Second, 300 * time.Second}, {time.Second, diracrpc.MinTimeout}} {
		var conn *deadlineConn
		dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conn = &deadlineConn{Conn: nc}
			return conn, nil
		}
		c, err := disetclient.New([]string{f.url}, diracrpc.Options{Timeout: tc.set}, disetclient.Options{DialContext: dial})
		require.NoError(t, err)
		var buf bytes.Buffer
		_, err = c.Receive(ctxT(t), "file", &buf)
		require.NoError(t, err)
		require.Equal(t, "abc", buf.String())
		require.NotNil(t, conn)
		conn.mu.Lock()
		// The proposal's deadline is the test context's; then one per frame.
		assert.Greater(t, len(conn.left), 3)
		for _, left := range conn.left[1:] {
			assert.InDelta(t, tc.want.Seconds(), left.Seconds(), 5, "Timeout %v: a wait of %v", tc.set, left)
		}
		conn.mu.Unlock()
	}
}
