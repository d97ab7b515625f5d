package disetclient_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// TestOracle calls real DIRAC DISET servers started with ../shared/oracle/
// (start_servers.sh). Opt-in: DIRACRPC_ORACLE_DISET_URLS names the URLs,
// comma-separated, e.g.
//
//	DIRACRPC_ORACLE_DISET_URLS=dips://localhost:9150/Framework/Oracle,dip://localhost:9151/Framework/OraclePlain,dip://localhost:9152/Framework/OraclePlainDEnc
//
// with X509_USER_PROXY and X509_CERT_DIR set as the oracle's env.sh and
// selftest.sh set them.
func TestOracle(t *testing.T) {
	env := oracle.Require(t, oracle.DISETURLs, "the URLs of DIRAC DISET servers started with ../shared/oracle/")
	// Resumed sessions must stay off for DIRAC servers (see
	// Config.ResumeSessions): several calls per client check that.
	for _, url := range strings.Split(env, ",") {
		url = strings.TrimSpace(url)
		for _, enc := range []disetclient.Encoding{disetclient.JSON, disetclient.DEncode} {
			t.Run(url+"/"+enc.String(), func(t *testing.T) {
				c, err := disetclient.New([]string{url}, diracrpc.Options{Setup: "Oracle", Logger: quiet}, disetclient.Options{Encoding: enc})
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()

				res, err := c.Call(ctx, "echo", "hello")
				require.NoError(t, err)
				assert.Equal(t, "hello", res.Value)

				res, err = c.Call(ctx, "add", 2, 3)
				require.NoError(t, err)
				assert.Equal(t, int64(5), res.Value)

				// A long string, sent in pieces and read into Raw's memory.
				long := strings.Repeat("QUJD", 1<<19)
				res, err = c.Call(ctx, "echo", long)
				require.NoError(t, err)
				assert.True(t, res.Value == long, "a 2 MiB string comes back whole")

				res, err = c.Call(ctx, "now")
				require.NoError(t, err)
				got := res.Value.(time.Time)
				assert.True(t, got.Equal(testharness.FixedTime) || got.Equal(testharness.FixedTime.Truncate(time.Second)), got)

				// Bytes that are not UTF-8 travel as a DEncode string, which
				// DIRAC's DEncode encoder then cannot write back (it closes
				// the connection): send UTF-8 bytes only.
				res, err = c.Call(ctx, "echoAny", value.NewDict("t", value.Tuple{int64(3), int64(4)}, "b", []byte("caf\u00e9")))
				require.NoError(t, err)
				t.Logf("echoAny: %#v (raw %q)", res.Value, res.Raw)
				// DIRAC's S_OK starts as WithRawResult expects it.
				und, err := c.Call(diracrpc.WithRawResult(ctx), "echoAny", value.NewDict("t", value.Tuple{int64(3), int64(4)}, "b", []byte("caf\u00e9")))
				require.NoError(t, err)
				assert.True(t, und.Undecoded)
				assert.Equal(t, string(res.Raw), string(und.Raw))
				var v any
				require.NoError(t, und.Decode(&v))
				assert.True(t, value.Equal(res.Value, v), "%#v", v)
				_, err = c.Call(diracrpc.WithRawResult(ctx), "fail", "boom")
				var rde *diracrpc.Error
				require.ErrorAs(t, err, &rde)

				_, err = c.Call(ctx, "fail", "boom")
				var de *diracrpc.Error
				require.ErrorAs(t, err, &de)
				assert.Equal(t, "boom", de.Message)

				checkFrameworkErrors(t, ctx, c)

				res, err = c.Call(ctx, "whoami")
				require.NoError(t, err)
				t.Logf("whoami: %v", res.Value)

				res, err = c.Call(ctx, "ping")
				require.NoError(t, err)
				d := res.Value.(*value.Dict)
				assert.Equal(t, []any{"version", "time", "host uptime", "service start time", "service uptime", "load", "name", "cpu times"}, d.Keys())
			})
		}
	}
}

// TestOracleDIPSURLForTornadoPort: DIRAC's Tornado completes the TLS
// handshake and then says nothing to a DISET proposal (it waits for the end
// of an HTTP header): the call ends with its deadline, whose error names the
// possible cause. Opt-in with DIRACRPC_ORACLE_HTTPS_URL.
func TestOracleDIPSURLForTornadoPort(t *testing.T) {
	url := oracle.Require(t, oracle.HTTPSURL, "a DIRAC Tornado service started with ../shared/oracle/ (and X509_USER_PROXY, X509_CERT_DIR)")
	wrong := "dips://" + strings.TrimPrefix(url, "https://")
	c, err := disetclient.New([]string{wrong}, diracrpc.Options{Setup: "Oracle", Logger: quiet, Attempts: 1}, disetclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Call(ctx, "ping")
	assert.Equal(t, diracrpc.CodeTimeout, diracrpc.CodeOf(err), "%v", err)
	testkit.WrongProtocol(t, err, diracrpc.HTTPS, true, url)
}
