package compat_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
)

// fixedFile is a Receiver that writes data in small pieces, then returns err.
type fixedFile struct {
	data []byte
	err  error
}

func (f fixedFile) Receive(_ context.Context, _ any, w io.Writer, _ ...diracrpc.TransferOption) (*diracrpc.Result, error) {
	for b := f.data; len(b) > 0; {
		n := min(len(b), 1000)
		if _, err := w.Write(b[:n]); err != nil {
			return nil, err
		}
		b = b[n:]
	}
	return &diracrpc.Result{}, f.err
}

func TestCompareDownload(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 30000)
	rep := compat.CompareDownload(ctx, fixedFile{data: data}, fixedFile{data: data}, "f", compat.Options{NameA: "dips", NameB: "https"})
	assert.True(t, rep.Equal)
	assert.False(t, rep.Divergent())
	assert.Equal(t, int64(len(data)), rep.A.Size)
	assert.Equal(t, rep.A.MD5, rep.B.MD5)
	var out strings.Builder
	require.NoError(t, rep.WriteText(&out))
	assert.Contains(t, out.String(), "identical bytes")
	assert.Contains(t, out.String(), "md5 ")

	other := bytes.Clone(data)
	other[123456] ^= 1
	rep = compat.CompareDownload(ctx, fixedFile{data: data}, fixedFile{data: other}, "f", compat.Options{})
	assert.True(t, rep.Divergent())
	assert.Equal(t, int64(123456), rep.FirstDiff)
	assert.Equal(t, rep.A.Size, rep.B.Size)
	assert.NotEqual(t, rep.A.MD5, rep.B.MD5)

	rep = compat.CompareDownload(ctx, fixedFile{data: data}, fixedFile{data: data[:70000]}, "f", compat.Options{})
	assert.True(t, rep.Divergent())
	assert.Equal(t, int64(70000), rep.FirstDiff)

	refused := &diracrpc.Error{Message: "unknown file"}
	rep = compat.CompareDownload(ctx, fixedFile{err: refused}, fixedFile{err: refused}, "f", compat.Options{})
	assert.False(t, rep.Divergent(), "both refused alike")
	assert.False(t, rep.Failed())
	rep = compat.CompareDownload(ctx, fixedFile{data: data}, fixedFile{err: refused}, "f", compat.Options{})
	assert.True(t, rep.Divergent())
	rep = compat.CompareDownload(ctx, fixedFile{data: data}, fixedFile{data: data[:5], err: io.ErrUnexpectedEOF}, "f", compat.Options{})
	assert.True(t, rep.Failed())
	out.Reset()
	require.NoError(t, rep.WriteJSON(&out))
	assert.Contains(t, out.String(), `"error":"unexpected EOF"`)
}
