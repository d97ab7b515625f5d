package diracrpc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/sandbox"
	"github.com/diracgo/diracrpc/value"
)

// oracleOptions skips the test unless oracle.Dir names the oracle
// directory whose transfer servers (CS.md) and WMS services (WMS.md) run,
// and returns client options presenting its user proxy.
func oracleOptions(t *testing.T) diracrpc.Options {
	dir := oracle.Require(t, oracle.Dir, "the oracle directory (e.g. /tmp/dirac-oracle), with the transfer and WMS servers of ../shared/oracle/CS.md and WMS.md running,")
	gs := oracle.GridSecurity(dir)
	env := map[string]string{"X509_USER_PROXY": filepath.Join(gs, "user", "proxy_dirac.pem"),
		"X509_CERT_DIR": filepath.Join(gs, "certificates")}
	return diracrpc.Options{Setup: "Oracle", Breaker: diracrpc.BreakerSettings{Disabled: true},
		Locator: credentials.Locator{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}}
}

func oracleClient(t *testing.T, url string) *diracrpc.Client {
	t.Helper()
	o := oracleOptions(t)
	var c *diracrpc.Client
	var err error
	if strings.HasPrefix(url, "https://") {
		c, err = httpsclient.New([]string{url}, o, httpsclient.Options{})
	} else {
		c, err = disetclient.New([]string{url}, o, disetclient.Options{})
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func oracleCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func md5Hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func dictField(t *testing.T, v any, k string) any {
	t.Helper()
	d, ok := v.(*value.Dict)
	require.True(t, ok, "%T %v", v, v)
	x, _ := d.Lookup(k)
	return x
}

// TestRealDIRACTransferOneClient: the TransferOracle over dips:// and
// https:// through the one client, checked with the server's own expected
// and lastUpload.
func TestRealDIRACTransferOneClient(t *testing.T) {
	oracleOptions(t)
	for _, url := range []string{"dips://localhost:9236/Framework/TransferOracle",
		"https://localhost:8445/Framework/TransferOracleTornado"} {
		proto := url[:strings.Index(url, ":")]
		c := oracleClient(t, url)
		for _, id := range []string{"empty", "all256", "gen:3000000", "gen:40000000"} {
			t.Run(proto+"/get/"+id, func(t *testing.T) {
				ctx := oracleCtx(t)
				exp, err := c.Call(ctx, "expected", id)
				require.NoError(t, err)
				h := md5.New()
				n := int64(0)
				_, err = c.Receive(ctx, id, io.MultiWriter(h, countTo(&n)))
				require.NoError(t, err)
				assert.Equal(t, dictField(t, exp.Value, "size"), n)
				assert.Equal(t, dictField(t, exp.Value, "md5"), hex.EncodeToString(h.Sum(nil)))
			})
		}
		uploads := map[string][]byte{"empty": nil, "bin1k": bytes.Repeat([]byte{0, 0xff, 0x80, '\n'}, 256),
			"3MB": genBytes(3_000_000), "40MB": genBytes(40_000_000)}
		for name, data := range uploads {
			t.Run(proto+"/put/"+name, func(t *testing.T) {
				ctx := oracleCtx(t)
				id := fmt.Sprintf("go1-%s-%s-%s", proto, name, randID())
				_, err := c.Send(ctx, id, bytes.NewReader(data), diracrpc.WithToken("tok-"+name))
				require.NoError(t, err)
				last, err := c.Call(ctx, "lastUpload", id)
				require.NoError(t, err)
				assert.Equal(t, int64(len(data)), dictField(t, last.Value, "size"))
				assert.Equal(t, md5Hex(data), dictField(t, last.Value, "md5"))
				if proto == "dips" {
					assert.Equal(t, "tok-"+name, dictField(t, last.Value, "token"))
					assert.Equal(t, int64(len(data)), dictField(t, last.Value, "declaredSize"))
				}
			})
		}
		t.Run(proto+"/unknown", func(t *testing.T) {
			for _, id := range []any{"nope", int64(42)} {
				var buf bytes.Buffer
				_, err := c.Receive(oracleCtx(t), id, &buf)
				var de *diracrpc.Error
				require.ErrorAs(t, err, &de, "%v", id)
				assert.Contains(t, de.Message, "unknown file")
				assert.Zero(t, buf.Len(), "nothing written, over HTTPS too")
			}
		})
		t.Run(proto+"/cancelled put leaves nothing", func(t *testing.T) {
			ctx, cancel := context.WithCancel(oracleCtx(t))
			id := "go1-cancelled-" + randID()
			_, err := c.Send(ctx, id, bytes.NewReader(genBytes(8<<20)), cancelAfter(cancel, 2<<20))
			require.Equal(t, diracrpc.CodeCanceled, diracrpc.CodeOf(err), "%v", err)
			_, err = c.Call(oracleCtx(t), "lastUpload", id)
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de, "DIRAC kept a cancelled upload")
		})
	}
}

func countTo(n *int64) io.Writer {
	return writerFunc(func(p []byte) { *n += int64(len(p)) })
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestRealDIRACStorageElementOneClient: DIRAC's own StorageElement, put
// then get, with and without NoCheckSum, and a missing file.
func TestRealDIRACStorageElementOneClient(t *testing.T) {
	c := oracleClient(t, "dips://localhost:9237/DataManagement/StorageElement")
	ctx := oracleCtx(t)
	data := genBytes(3<<20 + 123)
	path := "/diracrpc-test/" + randID() + "/file.bin"
	_, err := c.Send(ctx, path, bytes.NewReader(data))
	require.NoError(t, err)
	var got bytes.Buffer
	_, err = c.Receive(ctx, path, &got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got.Bytes()))

	_, err = c.Send(ctx, path+".nc", strings.NewReader("hello"), diracrpc.WithToken(diracrpc.NoCheckSumToken))
	require.NoError(t, err)
	got.Reset()
	_, err = c.Receive(ctx, path+".nc", &got, diracrpc.WithToken(diracrpc.NoCheckSumToken))
	require.NoError(t, err)
	assert.Equal(t, "hello", got.String())

	got.Reset()
	_, err = c.Receive(ctx, "/diracrpc-test/missing-"+randID(), &got)
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "does not exist")
}

// TestRealDIRACBundleDeliveryOneClient: the CA bundle, and "not modified".
func TestRealDIRACBundleDeliveryOneClient(t *testing.T) {
	c := oracleClient(t, "dips://localhost:9238/Framework/BundleDelivery")
	ctx := oracleCtx(t)
	var pem bytes.Buffer
	_, err := c.Receive(ctx, "CAs", &pem)
	require.NoError(t, err)
	assert.Contains(t, pem.String(), "-----BEGIN CERTIFICATE-----")

	var tgz bytes.Buffer
	res, err := c.Receive(ctx, []any{"CAs", ""}, &tgz)
	require.NoError(t, err)
	version, ok := res.Value.(string)
	require.True(t, ok, "%T", res.Value)
	zr, err := gzip.NewReader(&tgz)
	require.NoError(t, err)
	h, err := tar.NewReader(zr).Next()
	require.NoError(t, err)
	assert.NotEmpty(t, h.Name)

	var none bytes.Buffer
	res, err = c.Receive(ctx, []any{"CAs", version}, &none)
	require.ErrorIs(t, err, diracrpc.ErrNotModified)
	assert.Equal(t, version, res.Value)
	assert.Zero(t, none.Len())
	assert.Equal(t, diracrpc.CodeUnknown, diracrpc.CodeOf(err))

	_, err = c.Receive(ctx, []any{"NoSuchBundle"}, &none)
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "Unknown bundle")
}

// TestRealDIRACSandboxAndJob: a job sandbox uploaded to and downloaded from
// DIRAC's SandboxStore over each protocol, and a JDL job submitted with it
// to DIRAC's JobManager (WMS.md).
func TestRealDIRACSandboxAndJob(t *testing.T) {
	oracleOptions(t)
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello.txt")
	require.NoError(t, os.WriteFile(hello, []byte("hello from Go "+randID()+"\n"), 0o600))
	for _, side := range []struct{ store, jm, mon string }{
		{"dips://localhost:9333/WorkloadManagement/SandboxStore", "dips://localhost:9330/WorkloadManagement/JobManager",
			"dips://localhost:9331/WorkloadManagement/JobMonitoring"},
		{"https://localhost:8446/WorkloadManagement/TornadoSandboxStore", "https://localhost:8446/WorkloadManagement/TornadoJobManager",
			"https://localhost:8446/WorkloadManagement/TornadoJobMonitoring"},
	} {
		proto := side.store[:strings.Index(side.store, ":")]
		t.Run(proto, func(t *testing.T) {
			ctx := oracleCtx(t)
			store := oracleClient(t, side.store)
			sb, err := sandbox.Upload(ctx, store, []string{hello}, nil)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(sb, "SB:SandboxSE|/SandBox/"), sb)
			// The same sandbox again: DIRAC answers with its URL (over DISET it
			// aborts the upload at the first chunk).
			again, err := sandbox.Upload(ctx, store, []string{hello}, nil)
			require.NoError(t, err)
			assert.Equal(t, sb, again)

			var tarball bytes.Buffer
			require.NoError(t, sandbox.Download(ctx, store, sb, &tarball))
			assert.True(t, strings.HasSuffix(sb, md5Hex(tarball.Bytes())+".tar.bz2"))
			names, err := sandbox.Extract(bytes.NewReader(tarball.Bytes()), t.TempDir())
			require.NoError(t, err)
			assert.Equal(t, []string{"hello.txt"}, names)

			jdl := fmt.Sprintf(`[ Executable = "/bin/cat"; Arguments = "hello.txt"; JobName = "diracrpc-go";
  InputSandbox = {"hello.txt", "%s"}; OutputSandbox = {"std.out", "std.err"};
  StdOutput = "std.out"; StdError = "std.err"; ]`, sb)
			jm := oracleClient(t, side.jm)
			res, err := jm.Call(ctx, "submitJob", jdl)
			require.NoError(t, err)
			jobID, ok := res.Value.(int64)
			require.True(t, ok, "%T %v", res.Value, res.Value)
			t.Logf("%s: sandbox %s, job %d", proto, sb, jobID)
			// submitJob's S_OK carries more than its Value.
			require.NotNil(t, res.Extra)
			id, _ := res.Extra.Lookup("JobID")
			assert.Equal(t, jobID, id)
			_, ok = res.Extra.Lookup("requireProxyUpload")
			assert.True(t, ok, "%v", res.Extra)

			// The output sandbox, as a job wrapper uploads it, then fetched.
			out, err := sandbox.Upload(ctx, store, []string{hello}, map[string]string{fmt.Sprintf("Job:%d", jobID): "Output"})
			require.NoError(t, err)
			tarball.Reset()
			require.NoError(t, sandbox.Download(ctx, store, out, &tarball))
			assigned, err := store.Call(ctx, "getSandboxesAssignedToEntity", fmt.Sprintf("Job:%d", jobID))
			require.NoError(t, err)
			assert.Contains(t, compat.Repr(assigned.Value), "Output")

			mon := oracleClient(t, side.mon)
			st, err := mon.Call(ctx, "getJobsStatus", jobID)
			require.NoError(t, err)
			assert.Contains(t, compat.Repr(st.Value), "Received")
		})
	}
}
