package filetransfer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/value"
)

// realDIRAC reaches the transfer servers of ../shared/oracle/CS.md
// (cs_start.sh): DIRAC's own FileHelper on the other end.
type realDIRAC struct {
	tls *credentials.ClientTLS
}

// oracleEnvVar names the oracle directory (setup_oracle.sh); the tests
// against real DIRAC are skipped without it.
const oracleEnvVar = "DIRACRPC_ORACLE_DIR"

func loadRealDIRAC(t *testing.T) *realDIRAC {
	t.Helper()
	dir := os.Getenv(oracleEnvVar)
	if dir == "" {
		t.Skip("set " + oracleEnvVar + " (e.g. /tmp/dirac-oracle) with the transfer servers of ../shared/oracle/CS.md running to test against real DIRAC")
	}
	gs := filepath.Join(dir, "etc", "grid-security")
	proxy, err := credentials.LoadProxy(filepath.Join(gs, "user", "proxy_dirac.pem"), credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	cas, err := credentials.LoadCADir(filepath.Join(gs, "certificates"))
	require.NoError(t, err)
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: proxy, CAs: cas})
	require.NoError(t, err)
	return &realDIRAC{tls: ct}
}

func port(env, def string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	return def
}

// open connects to service on port and proposes action, as DIRAC's
// BaseClient does; enc is what this side writes.
func (o *realDIRAC) open(t *testing.T, ctx context.Context, p, service string, action []any, enc diset.Encoding) *diset.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", "localhost:"+p)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.SetDeadline(time.Now().Add(30*time.Second)))
	tc := tlsClient(raw, o.tls, "localhost")
	require.NoError(t, tc.HandshakeContext(ctx))
	c := diset.NewConn(tc, enc)
	require.NoError(t, c.Send(diracrpc.OK([]any{[]any{service, "Oracle", "unknown"}, action, "", "diracrpc-test"})))
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	_, err = diracrpc.ParseResult(v)
	require.NoError(t, err)
	require.NoError(t, raw.SetDeadline(time.Time{}))
	return c
}

// rpc calls a method of the TransferOracle (expected, lastUpload).
func (o *realDIRAC) rpc(t *testing.T, method string, args ...any) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := o.open(t, ctx, port("XFER_DIPS_PORT", "9236"), "Framework/TransferOracle", []any{"RPC", method}, diset.JSON)
	require.NoError(t, c.Net().SetDeadline(time.Now().Add(30*time.Second)))
	require.NoError(t, c.Send(diracrpc.OK(args)))
	v, _, err := c.Recv(0)
	require.NoError(t, err)
	return diracrpc.ParseResult(v)
}

func field(t *testing.T, v any, k string) any {
	t.Helper()
	d, ok := v.(*value.Dict)
	require.True(t, ok, "%T", v)
	x, _ := d.Lookup(k)
	return x
}

func hexMD5(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// genOf is the oracle's "gen:<n>" content.
func genOf(n int) []byte { return pattern(n) }

func TestRealDIRACTransferOracle(t *testing.T) {
	o := loadRealDIRAC(t)
	xp := port("XFER_DIPS_PORT", "9236")
	sizes := map[string]int{"empty": 0, "all256": 1024, "gen:3000000": 3_000_000, "gen:40000000": 40_000_000}
	for _, enc := range []diset.Encoding{diset.JSON, diset.DEncode} {
		for id := range sizes {
			t.Run(fmt.Sprintf("get/%v/%s", enc, id), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				exp, err := o.rpc(t, "expected", id)
				require.NoError(t, err)
				c := o.open(t, ctx, xp, "Framework/TransferOracle", ToClient.Action(), enc)
				h := md5.New()
				var n int64
				res, err := Download(ctx, c, FileInfo{Direction: ToClient, FileID: id},
					io.MultiWriter(h, writerFunc(func(p []byte) { n += int64(len(p)) })), Options{})
				require.NoError(t, err)
				assert.Equal(t, field(t, exp, "size"), n)
				assert.Equal(t, field(t, exp, "md5"), hex.EncodeToString(h.Sum(nil)))
				assert.Equal(t, field(t, exp, "md5"), field(t, res, "md5"))
			})
		}
		uploads := map[string][]byte{"empty": nil, "bin1k": bytes.Repeat([]byte{0, 0xff, 0x80, '\n'}, 256),
			"3MB": genOf(3_000_000), "40MB": genOf(40_000_000)}
		for name, data := range uploads {
			t.Run(fmt.Sprintf("put/%v/%s", enc, name), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				id := fmt.Sprintf("go-%v-%s-%s", enc, name, randHex())
				c := o.open(t, ctx, xp, "Framework/TransferOracle", FromClient.Action(), enc)
				res, err := Upload(ctx, c, FileInfo{Direction: FromClient, FileID: id, Token: "tok-" + name, Size: int64(len(data))},
					bytes.NewReader(data), Options{})
				require.NoError(t, err)
				assert.Equal(t, hexMD5(data), field(t, res, "md5"))
				last, err := o.rpc(t, "lastUpload", id)
				require.NoError(t, err)
				assert.Equal(t, int64(len(data)), field(t, last, "size"))
				assert.Equal(t, hexMD5(data), field(t, last, "md5"))
				assert.Equal(t, int64(len(data)), field(t, last, "declaredSize"))
				assert.Equal(t, "tok-"+name, field(t, last, "token"))
				assert.Equal(t, "diset", field(t, last, "protocol"))
			})
		}
	}
	t.Run("unknown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, id := range []any{"nope", []any{}, int64(42)} {
			c := o.open(t, ctx, xp, "Framework/TransferOracle", ToClient.Action(), diset.JSON)
			var buf bytes.Buffer
			_, err := Download(ctx, c, FileInfo{Direction: ToClient, FileID: id}, &buf, Options{})
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de, "%v", id)
			assert.Contains(t, de.Message, "unknown file")
			assert.Zero(t, buf.Len())
		}
	})
	t.Run("cancelled put leaves nothing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		id := "go-cancelled-" + randHex()
		cctx, stop := context.WithCancel(ctx)
		c := o.open(t, ctx, xp, "Framework/TransferOracle", FromClient.Action(), diset.JSON)
		_, err := Upload(cctx, c, FileInfo{Direction: FromClient, FileID: id, Size: 8 * ChunkSize},
			bytes.NewReader(genOf(8*ChunkSize)), Options{Progress: func(n int64) {
				if n >= 2*ChunkSize {
					stop()
				}
			}})
		require.ErrorIs(t, err, context.Canceled)
		_, err = o.rpc(t, "lastUpload", id)
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de, "DIRAC kept a cancelled upload")
	})
	t.Run("cancelled get", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cctx, stop := context.WithCancel(ctx)
		c := o.open(t, ctx, xp, "Framework/TransferOracle", ToClient.Action(), diset.JSON)
		_, err := Download(cctx, c, FileInfo{Direction: ToClient, FileID: "gen:40000000"}, io.Discard, Options{
			Progress: func(n int64) {
				if n >= 2*ChunkSize {
					stop()
				}
			}})
		require.ErrorIs(t, err, context.Canceled)
		_, err = o.rpc(t, "expected", "text") // the server is still fine
		require.NoError(t, err)
	})
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func randHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestRealDIRACStorageElement(t *testing.T) {
	o := loadRealDIRAC(t)
	sp := port("SE_PORT", "9237")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := genOf(3*ChunkSize + 123)
	path := "/diracrpc-test/" + randHex() + "/file.bin"
	for _, enc := range []diset.Encoding{diset.JSON, diset.DEncode} {
		c := o.open(t, ctx, sp, "DataManagement/StorageElement", FromClient.Action(), enc)
		_, err := Upload(ctx, c, FileInfo{Direction: FromClient, FileID: path, Size: int64(len(data))}, bytes.NewReader(data), Options{})
		require.NoError(t, err)
		c = o.open(t, ctx, sp, "DataManagement/StorageElement", ToClient.Action(), enc)
		var got bytes.Buffer
		_, err = Download(ctx, c, FileInfo{Direction: ToClient, FileID: path}, &got, Options{})
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got.Bytes()), "%v: %d bytes back", enc, got.Len())
	}
	// NoCheckSum both ways (DIRAC's DIPStorage token).
	c := o.open(t, ctx, sp, "DataManagement/StorageElement", FromClient.Action(), diset.JSON)
	_, err := Upload(ctx, c, FileInfo{Direction: FromClient, FileID: path + ".nc", Token: NoCheckSumToken, Size: 5},
		strings.NewReader("hello"), Options{NoCheckSum: true})
	require.NoError(t, err)
	c = o.open(t, ctx, sp, "DataManagement/StorageElement", ToClient.Action(), diset.JSON)
	var got bytes.Buffer
	_, err = Download(ctx, c, FileInfo{Direction: ToClient, FileID: path + ".nc", Token: NoCheckSumToken}, &got, Options{NoCheckSum: true})
	require.NoError(t, err)
	assert.Equal(t, "hello", got.String())
	// A missing file: DIRAC ends the data (empty) then answers S_ERROR.
	c = o.open(t, ctx, sp, "DataManagement/StorageElement", ToClient.Action(), diset.JSON)
	got.Reset()
	_, err = Download(ctx, c, FileInfo{Direction: ToClient, FileID: "/diracrpc-test/missing-" + randHex()}, &got, Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "does not exist")
}

func TestRealDIRACBundleDelivery(t *testing.T) {
	o := loadRealDIRAC(t)
	bp := port("BUNDLE_PORT", "9238")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// "CAs": one PEM file with the CA certificates.
	c := o.open(t, ctx, bp, "Framework/BundleDelivery", ToClient.Action(), diset.JSON)
	var pem bytes.Buffer
	_, err := Download(ctx, c, FileInfo{Direction: ToClient, FileID: "CAs"}, &pem, Options{})
	require.NoError(t, err)
	assert.Contains(t, pem.String(), "-----BEGIN CERTIFICATE-----")

	// ["CAs", ""]: a tar.gz of the CA directory, and its version.
	c = o.open(t, ctx, bp, "Framework/BundleDelivery", ToClient.Action(), diset.DEncode)
	var tgz bytes.Buffer
	version, err := Download(ctx, c, FileInfo{Direction: ToClient, FileID: []any{"CAs", ""}}, &tgz, Options{})
	require.NoError(t, err)
	require.IsType(t, "", version)
	zr, err := gzip.NewReader(&tgz)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
	}
	assert.NotEmpty(t, names)
	t.Logf("CA bundle version %v: %d entries", version, len(names))

	// The same version again: DIRAC aborts and answers S_OK(version).
	c = o.open(t, ctx, bp, "Framework/BundleDelivery", ToClient.Action(), diset.JSON)
	var none bytes.Buffer
	v, err := Download(ctx, c, FileInfo{Direction: ToClient, FileID: []any{"CAs", version}}, &none, Options{})
	require.ErrorIs(t, err, ErrAborted)
	assert.Equal(t, version, v)
	assert.Zero(t, none.Len())

	// An unknown bundle.
	c = o.open(t, ctx, bp, "Framework/BundleDelivery", ToClient.Action(), diset.JSON)
	_, err = Download(ctx, c, FileInfo{Direction: ToClient, FileID: []any{"NoSuchBundle"}}, &none, Options{})
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Message, "Unknown bundle")
}

// tlsClient never resumes sessions: DIRAC's M2Crypto servers reset resumed
// handshakes (see disetclient's ResumeSessions).
func tlsClient(raw net.Conn, ct *credentials.ClientTLS, host string) *tls.Conn {
	cfg := ct.Config(host)
	cfg.ClientSessionCache = nil
	return tls.Client(raw, cfg)
}
