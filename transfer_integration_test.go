package diracrpc_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

func xferCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func genBytes(n int64) []byte {
	b, _ := io.ReadAll(testharness.GenReader(n))
	return b
}

// waitIdle waits until the harness's transfer handlers have all returned,
// and returns how the last one ended.
func waitIdle(t *testing.T, st *testharness.Store) error {
	t.Helper()
	var last error
	deadline := time.After(10 * time.Second)
	for st.Active() > 0 || len(st.Ended) > 0 {
		select {
		case last = <-st.Ended:
		case <-deadline:
			t.Fatalf("transfer handlers still running: %d", st.Active())
		}
	}
	return last
}

// TestTransferBothProtocols sends and receives through the one client over
// dips:// and https://: sizes, token, unknown files, a failure after data.
func TestTransferBothProtocols(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	bothProtocols(t, h, func(t *testing.T, p diracrpc.Protocol, c *diracrpc.Client) {
		var err error
		ctx := xferCtx(t)
		for _, n := range []int64{0, 1024, 3 << 20} {
			id := fmt.Sprintf("%s-up-%d", p, n)
			data := genBytes(n)
			moved, calls := int64(-1), 0
			res, err := c.Send(ctx, id, bytes.NewReader(data), diracrpc.WithToken("tok"),
				diracrpc.WithProgress(func(done, total int64) { moved = done; calls++; assert.Equal(t, n, total) }))
			require.NoError(t, err, "size %d", n)
			assert.Equal(t, n, moved)
			assert.Positive(t, calls, "progress is told, also of no data")
			var info struct {
				Size         int64  `dirac:"size"`
				MD5          string `dirac:"md5"`
				DeclaredSize int64  `dirac:"declaredSize"`
				Token        string `dirac:"token"`
			}
			require.NoError(t, res.Decode(&info))
			sum := md5.Sum(data)
			assert.Equal(t, hex.EncodeToString(sum[:]), info.MD5)
			assert.Equal(t, n, info.Size)
			assert.Equal(t, n, info.DeclaredSize)
			assert.Equal(t, "tok", info.Token)
			stored, ok := h.Store.Stored(id)
			require.True(t, ok)
			assert.True(t, bytes.Equal(data, stored))

			var buf bytes.Buffer
			moved, calls = -1, 0
			_, err = c.Receive(ctx, id, &buf, diracrpc.WithProgress(func(done, _ int64) { moved = done; calls++ }))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, buf.Bytes()), "download of %d bytes", n)
			assert.Equal(t, n, moved)
			assert.Positive(t, calls, "progress is told, also of no data")
		}
		// A fileId that is a list (SandboxStore's [name, {assignTo}]).
		var buf bytes.Buffer
		_, err = c.Receive(ctx, []any{"gen:5000", value.NewDict()}, &buf)
		require.NoError(t, err)
		assert.Equal(t, genBytes(5000), buf.Bytes())

		// Unknown file: an S_ERROR, nothing written.
		buf.Reset()
		_, err = c.Receive(ctx, "no-such-file", &buf)
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de)
		assert.Contains(t, de.Message, "unknown file")
		assert.Equal(t, diracrpc.CodeServiceError, diracrpc.CodeOf(err))
		assert.Zero(t, buf.Len(), "an S_ERROR must leave nothing in the writer")

		// Refused upload.
		_, err = c.Send(ctx, "refuse", bytes.NewReader(genBytes(10)))
		require.ErrorAs(t, err, &de)
		waitIdle(t, h.Store)
	})
}

// TestTransferFailureAfterData: the server fails after sending data. DISET
// delivers its S_ERROR after the data; HTTPS cuts the body. Either way an
// error, never sent again.
func TestTransferFailureAfterData(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	bothProtocols(t, h, func(t *testing.T, p diracrpc.Protocol, c *diracrpc.Client) {
		var err error
		var buf bytes.Buffer
		_, err = c.Receive(diracrpc.WithIdempotent(xferCtx(t)), "fail-after:2500000", &buf)
		require.Error(t, err)
		assert.True(t, diracrpc.Reached(err))
		if p == diracrpc.DIPS {
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de)
			assert.Contains(t, de.Message, "disk failed")
		}
		// Part of the file came; the writer is not rewindable, so once
		// only, whatever the marks.
		assert.LessOrEqual(t, int64(buf.Len()), int64(2500000))
		waitIdle(t, h.Store)
	})
}

// TestTransferBulk: tar streams (both formats' ids) and ListBulk, DISET
// only; over HTTPS they are CodeNotImplemented.
func TestTransferBulk(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: 5}))
	_, _ = tw.Write([]byte("hello"))
	require.NoError(t, tw.Close())

	c, err := h.Client(diracrpc.DIPS)
	require.NoError(t, err)
	defer c.Close()
	ctx := xferCtx(t)
	_, err = c.SendBulk(ctx, "bulk1", diracrpc.Tar, bytes.NewReader(tarball.Bytes()))
	require.NoError(t, err)
	stored, ok := h.Store.Stored("bulk1.tar")
	require.True(t, ok)
	assert.Equal(t, tarball.Bytes(), stored)
	var got bytes.Buffer
	_, err = c.ReceiveBulk(ctx, "bulk1", diracrpc.Tar, &got)
	require.NoError(t, err)
	assert.Equal(t, tarball.Bytes(), got.Bytes())
	res, err := c.ListBulk(ctx, "bulk1", diracrpc.Tar)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(tarball.Len())}, res.Value)
	_, err = c.SendBulk(ctx, "bulk2", diracrpc.TarBz2, bytes.NewReader([]byte("BZh9...")))
	require.NoError(t, err)
	_, ok = h.Store.Stored("bulk2.tar.bz2")
	assert.True(t, ok, "TarBz2 bulks are sent as <id>.tar.bz2")

	hc, err := h.Client(diracrpc.HTTPS)
	require.NoError(t, err)
	defer hc.Close()
	_, err = hc.ReceiveBulk(ctx, "bulk1", diracrpc.Tar, &got)
	assert.Equal(t, diracrpc.CodeNotImplemented, diracrpc.CodeOf(err))
	assert.False(t, diracrpc.Reached(err))
}

// cancelAfter cancels once n bytes moved.
func cancelAfter(cancel context.CancelFunc, n int64) diracrpc.TransferOption {
	return diracrpc.WithProgress(func(done, _ int64) {
		if done >= n {
			cancel()
		}
	})
}

// TestTransferCancellation cancels downloads and uploads mid-transfer: the
// call ends with CodeCanceled, the server's handler ends, nothing is kept.
func TestTransferCancellation(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	bothProtocols(t, h, func(t *testing.T, p diracrpc.Protocol, c *diracrpc.Client) {
		var err error
		ctx, cancel := context.WithCancel(xferCtx(t))
		_, err = c.Receive(ctx, "gen:200000000", io.Discard, cancelAfter(cancel, 3<<20))
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err))
		assert.Error(t, waitIdle(t, h.Store), "the server's handler must see the transfer fail")

		ctx, cancel = context.WithCancel(xferCtx(t))
		id := string(p) + "-cancelled"
		_, err = c.Send(ctx, id, testharness.GenReader(60<<20), diracrpc.WithSize(60<<20), cancelAfter(cancel, 3<<20))
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err))
		waitIdle(t, h.Store)
		_, stored := h.Store.Stored(id)
		assert.False(t, stored, "a cancelled upload must not be stored")
		assert.Zero(t, h.Store.Active())
	})
}

// TestHTTPSUploadLimits: sizes HTTPS cannot carry are refused before
// sending; a reader shorter than its declared size fails the upload.
func TestHTTPSUploadLimits(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	c, err := h.Client(diracrpc.HTTPS)
	require.NoError(t, err)
	defer c.Close()
	ctx := xferCtx(t)
	_, err = c.Send(ctx, "big", testharness.GenReader(80<<20), diracrpc.WithSize(80<<20))
	require.ErrorIs(t, err, diracrpc.ErrTooLarge)
	assert.False(t, diracrpc.Reached(err))
	assert.Zero(t, h.Store.Active())

	_, err = c.Send(ctx, "short", testharness.GenReader(1000), diracrpc.WithSize(2000))
	require.Error(t, err)
	waitIdle(t, h.Store)
	_, stored := h.Store.Stored("short")
	assert.False(t, stored)

	// An upload near the limit streams (memory checked by the benchmark).
	n := int64(70 << 20)
	res, err := c.Send(ctx, "near-limit", testharness.GenReader(n), diracrpc.WithSize(n))
	require.NoError(t, err)
	var info struct {
		Size int64 `dirac:"size"`
	}
	require.NoError(t, res.Decode(&info))
	assert.Equal(t, n, info.Size)
}

// TestReceiveIntoFile: a download into a file over DISET.
func TestReceiveIntoFile(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	c, err := h.Client(diracrpc.DIPS)
	require.NoError(t, err)
	defer c.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer f.Close()
	_, err = c.Receive(xferCtx(t), "gen:3000000", f)
	require.NoError(t, err)
	got, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.Equal(t, genBytes(3000000), got)
}

// TestHTTPSDownloadRetriedBeforeData: a connection lost before any byte of
// a download is tried again, as over DISET; after bytes, never.
func TestHTTPSDownloadRetriedBeforeData(t *testing.T) {
	var calls atomic.Int64
	h := testharness.NewT(t, testharness.Options{WrapHandler: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close() // dropped before answering
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	o := h.Options()
	o.Attempts, o.BackoffMin = 3, time.Millisecond
	c, err := httpsclient.New([]string{h.HTTPSURL}, o, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	var buf bytes.Buffer
	_, err = c.Receive(xferCtx(t), "gen:1000", &buf)
	require.NoError(t, err)
	assert.Equal(t, genBytes(1000), buf.Bytes())
	assert.Equal(t, int64(2), calls.Load())
}

// bothProtocols runs f with a client of h over dips:// and then https://.
func bothProtocols(t *testing.T, h *testharness.Harness, f func(t *testing.T, p diracrpc.Protocol, c *diracrpc.Client)) {
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		t.Run(string(p), func(t *testing.T) {
			c, err := h.Client(p)
			require.NoError(t, err)
			defer c.Close()
			f(t, p, c)
		})
	}
}

// TestCancelledBeforeSendingIsNotReached: with a context cancelled before
// the call, nothing is sent: not reached, over both protocols, for calls
// and transfers alike.
func TestCancelledBeforeSendingIsNotReached(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	bothProtocols(t, h, func(t *testing.T, p diracrpc.Protocol, c *diracrpc.Client) {
		ctx, cancel := context.WithCancel(xferCtx(t))
		cancel()
		_, err := c.Call(ctx, "ping")
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err), "call: %v", err)
		assert.False(t, diracrpc.Reached(err), "call: %v", err)
		_, err = c.Receive(ctx, "gen:10", io.Discard)
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err), "receive: %v", err)
		assert.False(t, diracrpc.Reached(err), "receive: %v", err)
		_, err = c.Send(ctx, string(p)+"-never", bytes.NewReader([]byte("data")))
		assert.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err), "send: %v", err)
		assert.False(t, diracrpc.Reached(err), "send: %v", err)
		_, stored := h.Store.Stored(string(p) + "-never")
		assert.False(t, stored)
	})
}
