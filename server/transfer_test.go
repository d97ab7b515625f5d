package server_test

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

const xferName = "Framework/GoTransfer"

// genReader yields n bytes of the oracle's "gen:<n>" pattern
// (byte i = (7*i + 3) % 256) without holding them.
type genReader struct{ i, n int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.i >= g.n {
		return 0, io.EOF
	}
	m := int(min(int64(len(p)), g.n-g.i))
	for k := 0; k < m; k++ {
		p[k] = byte(7*(g.i+int64(k)) + 3)
	}
	g.i += int64(m)
	return m, nil
}

func gen(n int) []byte {
	b, _ := io.ReadAll(&genReader{n: int64(n)})
	return b
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// store is the test service's state: uploads by id, and how each handler
// run ended, so tests can check the server side.
type store struct {
	mu     sync.Mutex
	files  map[string][]byte
	bulks  map[string][]string
	ended  chan error // one per handler run
	inside chan struct{}
	block  chan struct{} // the "block" download waits for it
}

// content is what ToClient serves for an id.
func (s *store) content(id string) (io.Reader, bool) {
	if n, ok := strings.CutPrefix(id, "gen:"); ok {
		k, err := strconv.ParseInt(n, 10, 64)
		return &genReader{n: k}, err == nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[id]
	return bytes.NewReader(b), ok
}

func newTransferService(testing.TB) (*server.Service, *store) {
	st := &store{files: map[string][]byte{}, bulks: map[string][]string{}, ended: make(chan error, 64),
		inside: make(chan struct{}, 64), block: make(chan struct{})}
	svc := server.NewService(xferName)
	svc.Logger = quiet
	svc.DefaultAuth = []string{"all"}
	end := func(v any, err error) (any, error) { st.ended <- err; return v, err }
	svc.HandleTransfer(server.FromClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.inside <- struct{}{}
		if tr.FileID == "refuse" {
			return end(nil, &diracrpc.Error{Message: "refused before reading"})
		}
		b, err := io.ReadAll(tr.Body)
		if err != nil {
			return end(nil, err)
		}
		st.mu.Lock()
		st.files[fmt.Sprint(tr.FileID)] = b
		st.mu.Unlock()
		return end(value.NewDict("size", int64(len(b)), "md5", md5hex(b), "declaredSize", tr.Size, "token", tr.Token), nil)
	}})
	svc.HandleTransfer(server.ToClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.inside <- struct{}{}
		id := fmt.Sprint(tr.FileID)
		if l, ok := tr.FileID.([]any); ok && len(l) > 0 {
			id = fmt.Sprint(l[0])
		}
		if id == "block" {
			select {
			case <-st.block:
			case <-ctx.Done():
			}
			return end(nil, nil)
		}
		if n, ok := strings.CutPrefix(id, "fail-after:"); ok {
			k, _ := strconv.Atoi(n)
			if _, err := tr.Writer.Write(gen(k)); err != nil {
				return end(nil, err)
			}
			return end(nil, &diracrpc.Error{Message: "disk failed"})
		}
		r, ok := st.content(id)
		if !ok {
			return end(nil, &diracrpc.Error{Message: "unknown file " + strconv.Quote(id)})
		}
		n, err := io.Copy(tr.Writer, r)
		if err != nil {
			return end(nil, err)
		}
		return end(value.NewDict("size", n), nil)
	}})
	svc.HandleTransfer(server.BulkFromClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.inside <- struct{}{}
		id := fmt.Sprint(tr.FileID)
		var src io.Reader = tr.Body
		if server.BulkCompressed(id) {
			src = bzip2.NewReader(src)
		}
		names, err := tarNames(src)
		if err == nil {
			_, err = io.Copy(io.Discard, tr.Body) // tar padding
		}
		if err != nil {
			return end(nil, err)
		}
		st.mu.Lock()
		st.bulks[id] = names
		st.mu.Unlock()
		return end(anyList(names), nil)
	}})
	svc.HandleTransfer(server.BulkToClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.inside <- struct{}{}
		id := fmt.Sprint(tr.FileID)
		if server.BulkCompressed(id) {
			b, err := os.ReadFile("testdata/transfer/bulk.tar.bz2")
			if err == nil {
				_, err = tr.Writer.Write(b)
			}
			return end(nil, err)
		}
		tw := tar.NewWriter(tr.Writer)
		for _, name := range []string{"one.txt", "two.bin"} {
			data := gen(len(name) * 1000)
			if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(data)), Mode: 0o644}); err != nil {
				return end(nil, err)
			}
			if _, err := tw.Write(data); err != nil {
				return end(nil, err)
			}
		}
		return end(nil, tw.Close())
	}})
	svc.HandleTransfer(server.ListBulk, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		names, ok := st.bulks[fmt.Sprint(tr.FileID)]
		if !ok {
			return nil, &diracrpc.Error{Message: "no such bulk"}
		}
		return anyList(names), nil
	}})
	return svc, st
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func tarNames(r io.Reader) ([]string, error) {
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, h.Name)
	}
}

// startTransferDISET serves svc over plain dip:// with enc.
func startTransferDISET(t *testing.T, svc *server.Service, enc server.Encoding) (*server.DISET, string) {
	t.Helper()
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet, Encoding: enc, ReadTimeout: 5 * time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return srv, l.Addr().String()
}

func xferCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// propose opens a connection and proposes ["FileTransfer", d]: what a
// DISET client does before the protocol's client half runs.
func propose(t *testing.T, addr string, d server.Direction, enc diset.Encoding) *diset.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	c := diset.NewConn(nc, enc)
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, c.Send(diracrpc.OK([]any{[]any{xferName, "Test", "vo"}, d.Action(), "", "go-test"})))
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	_, err = diracrpc.ParseResult(v)
	require.NoError(t, err)
	require.NoError(t, nc.SetDeadline(time.Time{}))
	return c
}

func upload(t *testing.T, addr string, enc diset.Encoding, fi filetransfer.FileInfo, data io.Reader, o filetransfer.Options) (any, error) {
	return filetransfer.Upload(xferCtx(t), propose(t, addr, fi.Direction, enc), fi, data, o)
}

func download(t *testing.T, addr string, enc diset.Encoding, fi filetransfer.FileInfo, o filetransfer.Options) ([]byte, any, error) {
	var buf bytes.Buffer
	res, err := filetransfer.Download(xferCtx(t), propose(t, addr, fi.Direction, enc), fi, &buf, o)
	return buf.Bytes(), res, err
}

func lookup(t *testing.T, v any, key string) any {
	t.Helper()
	d, ok := v.(*value.Dict)
	require.True(t, ok, "%T", v)
	x, _ := d.Lookup(key)
	return x
}

func TestTransferBothDirections(t *testing.T) {
	for _, srvEnc := range []server.Encoding{server.JSON, server.DEncode} {
		svc, st := newTransferService(t)
		_, addr := startTransferDISET(t, svc, srvEnc)
		for _, cliEnc := range []diset.Encoding{diset.JSON, diset.DEncode} {
			for _, n := range []int{0, 1024, 3_000_000} {
				name := fmt.Sprintf("srv%v/cli%v/%d", srvEnc, cliEnc, n)
				data := gen(n)
				res, err := upload(t, addr, cliEnc, filetransfer.FileInfo{Direction: server.FromClient, FileID: name,
					Token: "tok", Size: int64(n)}, bytes.NewReader(data), filetransfer.Options{})
				require.NoError(t, err, name)
				assert.Equal(t, md5hex(data), lookup(t, res, "md5"), name)
				assert.Equal(t, "tok", lookup(t, res, "token"), name)
				require.NoError(t, <-st.ended)

				got, res, err := download(t, addr, cliEnc, filetransfer.FileInfo{Direction: server.ToClient, FileID: name}, filetransfer.Options{})
				require.NoError(t, err, name)
				assert.True(t, bytes.Equal(data, got), name)
				assert.Equal(t, int64(n), lookup(t, res, "size"))
				require.NoError(t, <-st.ended)
			}
		}
	}
}

func TestTransferBulk(t *testing.T) {
	svc, st := newTransferService(t)
	_, addr := startTransferDISET(t, svc, server.JSON)
	// BulkFromClient, plain tar and tar.bz2 (from the fixture).
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "x/y.txt", Size: 3, Mode: 0o644}))
	_, _ = tw.Write([]byte("xyz"))
	require.NoError(t, tw.Close())
	id := filetransfer.BulkID("mybulk", false)
	res, err := upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.BulkFromClient, FileID: id, Size: -1},
		bytes.NewReader(tb.Bytes()), filetransfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{"x/y.txt"}, res)
	require.NoError(t, <-st.ended)
	bz, err := os.ReadFile("testdata/transfer/bulk.tar.bz2")
	require.NoError(t, err)
	res, err = upload(t, addr, diset.DEncode, filetransfer.FileInfo{Direction: server.BulkFromClient,
		FileID: filetransfer.BulkID("zipped", true), Size: int64(len(bz))}, bytes.NewReader(bz), filetransfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{"a.txt", "dir/b.bin"}, res)
	require.NoError(t, <-st.ended)

	// ListBulk: no data phase.
	list, err := filetransfer.List(xferCtx(t), propose(t, addr, server.ListBulk, diset.JSON),
		filetransfer.FileInfo{Direction: server.ListBulk, FileID: id}, filetransfer.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{"x/y.txt"}, list)

	// BulkToClient, both forms.
	got, _, err := download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.BulkToClient,
		FileID: filetransfer.BulkID("any", true)}, filetransfer.Options{})
	require.NoError(t, err)
	names, err := tarNames(bzip2.NewReader(bytes.NewReader(got)))
	require.NoError(t, err)
	assert.Equal(t, []string{"a.txt", "dir/b.bin"}, names)
	require.NoError(t, <-st.ended)
	got, _, err = download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.BulkToClient,
		FileID: filetransfer.BulkID("any", false)}, filetransfer.Options{})
	require.NoError(t, err)
	names, err = tarNames(bytes.NewReader(got))
	require.NoError(t, err)
	assert.Equal(t, []string{"one.txt", "two.bin"}, names)
	require.NoError(t, <-st.ended)
}

// The service's only transfer slot must be free again: a new transfer
// starts at once (with MaxConcurrent 1 and a long IdleTimeout, a held slot
// would make it wait).
func requireSlotFree(t *testing.T, addr string, st *store) {
	t.Helper()
	start := time.Now()
	got, _, err := download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:10"}, filetransfer.Options{})
	require.NoError(t, err)
	assert.Len(t, got, 10)
	require.NoError(t, <-st.ended)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestTransferCancelMidTransfer(t *testing.T) {
	svc, st := newTransferService(t)
	svc.TransferLimits = server.TransferLimits{MaxConcurrent: 1, IdleTimeout: 20 * time.Second}
	_, addr := startTransferDISET(t, svc, server.JSON)

	// Download: cancelled after two chunks; the server's sender sees the
	// abort flag, its handler ends, the final result is read.
	ctx, cancel := context.WithCancel(xferCtx(t))
	var out bytes.Buffer
	_, err := filetransfer.Download(ctx, propose(t, addr, server.ToClient, diset.JSON),
		filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:50000000"}, &out, filetransfer.Options{
			Progress: func(n int64) {
				if n >= 2*filetransfer.ChunkSize {
					cancel()
				}
			}})
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, <-st.ended, filetransfer.ErrAborted)
	assert.Less(t, out.Len(), 10*filetransfer.ChunkSize)
	requireSlotFree(t, addr, st)

	// Upload: cancelled after two chunks; the server's handler gets the
	// client's S_ERROR from Body and stores nothing.
	ctx, cancel = context.WithCancel(xferCtx(t))
	_, err = filetransfer.Upload(ctx, propose(t, addr, server.FromClient, diset.JSON),
		filetransfer.FileInfo{Direction: server.FromClient, FileID: "cancelled", Size: 50_000_000},
		&genReader{n: 50_000_000}, filetransfer.Options{Progress: func(n int64) {
			if n >= 2*filetransfer.ChunkSize {
				cancel()
			}
		}})
	require.ErrorIs(t, err, context.Canceled)
	var de *diracrpc.Error
	require.ErrorAs(t, <-st.ended, &de)
	assert.Equal(t, "Transfer cancelled by the client", de.Message)
	_, ok := st.content("cancelled")
	assert.False(t, ok)
	requireSlotFree(t, addr, st)
}

func TestTransferChecksumMismatch(t *testing.T) {
	svc, st := newTransferService(t)
	_, addr := startTransferDISET(t, svc, server.JSON)
	c := propose(t, addr, server.FromClient, diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{"bad-md5", "", int64(5)})))
	frames := []any{
		diracrpc.OK([]any{true, []byte("hello")}),
		diracrpc.OK([]any{false, md5hex([]byte("HELLO"))}),
	}
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "Accepted", mustOK(t, v))
	require.NoError(t, c.Send(frames[0]))
	v, _, err = c.Recv(0)
	require.NoError(t, err)
	assert.Nil(t, mustOK(t, v))
	require.NoError(t, c.Send(frames[1]))
	v, _, err = c.Recv(0)
	require.NoError(t, err)
	_, err = diracrpc.ParseResult(v)
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Error in the file CRC", de.Message)
	require.ErrorIs(t, <-st.ended, filetransfer.ErrChecksum)
	_, ok := st.content("bad-md5")
	assert.False(t, ok)

	// NoCheckSum in the token: the server skips the check (as DIRAC's
	// StorageElement), and DIRAC's sender then announces the MD5 of nothing.
	res, err := upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.FromClient, FileID: "nocheck",
		Token: "NoCheckSum", Size: 4}, strings.NewReader("data"), filetransfer.Options{NoCheckSum: true})
	require.NoError(t, err)
	assert.Equal(t, md5hex([]byte("data")), lookup(t, res, "md5"))
	require.NoError(t, <-st.ended)
}

func mustOK(t *testing.T, v any) any {
	t.Helper()
	val, err := diracrpc.ParseResult(v)
	require.NoError(t, err)
	return val
}

func TestTransferServerStopsMidStream(t *testing.T) {
	svc, st := newTransferService(t)
	srv, addr := startTransferDISET(t, svc, server.DEncode)

	// The handler fails after 2.5 MiB: its S_ERROR comes in place of a chunk.
	got, _, err := download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient,
		FileID: "fail-after:" + strconv.Itoa(5*filetransfer.ChunkSize/2)}, filetransfer.Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "disk failed", de.Message)
	assert.Equal(t, 2*filetransfer.ChunkSize, len(got))
	<-st.ended

	// The unknown file: abort before any data, then S_ERROR (DIRAC's way).
	got, _, err = download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient, FileID: "nope"}, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, `unknown file "nope"`, de.Message)
	assert.Empty(t, got)
	<-st.ended

	// The server goes away in the middle of a download: an error, no hang.
	ctx := xferCtx(t)
	c := propose(t, addr, server.ToClient, diset.JSON)
	errc := make(chan error, 1)
	flowing := make(chan struct{})
	var once sync.Once
	go func() {
		_, err := filetransfer.Download(ctx, c, filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:500000000"},
			io.Discard, filetransfer.Options{IdleTimeout: 10 * time.Second,
				Progress: func(int64) { once.Do(func() { close(flowing) }) }})
		errc <- err
	}()
	<-flowing
	require.NoError(t, srv.Close())
	err = <-errc
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	<-st.ended
}

func TestTransferHostileClients(t *testing.T) {
	svc, st := newTransferService(t)
	// The idle timeout must outlast encoding and sending a 1 MiB chunk on a
	// loaded machine under -race, or the size checks meet it first; the
	// stall cases wait it out three times.
	svc.TransferLimits = server.TransferLimits{MaxSize: 3 << 20, MaxConcurrent: 1, IdleTimeout: 2 * time.Second}
	_, addr := startTransferDISET(t, svc, server.JSON)
	var de *diracrpc.Error

	// A declared size over the limit: refused before the data phase.
	_, err := upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.FromClient, FileID: "huge", Size: 4 << 20},
		strings.NewReader("x"), filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "exceeds the maximum")

	// A declared size smaller than the data: stopped at the first chunk
	// that goes over.
	_, err = upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.FromClient, FileID: "liar", Size: 10},
		&genReader{n: 2 << 20}, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Received more data than the declared size", de.Message)
	require.ErrorIs(t, <-st.ended, filetransfer.ErrSizeMismatch)

	// Endless chunks with an unknown size: stopped at MaxSize.
	_, err = upload(t, addr, diset.DEncode, filetransfer.FileInfo{Direction: server.FromClient, FileID: "endless", Size: -1},
		&genReader{n: 1 << 40}, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Exceeded maximum file size", de.Message)
	require.ErrorIs(t, <-st.ended, filetransfer.ErrTooLarge)

	// A client that stalls in the data phase: cut off after the idle
	// timeout, its slot freed.
	c := propose(t, addr, server.FromClient, diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{"staller", "", int64(100)})))
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	assert.Equal(t, "Accepted", mustOK(t, v))
	require.ErrorIs(t, <-st.ended, filetransfer.ErrIdle)
	// A client that stops reading acknowledgements during a download.
	c = propose(t, addr, server.ToClient, diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{"gen:100000000", ""})))
	require.ErrorIs(t, <-st.ended, filetransfer.ErrIdle)
	requireSlotFree(t, addr, st)

	// All slots busy: a further transfer waits IdleTimeout, then is refused.
	for len(st.inside) > 0 { // the handlers above have all ended
		<-st.inside
	}
	blocked := make(chan error, 1)
	go func() {
		_, _, err := download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient, FileID: "block"}, filetransfer.Options{})
		blocked <- err
	}()
	<-st.inside
	_, _, err = download(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:1"}, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Too many concurrent transfers, try again later", de.Message)
	close(st.block)
	require.NoError(t, <-blocked)
	require.NoError(t, <-st.ended)

	// A data frame declaring a gigabyte: refused by the frame limit,
	// nothing buffered.
	c = propose(t, addr, server.FromClient, diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{"bigframe", "", int64(-1)})))
	_, _, err = c.Recv(0)
	require.NoError(t, err)
	_, err = c.Net().Write([]byte("999999999:{"))
	require.NoError(t, err)
	require.Error(t, <-st.ended)

	// Unknown direction: DIRAC's refusal text.
	c = propose(t, addr, server.Direction("Sideways"), diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{"x", ""})))
	v, _, err = c.Recv(0)
	require.NoError(t, err)
	_, err = diracrpc.ParseResult(v)
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Service can't transfer files sideways", de.Message)
	requireSlotFree(t, addr, st)
}

func TestTransferIncompleteUpload(t *testing.T) {
	svc, st := newTransferService(t)
	svc.HandleTransfer(server.BulkFromClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		st.ended <- nil
		return "ignored the data", nil
	}})
	_, addr := startTransferDISET(t, svc, server.JSON)
	_, err := upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.BulkFromClient, FileID: "b.tar", Size: -1},
		&genReader{n: 3 << 20}, filetransfer.Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Incomplete transfer", de.Message)
	<-st.ended
	// A refusal before reading: the handler's error, the data phase aborted.
	_, err = upload(t, addr, diset.JSON, filetransfer.FileInfo{Direction: server.FromClient, FileID: "refuse", Size: 3 << 20},
		&genReader{n: 3 << 20}, filetransfer.Options{})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "refused before reading", de.Message)
	<-st.ended
}

func TestTransferRules(t *testing.T) {
	svc, _ := newTransferService(t)
	svc.DefaultAuth = nil
	assert.Equal(t, []string{"authenticated"}, svc.Rules("FileTransfer/ToClient"))
	svc.Authorization = map[string][]string{"FileTransfer/Default": {"TransferProp"}, "FileTransfer/FromClient": {"all"}}
	assert.Equal(t, []string{"TransferProp"}, svc.Rules("FileTransfer/ToClient"))
	assert.Equal(t, []string{"all"}, svc.Rules("FileTransfer/FromClient"))
	h, _ := svc.TransferHandler(server.ListBulk)
	svc.HandleTransfer(server.ListBulk, server.Transfer{Func: h.Func, Auth: []string{"Lister"}})
	assert.Equal(t, []string{"Lister"}, svc.Rules("FileTransfer/ListBulk"))
	// RPC methods are not affected.
	svc.DefaultAuth = []string{"SomethingElse"}
	assert.Equal(t, []string{"SomethingElse"}, svc.Rules("echo2"))

	// Over the wire: an anonymous dip:// caller lacks TransferProp.
	_, addr := startTransferDISET(t, svc, server.JSON)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	c := diset.NewConn(nc, diset.JSON)
	require.NoError(t, c.Send(diracrpc.OK([]any{[]any{xferName, "Test", "vo"}, server.ToClient.Action(), "", "go-test"})))
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	_, err = diracrpc.ParseResult(v)
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
}

// TestTransferOverDIPS runs a transfer over TLS with the harness's PKI:
// an authenticated caller (the default rule), the caller's identity seen by
// the handler.
func TestTransferOverDIPS(t *testing.T) {
	svc, st := newTransferService(t)
	svc.DefaultAuth = nil
	var who string
	h0, _ := svc.TransferHandler(server.FromClient)
	svc.HandleTransfer(server.FromClient, server.Transfer{Func: func(ctx context.Context, tr *server.TransferRequest) (any, error) {
		who = tr.Credentials.Username + "@" + tr.Credentials.Group + " " + tr.Method
		return h0.Func(ctx, tr)
	}})
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPAddr: "-", HTTPSAddr: "-"})
	cas, err := credentials.LoadCADir(h.Files.CADir)
	require.NoError(t, err)
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: h.Files.ProxyCred, CAs: cas})
	require.NoError(t, err)
	u, err := url.Parse(h.DIPSURL)
	require.NoError(t, err)
	open := func(d server.Direction) *diset.Conn {
		raw, err := net.DialTimeout("tcp", "127.0.0.1:"+u.Port(), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { raw.Close() })
		tc := tls.Client(raw, ct.Config("localhost"))
		require.NoError(t, tc.SetDeadline(time.Now().Add(10*time.Second)))
		c := diset.NewConn(tc, diset.DEncode)
		require.NoError(t, c.Send(diracrpc.OK([]any{[]any{xferName, "Test", "vo"}, d.Action(), "", "go-test"})))
		v, _, err := c.Recv(0)
		require.NoError(t, err)
		mustOK(t, v)
		require.NoError(t, tc.SetDeadline(time.Time{}))
		return c
	}
	data := gen(2*filetransfer.ChunkSize + 7)
	_, err = filetransfer.Upload(xferCtx(t), open(server.FromClient), filetransfer.FileInfo{Direction: server.FromClient,
		FileID: "tls", Size: int64(len(data))}, bytes.NewReader(data), filetransfer.Options{})
	require.NoError(t, err)
	require.NoError(t, <-st.ended)
	assert.Equal(t, "testuser@dirac_user FileTransfer/FromClient", who)
	var got bytes.Buffer
	_, err = filetransfer.Download(xferCtx(t), open(server.ToClient), filetransfer.FileInfo{Direction: server.ToClient, FileID: "tls"},
		&got, filetransfer.Options{})
	require.NoError(t, err)
	require.NoError(t, <-st.ended)
	assert.True(t, bytes.Equal(data, got.Bytes()))
}

func okProposal(d server.Direction) any {
	return diracrpc.OK([]any{[]any{xferName, "Test", "vo"}, d.Action(), "", "go-test"})
}
