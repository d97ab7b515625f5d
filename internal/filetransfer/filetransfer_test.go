package filetransfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/value"
)

// pipe returns two frame connections joined by an in-memory pipe.
func pipe(t *testing.T, enc diset.Encoding) (a, b *diset.Conn) {
	t.Helper()
	x, y := net.Pipe()
	t.Cleanup(func() { x.Close(); y.Close() })
	return diset.NewConn(x, enc), diset.NewConn(y, enc)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(7*i + 3)
	}
	return b
}

func TestSenderReceiverRoundTrip(t *testing.T) {
	for _, enc := range []diset.Encoding{diset.JSON, diset.DEncode} {
		for _, n := range []int{0, 1, 1024, ChunkSize, ChunkSize + 1, 3*ChunkSize + 17} {
			a, b := pipe(t, enc)
			ctx := testCtx(t)
			data := pattern(n)
			errc := make(chan error, 1)
			go func() {
				s := NewSender(ctx, a, Options{})
				_, err := s.ReadFrom(bytes.NewReader(data))
				if err == nil {
					err = s.Close()
				}
				errc <- err
			}()
			var progress []int64
			r := NewReceiver(ctx, b, Options{DeclaredSize: int64(n), Progress: func(t int64) { progress = append(progress, t) }})
			var got bytes.Buffer
			_, err := r.WriteTo(&got)
			require.NoError(t, err, "enc %v n %d", enc, n)
			require.NoError(t, <-errc)
			assert.True(t, bytes.Equal(data, got.Bytes()))
			assert.Equal(t, int64(n), r.Received())
			assert.Len(t, progress, (n+ChunkSize-1)/ChunkSize)
		}
	}
}

func TestReceiverChecksumMismatch(t *testing.T) {
	a, b := pipe(t, diset.JSON)
	ctx := testCtx(t)
	go func() {
		_ = a.Send(okFrame([]any{true, []byte("hello")}))
		_, _, _ = a.Recv(0)
		_ = a.Send(okFrame([]any{false, "0123456789abcdef0123456789abcdef"}))
	}()
	_, err := io.ReadAll(NewReceiver(ctx, b, Options{DeclaredSize: -1}))
	require.ErrorIs(t, err, ErrChecksum)

	// NoCheckSum skips the comparison, as DIRAC's disableCheckSum.
	a, b = pipe(t, diset.DEncode)
	go func() {
		_ = a.Send(okFrame([]any{true, []byte("hello")}))
		_, _, _ = a.Recv(0)
		_ = a.Send(okFrame([]any{false, "whatever"}))
	}()
	got, err := io.ReadAll(NewReceiver(ctx, b, Options{DeclaredSize: -1, NoCheckSum: true}))
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
}

func TestReceiverLimits(t *testing.T) {
	ctx := testCtx(t)
	cases := []struct {
		name string
		o    Options
		want error
	}{
		{"max size", Options{MaxSize: 10, DeclaredSize: -1}, ErrTooLarge},
		{"more than declared", Options{DeclaredSize: 10}, ErrSizeMismatch},
	}
	for _, tc := range cases {
		a, b := pipe(t, diset.JSON)
		answer := make(chan any, 1)
		go func() {
			_ = a.Send(okFrame([]any{true, pattern(11)}))
			v, _, _ := a.Recv(0)
			answer <- v
		}()
		_, err := io.ReadAll(NewReceiver(ctx, b, tc.o))
		require.ErrorIs(t, err, tc.want, tc.name)
		_, perr := diracrpc.ParseResult(<-answer)
		var de *diracrpc.Error
		require.ErrorAs(t, perr, &de, tc.name)
	}
	// Endless empty chunks: refused at the first.
	ea, eb := pipe(t, diset.JSON)
	go func() {
		for i := 0; i < 3; i++ {
			if ea.Send(okFrame([]any{true, []byte{}})) != nil {
				return
			}
			if _, _, err := ea.Recv(0); err != nil {
				return
			}
		}
	}()
	_, err := io.ReadAll(NewReceiver(ctx, eb, Options{DeclaredSize: -1}))
	require.ErrorIs(t, err, diracrpc.ErrProtocol)

	// Shorter than declared: found at the end.
	a, b := pipe(t, diset.JSON)
	go func() {
		s := NewSender(ctx, a, Options{})
		_, _ = s.Write([]byte("abc"))
		_ = s.Close()
	}()
	_, err = io.ReadAll(NewReceiver(ctx, b, Options{DeclaredSize: 4}))
	require.ErrorIs(t, err, ErrSizeMismatch)
}

func TestReceiverIdleTimeout(t *testing.T) {
	_, b := pipe(t, diset.JSON)
	start := time.Now()
	_, err := io.ReadAll(NewReceiver(testCtx(t), b, Options{IdleTimeout: 100 * time.Millisecond, DeclaredSize: -1}))
	require.ErrorIs(t, err, ErrIdle)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestAbortBothWays(t *testing.T) {
	ctx := testCtx(t)
	// Receiver aborts: the sender's next chunk is answered with the flag.
	a, b := pipe(t, diset.JSON)
	serr := make(chan error, 1)
	go func() {
		s := NewSender(ctx, a, Options{})
		_, err := s.ReadFrom(bytes.NewReader(pattern(4 * ChunkSize)))
		serr <- err
	}()
	r := NewReceiver(ctx, b, Options{DeclaredSize: -1})
	buf := make([]byte, 10)
	_, err := r.Read(buf)
	require.NoError(t, err)
	require.NoError(t, r.Abort())
	require.ErrorIs(t, <-serr, ErrAborted)
	_, err = r.Read(buf)
	require.ErrorIs(t, err, ErrAborted)

	// Sender aborts: the receiver answers S_OK() and ends with ErrAborted.
	a, b = pipe(t, diset.DEncode)
	aerr := make(chan error, 1)
	go func() {
		s := NewSender(ctx, a, Options{})
		aerr <- s.Abort()
	}()
	_, err = io.ReadAll(NewReceiver(ctx, b, Options{DeclaredSize: -1}))
	require.ErrorIs(t, err, ErrAborted)
	require.NoError(t, <-aerr)

	// Sender fails: its S_ERROR is the receiver's error.
	a, b = pipe(t, diset.JSON)
	go func() { _ = NewSender(ctx, a, Options{}).Fail("disk on fire") }()
	_, err = io.ReadAll(NewReceiver(ctx, b, Options{DeclaredSize: -1}))
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "disk on fire", de.Message)
}

func TestCancelInterruptsABlockedFrame(t *testing.T) {
	a, b := pipe(t, diset.JSON)
	ctx, cancel := context.WithCancel(testCtx(t))
	got := make(chan any, 2)
	go func() {
		// The stalled sender: sends nothing until it sees the abort.
		v, _, err := a.Recv(0)
		if err == nil {
			got <- v
		}
	}()
	r := NewReceiver(ctx, b, Options{IdleTimeout: -1, DeclaredSize: -1})
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(r); done <- err }()
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
}

func TestClientHalves(t *testing.T) {
	ctx := testCtx(t)
	// A scripted server: Accepted, then receive, then a final result.
	a, b := pipe(t, diset.JSON)
	data := pattern(ChunkSize + 5)
	go func() {
		v, _, _ := a.Recv(0)
		fi, _ := ParseFileInfo(FromClient, v)
		_ = a.Send(okFrame(Accepted))
		got, err := io.ReadAll(NewReceiver(ctx, a, Options{DeclaredSize: fi.Size}))
		if err != nil {
			_ = a.Send(errFrame(err.Error()))
			return
		}
		sum := md5.Sum(got)
		_ = a.Send(okFrame(value.NewDict("md5", hex.EncodeToString(sum[:]), "id", fi.FileID)))
	}()
	res, err := Upload(ctx, b, FileInfo{Direction: FromClient, FileID: "f", Size: int64(len(data))}, bytes.NewReader(data), Options{})
	require.NoError(t, err)
	sum := md5.Sum(data)
	md, _ := res.(*value.Dict).Lookup("md5")
	assert.Equal(t, hex.EncodeToString(sum[:]), md)

	// Unknown file: DIRAC's abort before any data, then S_ERROR.
	a, b = pipe(t, diset.JSON)
	go func() {
		_, _, _ = a.Recv(0)
		_ = a.Send(okFrame(Accepted))
		_ = NewSender(ctx, a, Options{}).Abort()
		_ = a.Send(errFrame("unknown file 'nope'"))
	}()
	var out bytes.Buffer
	_, err = Download(ctx, b, FileInfo{Direction: ToClient, FileID: "nope"}, &out, Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "unknown file 'nope'", de.Message)
	assert.Zero(t, out.Len())

	// Refusal instead of Accepted.
	a, b = pipe(t, diset.JSON)
	go func() {
		_, _, _ = a.Recv(0)
		_ = a.Send(errFrame("Service can't transfer files listBulk"))
	}()
	_, err = List(ctx, b, FileInfo{Direction: ListBulk, FileID: BulkID("x", true)}, Options{})
	require.ErrorAs(t, err, &de)
	assert.False(t, errors.Is(err, ErrAborted))
}

func TestFileInfo(t *testing.T) {
	fi := FileInfo{Direction: FromClient, FileID: []any{"a", int64(1)}, Token: "t", Size: 5}
	got, err := ParseFileInfo(FromClient, okFrame(fi.Value()))
	require.NoError(t, err)
	assert.Equal(t, fi, got)
	got, err = ParseFileInfo(BulkFromClient, okFrame([]any{"b.tar", "", "x"}))
	require.NoError(t, err)
	assert.Equal(t, int64(-1), got.Size)
	_, err = ParseFileInfo(ToClient, okFrame([]any{"only"}))
	require.ErrorIs(t, err, diracrpc.ErrProtocol)
	_, err = ParseFileInfo(ToClient, okFrame([]any{"f", int64(3)}))
	require.ErrorIs(t, err, diracrpc.ErrProtocol)
	assert.Equal(t, "f.tar.bz2", BulkID("f", true))
	assert.True(t, Compressed("f.tar.bz2"))
	assert.False(t, Compressed("f.tar"))
	assert.Equal(t, "toClient", ToClient.HandlerName())
	assert.True(t, NoCheckSum("x NoCheckSum y"))
}

type failingIO struct{ err error }

func (f failingIO) Read([]byte) (int, error)  { return 0, f.err }
func (f failingIO) Write([]byte) (int, error) { return 0, f.err }

// TestClientFailuresSayWhichSide: a failed connection and a failed reader
// or writer of the caller are told apart; only the latter is told to a
// server that can still hear it.
func TestClientFailuresSayWhichSide(t *testing.T) {
	ctx := testCtx(t)
	accept := func(a *diset.Conn) {
		_, _, _ = a.Recv(0)
		_ = a.Send(okFrame(Accepted))
	}
	down := FileInfo{Direction: ToClient, FileID: "f"}
	up := FileInfo{Direction: FromClient, FileID: "f", Size: 3 * ChunkSize}

	// The server dies mid-download.
	a, b := pipe(t, diset.JSON)
	go func() {
		accept(a)
		_ = a.Send(okFrame([]any{true, []byte("abc")}))
		_, _, _ = a.Recv(0)
		a.Close()
	}()
	_, err := Download(ctx, b, down, io.Discard, Options{})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.ErrorContains(t, err, "download: the connection failed")

	// The server goes quiet.
	a, b = pipe(t, diset.JSON)
	go accept(a)
	_, err = Download(ctx, b, down, io.Discard, Options{IdleTimeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrIdle)
	assert.ErrorContains(t, err, "download: the connection failed")

	// The caller's writer fails: the server's next chunk gets the abort.
	a, b = pipe(t, diset.JSON)
	aborted := make(chan bool, 1)
	go func() {
		accept(a)
		_ = a.Send(okFrame([]any{true, []byte("abc")}))
		_, _, _ = a.Recv(0)
		_ = a.Send(okFrame([]any{true, []byte("def")}))
		v, _, _ := a.Recv(0)
		aborted <- isAbort(v)
		_ = a.Send(okFrame(nil))
	}()
	full := errors.New("disk full")
	_, err = Download(ctx, b, down, failingIO{full}, Options{})
	require.ErrorIs(t, err, full)
	assert.ErrorContains(t, err, "download: the caller's writer failed")
	assert.True(t, <-aborted)

	// The server dies mid-upload.
	a, b = pipe(t, diset.JSON)
	go func() {
		accept(a)
		_, _, _ = a.Recv(0)
		a.Close()
	}()
	_, err = Upload(ctx, b, up, bytes.NewReader(pattern(3*ChunkSize)), Options{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "upload: the connection failed")

	// The caller's reader fails: the server gets an S_ERROR.
	a, b = pipe(t, diset.JSON)
	told := make(chan error, 1)
	go func() {
		accept(a)
		v, _, _ := a.Recv(0)
		_, err := diracrpc.ParseResult(v)
		told <- err
		_ = a.Send(errFrame("upload failed"))
	}()
	broken := errors.New("bad sector")
	_, err = Upload(ctx, b, up, failingIO{broken}, Options{})
	require.ErrorIs(t, err, broken)
	assert.ErrorContains(t, err, "upload: the caller's reader failed")
	var de *diracrpc.Error
	require.ErrorAs(t, <-told, &de)
	assert.Contains(t, de.Message, "bad sector")
}
