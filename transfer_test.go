package diracrpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileScripted is a scripted transport that also moves files.
type fileScripted struct {
	scripted
	transfer func(ctx context.Context, a *Attempt) (*Result, error)
}

func (f *fileScripted) Transfer(ctx context.Context, a *Attempt) (*Result, error) {
	f.mu.Lock()
	f.tried = append(f.tried, a.URL)
	f.mu.Unlock()
	return f.transfer(ctx, a)
}

// brokenAfterData writes (or reads) some data, then loses the connection
// on the first attempt; the next attempts succeed.
func brokenAfterData() func(ctx context.Context, a *Attempt) (*Result, error) {
	n := 0
	return func(_ context.Context, a *Attempt) (*Result, error) {
		n++
		x := a.Transfer
		if x.Writer != nil {
			_, _ = x.Writer.Write([]byte("data"))
		} else {
			_, _ = io.ReadFull(x.Reader, make([]byte, 4))
		}
		if n == 1 {
			return nil, &TransportError{URL: a.URL, Code: CodeUnreachable, Err: io.ErrUnexpectedEOF}
		}
		if x.Reader != nil {
			rest, _ := io.ReadAll(x.Reader)
			return &Result{Value: int64(4 + len(rest))}, nil
		}
		return &Result{Value: "done"}, nil
	}
}

func newFileScripted(t *testing.T, transfer func(context.Context, *Attempt) (*Result, error)) (*Client, *fileScripted) {
	f := &fileScripted{transfer: transfer}
	c, err := NewClient([]string{"dips://a:1/S/C", "dips://b:1/S/C"}, fast(Options{}),
		func(*TransportConfig) (Transport, error) { return f, nil })
	require.NoError(t, err)
	return c, f
}

// TestTransferRetryRule: once data flowed a transfer is made once, unless
// marked idempotent with a reader or writer that rewinds.
func TestTransferRetryRule(t *testing.T) {
	ctx := context.Background()

	c, f := newFileScripted(t, brokenAfterData())
	_, err := c.Receive(ctx, "id", &bytes.Buffer{})
	require.Error(t, err)
	assert.True(t, Reached(err), "data was written")
	assert.Len(t, f.tried, 1)

	c, f = newFileScripted(t, brokenAfterData())
	_, err = c.Receive(WithIdempotent(ctx), "id", &bytes.Buffer{})
	require.Error(t, err)
	assert.Len(t, f.tried, 1, "a buffer cannot be rewound")

	c, f = newFileScripted(t, brokenAfterData())
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer file.Close()
	_, err = c.Receive(WithIdempotent(ctx), "id", file)
	require.NoError(t, err)
	assert.Len(t, f.tried, 2)
	got, _ := os.ReadFile(file.Name())
	assert.Equal(t, "data", string(got), "the file holds the data once")

	c, f = newFileScripted(t, brokenAfterData())
	res, err := c.Send(WithIdempotent(ctx), "id", bytes.NewReader([]byte("0123456789")))
	require.NoError(t, err)
	assert.Len(t, f.tried, 2)
	assert.Equal(t, int64(10), res.Value, "the reader was rewound")

	c, f = newFileScripted(t, brokenAfterData())
	_, err = c.Send(ctx, "id", bytes.NewReader([]byte("0123456789")))
	require.Error(t, err)
	assert.Len(t, f.tried, 1, "not idempotent")
}

func TestTransferWithoutFileTransport(t *testing.T) {
	c, _ := newScripted(t, []string{"dips://a:1/S/C"}, Options{}, func(context.Context, *Attempt) (*Result, error) {
		return nil, errors.New("not called")
	})
	_, err := c.Receive(context.Background(), "id", io.Discard)
	assert.Equal(t, CodeNotImplemented, CodeOf(err))
}

func TestSizeOf(t *testing.T) {
	assert.Equal(t, int64(3), sizeOf(bytes.NewReader([]byte("abc"))))
	assert.Equal(t, int64(-1), sizeOf(io.MultiReader()))
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte("hello"), 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	_, _ = f.Seek(2, io.SeekStart)
	assert.Equal(t, int64(3), sizeOf(f))
}
