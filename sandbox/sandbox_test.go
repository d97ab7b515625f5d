package sandbox_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dbzip2 "github.com/dsnet/compress/bzip2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/sandbox"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// fakeStore plays SandboxStore's rules (WMS.md): the name must be the
// md5 of the data, the answer is the SB: URL, downloads by path.
func fakeStore() (*server.Service, map[string][]byte) {
	files := map[string][]byte{}
	var mu sync.Mutex
	s := server.NewService("WorkloadManagement/SandboxStore")
	s.DefaultAuth = []string{"authenticated"}
	s.HandleTransfer(server.FromClient, server.Transfer{Func: func(_ context.Context, t *server.TransferRequest) (any, error) {
		items, _ := value.Items(t.FileID)
		name, _ := items[0].(string)
		b, err := io.ReadAll(t.Body)
		if err != nil {
			return nil, err
		}
		sum := md5.Sum(b)
		if hex.EncodeToString(sum[:])+".tar.bz2" != name {
			return nil, &diracrpc.Error{Message: "Hashes don't match!"}
		}
		path := fmt.Sprintf("/SandBox/c/ciuser.dirac_user/%s/%s/%s", name[:3], name[3:6], name)
		mu.Lock()
		files[path] = b
		mu.Unlock()
		return "SB:SandboxSE|" + path, nil
	}})
	s.HandleTransfer(server.ToClient, server.Transfer{Func: func(_ context.Context, t *server.TransferRequest) (any, error) {
		mu.Lock()
		b, ok := files[fmt.Sprint(t.FileID)]
		mu.Unlock()
		if !ok {
			return nil, &diracrpc.Error{Message: "No sandbox matches the requirements"}
		}
		_, err := t.Writer.Write(b)
		return nil, err
	}})
	return s, files
}

func TestUploadDownloadExtract(t *testing.T) {
	svc, _ := fakeStore()
	h := testharness.NewT(t, testharness.Options{Service: svc})
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello.txt")
	require.NoError(t, os.WriteFile(hello, []byte("hello\n"), 0o600))
	data := filepath.Join(dir, "data.bin")
	require.NoError(t, os.WriteFile(data, bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000), 0o600))
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		t.Run(string(p), func(t *testing.T) {
			c, err := h.Client(p)
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			u, err := sandbox.Upload(ctx, c, []string{hello, data}, map[string]string{"Job:1": "Input"})
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(u, "SB:SandboxSE|/SandBox/"), u)

			var tarball bytes.Buffer
			require.NoError(t, sandbox.Download(ctx, c, u, &tarball))
			sum := md5.Sum(tarball.Bytes())
			assert.True(t, strings.HasSuffix(u, hex.EncodeToString(sum[:])+".tar.bz2"), "named by its md5")
			out := t.TempDir()
			names, err := sandbox.Extract(&tarball, out)
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"hello.txt", "data.bin"}, names)
			got, _ := os.ReadFile(filepath.Join(out, "hello.txt"))
			assert.Equal(t, "hello\n", string(got))

			err = sandbox.Download(ctx, c, "SB:SandboxSE|/SandBox/none.tar.bz2", io.Discard)
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de)
		})
	}
}

func TestPath(t *testing.T) {
	p, err := sandbox.Path("SB:SandboxSE|/SandBox/a/b.tar.bz2")
	require.NoError(t, err)
	assert.Equal(t, "/SandBox/a/b.tar.bz2", p)
	_, err = sandbox.Path("/SandBox/a")
	assert.Error(t, err)
}

func TestExtractRefusesPathsOutside(t *testing.T) {
	var b bytes.Buffer
	bw, err := dbzip2.NewWriter(&b, nil)
	require.NoError(t, err)
	tw := tar.NewWriter(bw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "../evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte("x"))
	require.NoError(t, tw.Close())
	require.NoError(t, bw.Close())
	dir := t.TempDir()
	_, err = sandbox.Extract(&b, filepath.Join(dir, "out"))
	require.ErrorIs(t, err, sandbox.ErrUnsafePath)
	assert.NoFileExists(t, filepath.Join(dir, "evil"))
}

// TestPackDirectories: a directory goes in with all it holds, under its
// base name, as DIRAC's uploadFilesAsSandbox adds it; what is neither a
// regular file nor a directory is an error, not left out.
func TestPackDirectories(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "inputs")
	require.NoError(t, os.MkdirAll(filepath.Join(in, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(in, "a.txt"), []byte("a"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(in, "sub", "b.txt"), []byte("b"), 0o600))
	top := filepath.Join(dir, "top.txt")
	require.NoError(t, os.WriteFile(top, []byte("top"), 0o600))

	var buf bytes.Buffer
	require.NoError(t, sandbox.Pack(&buf, in, top))
	out := t.TempDir()
	names, err := sandbox.Extract(&buf, out)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"inputs/a.txt", "inputs/sub/b.txt", "top.txt"}, names)
	got, _ := os.ReadFile(filepath.Join(out, "inputs", "sub", "b.txt"))
	assert.Equal(t, "b", string(got))

	require.NoError(t, os.Symlink(top, filepath.Join(in, "link")))
	assert.ErrorContains(t, sandbox.Pack(io.Discard, in), "not a regular file or a directory")
}

// TestUploadRefusesUnknownSandboxTypes: as DIRAC's SandboxStoreClient,
// only Input and Output, before anything is sent.
func TestUploadRefusesUnknownSandboxTypes(t *testing.T) {
	_, err := sandbox.Upload(context.Background(), nil, nil, map[string]string{"Job:1": "Bogus"})
	assert.ErrorContains(t, err, `invalid sandbox type "Bogus"`)
}
