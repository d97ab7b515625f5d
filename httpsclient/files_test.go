package httpsclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
)

// pattern generates n deterministic bytes on the fly.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	n := 0
	for n < len(b) {
		n += copy(b[n:], patternBlock[(p.off+int64(n))%int64(len(patternBlock)):])
	}
	p.off += int64(len(b))
	return len(b), nil
}

// patternBlock repeats with a period (65521) prime to every buffer size.
var patternBlock = func() []byte {
	b := make([]byte, 65521)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	return b
}()

// memWatch is a writer that hashes what it gets and samples the heap.
type memWatch struct {
	h        io.Writer
	n        int64
	peakHeap uint64
}

func (m *memWatch) Write(b []byte) (int, error) {
	m.n += int64(len(b))
	if m.n%(8<<20) < int64(len(b)) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m.peakHeap = max(m.peakHeap, ms.HeapInuse)
	}
	return m.h.Write(b)
}

func fileService(e *env) *server.Service {
	s := server.NewService(svcName)
	s.Registry, s.DefaultAuth = e.reg, []string{"all"}
	s.HandleFunc("streamToClient", func(_ context.Context, r *server.Request) (any, error) {
		switch name, _ := r.Args[0].(string); name {
		case "missing":
			return nil, &diracrpc.Error{Message: "No such file: missing"}
		case "small":
			return server.RawContent("small content"), nil
		}
		size, _ := r.Args[1].(int64)
		return &pattern{n: size}, nil
	})
	s.HandleFunc("streamFromClient", func(_ context.Context, r *server.Request) (any, error) {
		data, ok := r.Args[3].([]byte)
		if !ok || int64(len(data)) != r.Args[2].(int64) {
			return nil, &diracrpc.Error{Message: "bad upload"}
		}
		sum := sha256.Sum256(data)
		return []any{r.Args[0], sum[:]}, nil
	})
	return s
}

// TestReceiveFileStreams downloads 200 MB (20 MB under -race) with bounded
// client memory.
func TestReceiveFileStreams(t *testing.T) {
	size := int64(200 << 20)
	if raceEnabled || testing.Short() {
		size = 20 << 20
	}
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{}, fileService(e))
	c := e.client(t, url, diracrpc.Options{})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h := sha256.New()
	w := &memWatch{h: h}
	res, err := httpsclient.ReceiveFile(ctxT(t), c, w, "big", size)
	require.NoError(t, err)
	assert.Equal(t, size, res.Value)
	assert.Equal(t, size, w.n)
	wantH := sha256.New()
	_, _ = io.Copy(wantH, &pattern{n: size})
	assert.Equal(t, wantH.Sum(nil), h.Sum(nil))
	// Client and server share this process: both stay far below the size.
	t.Logf("%d MB streamed; heap in use before %d MB, peak while streaming %d MB", size>>20, before.HeapInuse>>20, w.peakHeap>>20)
	assert.Less(t, w.peakHeap, before.HeapInuse+64<<20, "heap grew with the file size")

	var buf bytes.Buffer
	res, err = httpsclient.ReceiveFile(ctxT(t), c, &buf, "small", int64(0))
	require.NoError(t, err)
	assert.Equal(t, "small content", buf.String())
	assert.EqualValues(t, len("small content"), res.Value)

	buf.Reset()
	_, err = httpsclient.ReceiveFile(ctxT(t), c, &buf, "missing", int64(0))
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "No such file: missing", de.Message)
	assert.Zero(t, buf.Len(), "an S_ERROR is not written into the file")
}

func TestSendFile(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{}, fileService(e))
	c := e.client(t, url, diracrpc.Options{})
	data, err := io.ReadAll(&pattern{n: 3 << 20})
	require.NoError(t, err)
	res, err := httpsclient.SendFile(ctxT(t), c, "SB:file", bytes.NewReader(data))
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	assert.Equal(t, []any{"SB:file", sum[:]}, res.Value)

	if !raceEnabled && !testing.Short() {
		_, err = httpsclient.SendFile(ctxT(t), c, "SB:big", &pattern{n: httpsclient.MaxSendFileBytes + 1})
		require.ErrorIs(t, err, httpsclient.ErrFileTooLarge)
	}
}
