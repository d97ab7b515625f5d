package httpsclient_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
)

// gzipServer answers every call with answer, gzip-compressed by
// compress/gzip (another implementation than the client's) when the
// request accepts it, and records the Accept-Encoding headers it got.
func gzipServer(t *testing.T, e *env, code int, answer string) (url string, accepted func() []string) {
	var mu sync.Mutex
	var got []string
	base := e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = append(got, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		body := []byte(answer)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			_, _ = zw.Write(body)
			_ = zw.Close()
			body = zb.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	return base + "/Framework/Oracle", func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestCompressionAskedByDefaultAndOptional(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("compressible ", 1000)
	answer := `{"OK": true, "Value": "` + long + `"}`
	url, accepted := gzipServer(t, e, http.StatusOK, answer)
	for _, off := range []bool{false, true} {
		c := e.client(t, url, diracrpc.Options{}, httpsclient.Options{DisableCompression: off})
		for range 2 { // the second call reuses the connection and the gzip reader
			res, err := c.Call(ctxT(t), "echo", long)
			require.NoError(t, err)
			assert.Equal(t, long, res.Value)
			assert.Equal(t, answer, string(res.Raw), "Raw is the JSON text, inflated")
		}
	}
	assert.Equal(t, []string{"gzip", "gzip", "", ""}, accepted(), "DisableCompression: no Accept-Encoding at all")
}

func TestCompressedFailures(t *testing.T) {
	e := newEnv(t)
	// An error page comes inflated into the error.
	url, _ := gzipServer(t, e, http.StatusInternalServerError, "<html>"+strings.Repeat("x", 2000)+"the reason</html>")
	_, err := e.client(t, url, diracrpc.Options{Attempts: 1}).Call(ctxT(t), "echo", 1)
	require.ErrorIs(t, err, diracrpc.ErrServerFailure)
	assert.Contains(t, err.Error(), "<html>xxx")

	// An answer inflating beyond MaxResponseBytes is refused.
	url, _ = gzipServer(t, e, http.StatusOK, `{"OK": true, "Value": "`+strings.Repeat("a", 1<<20)+`"}`)
	_, err = e.client(t, url, diracrpc.Options{Attempts: 1}, httpsclient.Options{MaxResponseBytes: 64 << 10}).Call(ctxT(t), "echo", 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "answer larger than 65536 bytes")
}

func TestCompressionWithGoServer(t *testing.T) {
	e := newEnv(t)
	_, url := e.startGo(t, server.HTTPSConfig{})
	long := strings.Repeat("gzip ", 100_000)
	for _, off := range []bool{false, true} {
		res, err := e.client(t, url, diracrpc.Options{}, httpsclient.Options{DisableCompression: off}).Call(ctxT(t), "echoAny", long)
		require.NoError(t, err)
		assert.Equal(t, long, res.Value)
		// Held once: the string's bytes are those of Result.Raw.
		s, _ := res.Value.(string)
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		raw := uintptr(unsafe.Pointer(unsafe.SliceData(res.Raw)))
		assert.True(t, p >= raw && p < raw+uintptr(len(res.Raw)), "compression off %v: the string is a copy", off)
	}
}

// The inflated size a gzip answer's trailer declares only sizes the
// client's buffer: an answer of several gzip members (the trailer then
// gives the last one's size) inflates whole, and a trailer that lies is
// refused by the inflater's check, not trusted.
func TestCompressedSizeIsAHint(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("member ", 20_000)
	answer := `{"OK": true, "Value": "` + long + `"}`
	member := func(s string) []byte {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return zb.Bytes()
	}
	serve := func(body []byte) string {
		return e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		})) + "/Framework/Oracle"
	}

	twoMembers := append(member(answer[:len(answer)-1000]), member(answer[len(answer)-1000:])...)
	res, err := e.client(t, serve(twoMembers), diracrpc.Options{}).Call(ctxT(t), "echo")
	require.NoError(t, err)
	assert.Equal(t, long, res.Value, "a trailer declaring 1000 bytes of %d", len(answer))

	lying := member(answer)
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 1<<31)
	_, err = e.client(t, serve(lying), diracrpc.Options{Attempts: 1}).Call(ctxT(t), "echo")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gzip")
}

// TestCompressedTransferFailures: a transfer's error page comes inflated
// into the error, as a call's.
func TestCompressedTransferFailures(t *testing.T) {
	e := newEnv(t)
	url, _ := gzipServer(t, e, http.StatusNotFound, "<html>no such page</html>")
	c := e.client(t, url, diracrpc.Options{Attempts: 1})
	_, err := c.Receive(ctxT(t), "file", io.Discard)
	require.ErrorIs(t, err, diracrpc.ErrNotFound)
	assert.Contains(t, err.Error(), "<html>no such page</html>")
	_, err = c.Send(ctxT(t), "file", strings.NewReader("data"))
	require.ErrorIs(t, err, diracrpc.ErrNotFound)
	assert.Contains(t, err.Error(), "<html>no such page</html>")
}
