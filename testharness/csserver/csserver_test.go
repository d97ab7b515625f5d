package csserver_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/csserver"
	"github.com/diracgo/diracrpc/value"
)

func call(t *testing.T, svc *server.Service, p diracrpc.Protocol, method string, args ...any) any {
	t.Helper()
	d := svc.Dispatch(context.Background(), &server.Request{Service: endpoint.ConfigService, Method: method, Args: args,
		Credentials: &server.Credentials{}, Protocol: p})
	v, err := diracrpc.ParseResult(d)
	require.NoError(t, err)
	return v
}

func TestCS(t *testing.T) {
	cs := csserver.New(cfg.MustParse("DIRAC\n{\nSetup = P\n}\n"))
	svc := cs.Service()
	var versions, newer atomic.Int64
	testharness.CountCalls(svc, "getVersion", &versions)
	testharness.CountCalls(svc, "getCompressedDataIfNewer", &newer)
	v1 := call(t, svc, diracrpc.DIPS, "getVersion").(string)
	assert.Equal(t, v1, cs.Config().GetDefault("/DIRAC/Configuration/Version", ""))

	// DISET: bytes; HTTPS: base64 text; both decode to the configuration.
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		data := call(t, svc, p, "getCompressedData")
		text, err := endpoint.DecodeConfigData(data, p, 1<<20)
		require.NoError(t, err)
		c, err := cfg.Parse("cs", text)
		require.NoError(t, err)
		assert.Equal(t, "P", c.GetDefault("/DIRAC/Setup", ""))
		if p == diracrpc.HTTPS {
			assert.IsType(t, "", data)
		} else {
			assert.IsType(t, []byte{}, data)
		}
	}

	d := call(t, svc, diracrpc.DIPS, "getCompressedDataIfNewer", "0").(*value.Dict)
	assert.True(t, d.Has("data"))
	nv, _ := d.Lookup("newestVersion")
	assert.Equal(t, v1, nv)
	d = call(t, svc, diracrpc.DIPS, "getCompressedDataIfNewer", v1).(*value.Dict)
	assert.False(t, d.Has("data"), "nothing newer")

	v2 := cs.Update(cfg.MustParse("DIRAC\n{\nSetup = Q\n}\n"))
	v3 := cs.Update(cfg.MustParse("DIRAC\n{\nSetup = R\n}\n"))
	assert.Less(t, v1, v2)
	assert.Less(t, v2, v3)
	d = call(t, svc, diracrpc.DIPS, "getCompressedDataIfNewer", v1).(*value.Dict)
	assert.True(t, d.Has("data"))
	assert.EqualValues(t, 3, newer.Load())
	assert.EqualValues(t, 1, versions.Load())

	// Types are checked as DIRAC's types_ does.
	res := svc.Dispatch(context.Background(), &server.Request{Method: "getCompressedDataIfNewer", Args: []any{int64(1)},
		Credentials: &server.Credentials{}, Protocol: diracrpc.DIPS})
	_, err := diracrpc.ParseResult(res)
	assert.Error(t, err)
}
