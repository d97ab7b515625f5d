package endpoint_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/csserver"
)

// remoteCfg is what the configuration servers hold.
const remoteCfg = `
DIRAC
{
  Setup = Production
  Setups
  {
    Production
    {
      Framework = Production
    }
  }
  Configuration
  {
    Servers = dips://cs.example.org:9135/Configuration/Server
  }
}
Systems
{
  Framework
  {
    Production
    {
      URLs
      {
        Foo = dips://foo.example.org:9100/Framework/Foo
        Bar = https://bar.example.org/Framework/Bar
      }
    }
  }
}
`

// inProcess dials the CS service without a network, running the payload
// through the wire encoding of the protocol: JSON for HTTPS and DISET-JSON,
// DEncode for DISET-DEncode. It exercises every shape of the data field.
type inProcess struct {
	svc     *server.Service
	proto   diracrpc.Protocol
	dencode bool
	fail    map[string]error // by URL
	dialed  []string
	mu      sync.Mutex
}

func (p *inProcess) dial(_ context.Context, url string) (diracrpc.Caller, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialed = append(p.dialed, url)
	if err := p.fail[url]; err != nil {
		return nil, err
	}
	return callerFunc(func(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
		d := p.svc.Dispatch(ctx, &server.Request{Service: endpoint.ConfigService, Method: method, Args: args,
			Credentials: &server.Credentials{}, Protocol: p.proto})
		var v any
		if p.dencode {
			b, err := dencode.Marshal(d)
			if err != nil {
				return nil, err
			}
			if v, _, err = dencode.Decode(b); err != nil {
				return nil, err
			}
		} else {
			b, err := jencode.Marshal(d)
			if err != nil {
				return nil, err
			}
			if v, err = jencode.Decode(b); err != nil {
				return nil, err
			}
		}
		val, err := diracrpc.ParseResult(v)
		if err != nil {
			return nil, err
		}
		return &diracrpc.Result{Value: val, Protocol: p.proto, URL: url}, nil
	}), nil
}

type callerFunc func(ctx context.Context, method string, args ...any) (*diracrpc.Result, error)

func (f callerFunc) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	return f(ctx, method, args...)
}

func localCfg(servers string) *cfg.Config {
	return cfg.MustParse("DIRAC\n{\n  Setup = Production\n  Configuration\n  {\n    Servers = " + servers +
		"\n  }\n}\nSystems\n{\n  Framework\n  {\n    Production\n    {\n      URLs\n      {\n        Foo = dips://mine.example.org:1/Framework/Foo\n      }\n    }\n  }\n}\n")
}

func TestBootstrapShapes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proto   diracrpc.Protocol
		dencode bool
	}{
		{"https", diracrpc.HTTPS, false},
		{"dips json", diracrpc.DIPS, false},
		{"dips dencode", diracrpc.DIPS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := csserver.New(cfg.MustParse(remoteCfg))
			var newer atomic.Int64
			p := &inProcess{svc: countedCS(cs, &newer), proto: tc.proto, dencode: tc.dencode}
			b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{
				Local: localCfg("dips://cs1:9135/Configuration/Server"), Dial: p.dial})
			require.NoError(t, err)
			assert.Equal(t, "", b.Version())
			c, err := b.Config(ctx)
			require.NoError(t, err)
			// Remote options present, local options win.
			assert.Equal(t, "https://bar.example.org/Framework/Bar", c.GetDefault("/Systems/Framework/Production/URLs/Bar", ""))
			assert.Equal(t, "dips://mine.example.org:1/Framework/Foo", c.GetDefault("/Systems/Framework/Production/URLs/Foo", ""))
			assert.Equal(t, "dips://cs1:9135/Configuration/Server", c.GetDefault("/DIRAC/Configuration/Servers", ""))
			assert.NotEmpty(t, b.Version())
			assert.Equal(t, b.Version(), c.GetDefault("/DIRAC/Configuration/Version", ""))
			assert.EqualValues(t, 1, newer.Load())

			// Cached: no new call.
			_, err = b.Config(ctx)
			require.NoError(t, err)
			assert.EqualValues(t, 1, newer.Load())

			// Refresh with nothing newer keeps the snapshot.
			v := b.Version()
			require.NoError(t, b.Refresh(ctx))
			assert.Equal(t, v, b.Version())
			c2, _ := b.Config(ctx)
			assert.Same(t, c, c2)

			// A new version is picked up by the next refresh.
			upd := cfg.MustParse(remoteCfg)
			require.NoError(t, upd.Set("/Systems/Framework/Production/URLs/Baz", "dips://baz:1/Framework/Baz"))
			nv := cs.Update(upd)
			require.NoError(t, b.Refresh(ctx))
			assert.Equal(t, nv, b.Version())
			c3, _ := b.Config(ctx)
			assert.Equal(t, "dips://baz:1/Framework/Baz", c3.GetDefault("/Systems/Framework/Production/URLs/Baz", ""))

			// Resolution through the bootstrap.
			r := &endpoint.Resolver{Source: b}
			res, err := r.Resolve(ctx, "Framework/Bar")
			require.NoError(t, err)
			assert.Equal(t, []string{"https://bar.example.org:443/Framework/Bar"}, res.Main)
		})
	}
}

func TestBootstrapFailover(t *testing.T) {
	ctx := context.Background()
	cs := csserver.New(cfg.MustParse(remoteCfg))
	bad := "dips://down:9135/Configuration/Server"
	p := &inProcess{svc: cs.Service(), proto: diracrpc.DIPS, fail: map[string]error{bad: errors.New("connection refused")}}
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{
		Local: localCfg(bad + ", dips://up:9135"), Dial: p.dial, Shuffle: func([]string) {}})
	require.NoError(t, err)
	c, err := b.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Production", c.GetDefault("/DIRAC/Setups/Production/Framework", ""))
	assert.Equal(t, []string{bad, "dips://up:9135/Configuration/Server"}, p.dialed, "path completed as DIRAC does")

	// All down: the error names every server and matches ErrConfigServers.
	p.fail["dips://up:9135/Configuration/Server"] = errors.New("no route")
	b, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: localCfg(bad + ", dips://up:9135"), Dial: p.dial})
	require.NoError(t, err)
	_, err = b.Config(ctx)
	assert.ErrorIs(t, err, endpoint.ErrConfigServers)
	assert.ErrorContains(t, err, "connection refused")
	assert.ErrorContains(t, err, "no route")
	_, err = (&endpoint.Resolver{Source: b}).Resolve(ctx, "Framework/Foo")
	assert.ErrorIs(t, err, endpoint.ErrConfigServers)

	// A bad server URL names the option.
	b, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: localCfg("dips://noport/Configuration/Server"), Dial: p.dial})
	require.NoError(t, err)
	_, err = b.Config(ctx)
	assert.ErrorIs(t, err, endpoint.ErrBadURL)
	assert.ErrorContains(t, err, "/DIRAC/Configuration/Servers")
}

func TestBootstrapGatewayAndNoServers(t *testing.T) {
	ctx := context.Background()
	cs := csserver.New(cfg.MustParse(remoteCfg))
	p := &inProcess{svc: cs.Service(), proto: diracrpc.HTTPS}
	local := localCfg("dips://cs1:9135/Configuration/Server")
	require.NoError(t, local.Set("/LocalSite/Site", "My.Site"))
	require.NoError(t, local.Set("/DIRAC/Gateways/My.Site", "dips://gw:9159"))
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: p.dial})
	require.NoError(t, err)
	_, err = b.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://gw:9159/Configuration/Server"}, p.dialed)

	// Without servers the local configuration is the configuration.
	local = cfg.MustParse("DIRAC\n{\nSetup = X\n}\n")
	b, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: p.dial})
	require.NoError(t, err)
	c, err := b.Config(ctx)
	require.NoError(t, err)
	assert.Same(t, local, c)
	require.NoError(t, b.Refresh(ctx))

	_, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Dial: p.dial})
	assert.Error(t, err)
	_, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local})
	assert.Error(t, err)
}

func TestBootstrapConcurrentFirstUse(t *testing.T) {
	var newer atomic.Int64
	p := &inProcess{svc: countedCS(csserver.New(cfg.MustParse(remoteCfg)), &newer), proto: diracrpc.DIPS}
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: localCfg("dips://cs1:9135"), Dial: p.dial})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := b.Config(context.Background())
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, newer.Load())
}

// countedCS returns cs's service with its getCompressedDataIfNewer runs
// counted in n.
func countedCS(cs *csserver.CS, n *atomic.Int64) *server.Service {
	svc := cs.Service()
	testharness.CountCalls(svc, "getCompressedDataIfNewer", n)
	return svc
}

func TestBootstrapRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := csserver.New(cfg.MustParse(remoteCfg))
	p := &inProcess{svc: cs.Service(), proto: diracrpc.DIPS}
	var calls atomic.Int64
	enough := make(chan struct{})
	dial := func(ctx context.Context, url string) (diracrpc.Caller, error) {
		if calls.Add(1) == 3 {
			close(enough)
		}
		return p.dial(ctx, url)
	}
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: localCfg("dips://cs1:9135"), Dial: dial,
		RefreshInterval: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, b.RefreshInterval())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-enough:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not refresh")
	}
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	assert.NotEmpty(t, b.Version())
}

func TestRefreshInterval(t *testing.T) {
	local := localCfg("dips://cs1:9135")
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: (&inProcess{}).dial})
	require.NoError(t, err)
	assert.Equal(t, endpoint.DefaultRefreshInterval, b.RefreshInterval())
	require.NoError(t, local.Set("/DIRAC/Configuration/RefreshTime", "42"))
	assert.Equal(t, 42*time.Second, b.RefreshInterval())
}

func zlibOf(t *testing.T, s string) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestDecodeConfigData(t *testing.T) {
	z := zlibOf(t, "A = 1\n")
	for name, tc := range map[string]struct {
		data  any
		proto diracrpc.Protocol
	}{
		"bytes":           {z, diracrpc.DIPS},
		"raw string":      {string(z), diracrpc.DIPS},
		"base64 https":    {base64.StdEncoding.EncodeToString(z), diracrpc.HTTPS},
		"base64 on diset": {base64.StdEncoding.EncodeToString(z), diracrpc.DIPS},
	} {
		got, err := endpoint.DecodeConfigData(tc.data, tc.proto, 1<<20)
		require.NoError(t, err, name)
		assert.Equal(t, "A = 1\n", string(got), name)
	}
	_, err := endpoint.DecodeConfigData(int64(1), diracrpc.DIPS, 1<<20)
	assert.ErrorIs(t, err, diracrpc.ErrProtocol)
	_, err = endpoint.DecodeConfigData("not base64 !", diracrpc.HTTPS, 1<<20)
	assert.ErrorIs(t, err, diracrpc.ErrProtocol)
	_, err = endpoint.DecodeConfigData([]byte("garbage"), diracrpc.DIPS, 1<<20)
	assert.ErrorIs(t, err, diracrpc.ErrProtocol)
	// A compression bomb stops at the limit.
	_, err = endpoint.DecodeConfigData(zlibOf(t, strings.Repeat("x", 1<<16)), diracrpc.DIPS, 1000)
	assert.ErrorContains(t, err, "larger than 1000 bytes")
}

func TestBootstrapBadPayload(t *testing.T) {
	for name, reply := range map[string]any{
		"not a dict": "x",
		"bad data":   map[string]any{"newestVersion": "1", "data": []byte("zz")},
		"bad cfg":    map[string]any{"newestVersion": "1", "data": zlibOf(t, "A {\n")},
	} {
		dial := func(context.Context, string) (diracrpc.Caller, error) {
			return callerFunc(func(context.Context, string, ...any) (*diracrpc.Result, error) {
				v := reply
				if m, ok := reply.(map[string]any); ok {
					b, err := jencode.Marshal(m)
					require.NoError(t, err)
					v, err = jencode.Decode(b)
					require.NoError(t, err)
				}
				return &diracrpc.Result{Value: v, Protocol: diracrpc.DIPS}, nil
			}), nil
		}
		b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: localCfg("dips://cs1:9135"), Dial: dial})
		require.NoError(t, err)
		_, err = b.Config(context.Background())
		assert.ErrorIs(t, err, endpoint.ErrConfigServers, name)
		assert.NotEmpty(t, fmt.Sprint(err))
	}
}

// TestRefreshUsesServedServers: as DIRAC's ConfigurationData does, the
// servers asked are the local /DIRAC/Configuration/Servers followed by the
// served ones, so a refresh survives the death of the server the client was
// configured with.
func TestRefreshUsesServedServers(t *testing.T) {
	ctx := context.Background()
	served := cfg.MustParse(remoteCfg)
	const cs1, cs2 = "dips://cs1:9135/Configuration/Server", "https://cs2:8443/Configuration/Server"
	require.NoError(t, served.Set("/DIRAC/Configuration/Servers", cs2+", "+cs1))
	cs := csserver.New(served)
	p := &inProcess{svc: cs.Service(), proto: diracrpc.DIPS, fail: map[string]error{}}
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{
		Local: localCfg(cs1), Dial: p.dial, Shuffle: func([]string) {}})
	require.NoError(t, err)
	_, err = b.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{cs1}, p.dialed, "only the local list is known before the first fetch")

	// The local server dies and the configuration changes: the refresh
	// reaches the server it learned about.
	p.fail[cs1] = errors.New("connection refused")
	upd := cfg.MustParse(remoteCfg)
	require.NoError(t, upd.Set("/DIRAC/Configuration/Servers", cs2+", "+cs1))
	require.NoError(t, upd.Set("/Systems/Framework/Production/URLs/Baz", "dips://baz:1/Framework/Baz"))
	nv := cs.Update(upd)
	p.dialed = nil
	require.NoError(t, b.Refresh(ctx))
	assert.Equal(t, []string{cs1, cs2}, p.dialed, "local servers first, then the served ones, no duplicates")
	assert.Equal(t, nv, b.Version())
	c, err := b.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, "dips://baz:1/Framework/Baz", c.GetDefault("/Systems/Framework/Production/URLs/Baz", ""))
	assert.Equal(t, cs1, c.GetDefault("/DIRAC/Configuration/Servers", ""), "the local option still wins in the merged view")
}
