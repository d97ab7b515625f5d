package httpsclient_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/value"
)

// TestOracleHTTPS calls a real DIRAC Tornado service started with
// ../shared/oracle/ (start_servers.sh). Opt-in:
//
//	DIRACRPC_ORACLE_HTTPS_URL=https://localhost:8443/Framework/OracleTornado \
//	X509_USER_PROXY=/tmp/dirac-oracle/etc/grid-security/user/proxy_dirac.pem \
//	X509_CERT_DIR=/tmp/dirac-oracle/etc/grid-security/certificates go test -run Oracle ./httpsclient/
func TestOracleHTTPS(t *testing.T) {
	url := oracle.Require(t, oracle.HTTPSURL, "a DIRAC Tornado service started with ../shared/oracle/ (and X509_USER_PROXY, X509_CERT_DIR)")
	c, err := httpsclient.New([]string{url}, diracrpc.Options{Setup: "Oracle", Logger: quiet}, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx := ctxT(t)

	raw := map[string]string{
		"echo":      `{"OK": true, "Value": "hello"}`,
		"add":       `{"OK": true, "Value": 5}`,
		"echoAny":   `{"OK": true, "Value": {"s": "caf\u00e9", "i": -7, "f": 2.5, "n": null, "b": true, "l": [1, 2], "t": [3, 4], "k": {"1": "x"}}}`,
		"now":       `{"OK": true, "Value": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}`,
		"echoBytes": `{"OK": true, "Value": {"__dCls": "b64", "obj": "AAH/"}}`,
	}
	for method, args := range map[string][]any{
		"echo": {"hello"}, "add": {2, 3}, "now": nil, "echoBytes": {[]byte{0, 1, 255}},
		"echoAny": {value.NewDict("s", "café", "i", -7, "f", 2.5, "n", nil, "b", true, "l", []any{1, 2},
			"t", value.Tuple{3, 4}, "k", value.NewDict(1, "x"))},
	} {
		m := method
		if m == "echoBytes" {
			m = "echoAny"
		}
		res, err := c.Call(ctx, m, args...)
		require.NoError(t, err, method)
		assert.Equal(t, raw[method], string(res.Raw), method)
		assert.Equal(t, url, res.URL)
		// Tornado's S_OK starts as WithRawResult expects it.
		und, err := c.Call(diracrpc.WithRawResult(ctx), m, args...)
		require.NoError(t, err, method)
		assert.True(t, und.Undecoded, method)
		assert.Equal(t, raw[method], string(und.Raw), method)
		var v any
		require.NoError(t, und.Decode(&v), method)
		assert.True(t, value.Equal(res.Value, v), "%s: %#v", method, v)
	}

	// A long string, sent in the form and read into Raw's memory.
	long := strings.Repeat("QUJD", 1<<19)
	res, err := c.Call(ctx, "echo", long)
	require.NoError(t, err)
	assert.True(t, res.Value == long, "a 2 MiB string comes back whole")

	for _, ctx := range []context.Context{ctx, diracrpc.WithRawResult(ctx)} {
		_, err = c.Call(ctx, "failErrno", 1111, "custom")
		var de *diracrpc.Error
		require.ErrorAs(t, err, &de)
		assert.Equal(t, 1111, de.Errno)
		assert.ErrorIs(t, err, diracrpc.ErrUnauthorized)
	}

	_, err = c.Call(ctx, "crash")
	require.ErrorIs(t, err, diracrpc.ErrServerFailure)
	assert.Equal(t, diracrpc.CodeServerFailure, diracrpc.CodeOf(err))
	assert.Contains(t, err.Error(), "500")

	_, err = c.Call(ctx, "doesNotExist")
	require.ErrorIs(t, err, diracrpc.ErrNotImplemented)
	assert.Equal(t, diracrpc.CodeNotImplemented, diracrpc.CodeOf(err))
	assert.False(t, diracrpc.Reached(err))

	res, err = c.Call(ctx, "whoami")
	require.NoError(t, err)
	d := res.Value.(*value.Dict)
	assert.NotEmpty(t, get(d, "DN"))

	res, err = c.Call(ctx, "ping")
	require.NoError(t, err)
	d = res.Value.(*value.Dict)
	assert.Equal(t, "Framework/OracleTornado", get(d, "name"))
	assert.Equal(t, []any{"version", "time", "host uptime", "service start time", "service uptime", "load", "name", "cpu times"}, d.Keys())
	// Tornado's load is /proc/loadavg's text, two decimals each (DISET's is
	// Python's repr of os.getloadavg()'s floats).
	assert.Regexp(t, `^\d+\.\d\d \d+\.\d\d \d+\.\d\d$`, get(d, "load"))

	// Without a certificate: DIRAC's 401, as ErrUnauthorized.
	anon, err := httpsclient.New([]string{url}, diracrpc.Options{Logger: quiet}, httpsclient.Options{UseAccessToken: true, BearerToken: "not-a-jwt"})
	require.NoError(t, err)
	defer anon.Close()
	_, err = anon.Call(ctx, "echo", "x")
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
}

// TestOracleHTTPSURLForDISETPort: DIRAC's DISET server completes the TLS
// handshake and then reads an HTTPS request as the start of a frame whose
// length never ends, and says nothing: the call ends with its deadline,
// whose error names the possible cause. Opt-in with
// DIRACRPC_ORACLE_DISET_URLS (its dips:// URL).
func TestOracleHTTPSURLForDISETPort(t *testing.T) {
	urls := oracle.Require(t, oracle.DISETURLs, "the URLs of DIRAC DISET servers started with ../shared/oracle/")
	var dips string
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); strings.HasPrefix(u, "dips://") {
			dips = u
		}
	}
	if dips == "" {
		t.Skip("no dips:// URL in " + oracle.DISETURLs)
	}
	wrong := "https://" + strings.TrimPrefix(dips, "dips://")
	c, err := httpsclient.New([]string{wrong}, diracrpc.Options{Setup: "Oracle", Logger: quiet, Attempts: 1}, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Call(ctx, "ping")
	assert.Equal(t, diracrpc.CodeTimeout, diracrpc.CodeOf(err), "%v", err)
	testkit.WrongProtocol(t, err, diracrpc.DIPS, true, dips)
}
