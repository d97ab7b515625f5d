package selector_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/value"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeCaller answers every call with its protocol and URLs, or err.
type fakeCaller struct {
	t      selector.Target
	err    error
	mu     sync.Mutex
	calls  []string
	closed int
}

func (f *fakeCaller) Call(_ context.Context, method string, args ...any) (*diracrpc.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprint(method, args))
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &diracrpc.Result{Value: method, Protocol: f.t.Protocol, URL: f.t.Main[0]}, nil
}

func (f *fakeCaller) CloseIdleConnections() { f.mu.Lock(); f.closed++; f.mu.Unlock() }

// fakes records the targets the selector dials.
type fakes struct {
	mu      sync.Mutex
	targets []selector.Target
	callers []*fakeCaller
	errFor  map[diracrpc.Protocol]error // call error by protocol
}

func (f *fakes) dialer(ctx context.Context, t selector.Target) (diracrpc.Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets = append(f.targets, t)
	c := &fakeCaller{t: t, err: f.errFor[t.Protocol]}
	f.callers = append(f.callers, c)
	return c, nil
}

func (f *fakes) last() selector.Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.targets[len(f.targets)-1]
}

const migrationCfg = `
DIRAC
{
  Setup = Production
  VirtualOrganization = myvo
  Setups
  {
    Production
    {
      WorkloadManagement = Production
      Framework = Production
    }
  }
  ConnConf
  {
    wms.example.org:9130
    {
      timeout = 300
      skipCACheck = yes
    }
  }
}
DiracX
{
  LegacyClientEnabled
  {
    Framework
    {
      Modern = yes
    }
  }
}
Systems
{
  WorkloadManagement
  {
    Production
    {
      URLs
      {
        JobMonitoring = dips://wms.example.org:9130/WorkloadManagement/JobMonitoring
        JobManager = https://wms.example.org:8443/WorkloadManagement/JobManager
        Migrating = dips://wms.example.org:9132/WorkloadManagement/Migrating, https://wms.example.org:8443/WorkloadManagement/Migrating
      }
      FailoverURLs
      {
        JobManager = dips://backup.example.org:9132/WorkloadManagement/JobManager
      }
    }
  }
  Framework
  {
    Production
    {
      URLs
      {
        Modern = https://fw.example.org/Framework/Modern
      }
    }
  }
}
`

func newSelector(t *testing.T, text string, opts selector.Options) (*selector.RPCClientSelector, *fakes, *cfg.Config) {
	t.Helper()
	c, err := cfg.Parse("migration.cfg", []byte(text))
	require.NoError(t, err)
	f := &fakes{}
	opts.Resolver = &endpoint.Resolver{Source: endpoint.Static(c), Shuffle: func([]string) {}}
	opts.DISET, opts.HTTPS, opts.Logger = f.dialer, f.dialer, quiet
	return selector.New(opts), f, c
}

func TestSelectURLs(t *testing.T) {
	ctx := context.Background()
	f := &fakes{}
	s := selector.New(selector.Options{DISET: f.dialer, HTTPS: f.dialer})
	for url, want := range map[string]diracrpc.Protocol{
		"dips://h:9135/Framework/Foo": diracrpc.DIPS,
		"dip://h:9135/Framework/Foo":  diracrpc.DIPS,
		"https://h/Framework/Foo":     diracrpc.HTTPS,
	} {
		c, err := s.Select(ctx, url)
		require.NoError(t, err, url)
		res, err := c.Call(ctx, "ping")
		require.NoError(t, err)
		assert.Equal(t, want, res.Protocol, url)
		tg := f.last()
		assert.Equal(t, url, tg.Name)
		assert.Equal(t, "Framework/Foo", tg.Service)
		if want == diracrpc.HTTPS {
			assert.Equal(t, []string{"https://h:443/Framework/Foo"}, tg.Main)
		}
	}

	_, err := s.Select(ctx, "dips://h/Framework/Foo")
	assert.ErrorIs(t, err, endpoint.ErrBadURL)
	_, err = s.Select(ctx, "http://h:80/Framework/Foo")
	assert.ErrorIs(t, err, endpoint.ErrBadURL)
	_, err = s.Select(ctx, "Framework/Foo")
	assert.ErrorContains(t, err, "no Resolver")
}

func TestSelectNamesAuto(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, selector.Options{})

	_, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	tg := f.last()
	assert.Equal(t, diracrpc.DIPS, tg.Protocol)
	assert.Equal(t, []string{"dips://wms.example.org:9130/WorkloadManagement/JobMonitoring"}, tg.Main)
	assert.Equal(t, selector.Keywords{Setup: "Production", VO: "myvo", Timeout: 300 * time.Second}, tg.Defaults,
		"setup, VO and the ConnConf timeout (not skipCACheck)")

	_, err = s.Select(ctx, "WorkloadManagement/JobManager")
	require.NoError(t, err)
	tg = f.last()
	assert.Equal(t, diracrpc.HTTPS, tg.Protocol)
	assert.Equal(t, []string{"https://wms.example.org:8443/WorkloadManagement/JobManager"}, tg.Main)
	assert.Empty(t, tg.Failover, "a DISET failover URL cannot serve an HTTPS client")
	assert.Equal(t, time.Duration(0), tg.Defaults.Timeout)

	_, err = s.Select(ctx, "WorkloadManagement/Migrating")
	assert.ErrorIs(t, err, selector.ErrMixedProtocols)
	assert.ErrorContains(t, err, "dips://wms.example.org:9132")
}

func TestSelectFailures(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, selector.Options{})
	// A name that does not resolve is an error naming the path (DIRAC would
	// fall back to DISET with the bare name).
	_, err := s.Select(ctx, "WorkloadManagement/Nope")
	var re *endpoint.ResolveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "/Systems/WorkloadManagement/Production/URLs/Nope", re.Path)
	assert.ErrorIs(t, err, endpoint.ErrNotFound)
	_, err = s.Select(ctx, "NotAName")
	assert.ErrorContains(t, err, "System/Component")

	// The DiracX legacy adapter is refused clearly.
	_, err = s.Select(ctx, "Framework/Modern")
	assert.ErrorIs(t, err, selector.ErrLegacyAdapter)
	assert.ErrorContains(t, err, "/DiracX/LegacyClientEnabled/Framework/Modern")
	// but a URL of that service is not a name and is used as given.
	_, err = s.Select(ctx, "https://fw.example.org/Framework/Modern")
	require.NoError(t, err)
	assert.Len(t, f.targets, 1)

	// A dialer's failure is returned.
	boom := errors.New("no proxy found")
	s = selector.New(selector.Options{Logger: quiet,
		DISET: func(context.Context, selector.Target) (diracrpc.Caller, error) { return nil, boom }})
	_, err = s.Select(ctx, "dips://h:1/A/B")
	assert.ErrorIs(t, err, boom)
}

func TestModes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		cfgText string
		opts    selector.Options
		service string
		want    diracrpc.Protocol
		err     error
	}{
		{"force dips on mixed", "", selector.Options{Mode: selector.DISET}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"force https on mixed", "", selector.Options{Mode: selector.HTTPS}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"force https without URL", "", selector.Options{Mode: selector.HTTPS}, "WorkloadManagement/JobMonitoring", "", selector.ErrNoURLForMode},
		{"force dips uses failover URLs", "", selector.Options{Mode: selector.DISET}, "WorkloadManagement/JobManager", diracrpc.DIPS, nil},
		{"per-service option wins over global", "", selector.Options{Mode: selector.HTTPS,
			Services: map[string]selector.Mode{"WorkloadManagement/Migrating": selector.DISET}}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"service Protocol option settles a mix", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = https\n}\n}\n}\n}\n}\n",
			selector.Options{}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"service Protocol option dips", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = dips\n}\n}\n}\n}\n}\n",
			selector.Options{}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"service Protocol option unknown", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = grpc\n}\n}\n}\n}\n}\n",
			selector.Options{}, "WorkloadManagement/Migrating", "", selector.ErrMixedProtocols},
		{"cfg global", "DIRAC\n{\nSelector\n{\nProtocol = HTTPS\n}\n}\n", selector.Options{}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"cfg per service wins over cfg global", "DIRAC\n{\nSelector\n{\nProtocol = https\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			selector.Options{}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"cfg per service wins over options global", "DIRAC\n{\nSelector\n{\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			selector.Options{Mode: selector.HTTPS}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"options per service wins over cfg per service", "DIRAC\n{\nSelector\n{\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			selector.Options{Services: map[string]selector.Mode{"WorkloadManagement/Migrating": selector.HTTPS}}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"options global wins over cfg global", "DIRAC\n{\nSelector\n{\nProtocol = https\n}\n}\n",
			selector.Options{Mode: selector.DISET}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"prefer https with one protocol", "", selector.Options{Mode: selector.PreferHTTPS}, "WorkloadManagement/JobMonitoring", diracrpc.DIPS, nil},
		{"prefer https, dips failover", "", selector.Options{Mode: selector.PreferHTTPS}, "WorkloadManagement/JobManager", diracrpc.HTTPS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg.MustParse(migrationCfg)
			c.Merge(cfg.MustParse(tc.cfgText))
			s, f, _ := newSelector(t, c.String(), tc.opts)
			caller, err := s.Select(ctx, tc.service)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			res, err := caller.Call(ctx, "ping")
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Protocol)
			if tc.opts.Mode == selector.PreferHTTPS {
				return // two clients: checked by TestPreferHTTPSFallsBackOnlyOnOpenCircuit
			}
			for _, u := range append(f.last().Main, f.last().Failover...) {
				assert.Contains(t, u, string(tc.want)+"://")
			}
		})
	}
}

func TestBadModes(t *testing.T) {
	ctx := context.Background()
	c := cfg.MustParse(migrationCfg)
	require.NoError(t, c.Set("/DIRAC/Selector/Protocol", "grpc"))
	s, _, _ := newSelector(t, c.String(), selector.Options{})
	_, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, `unknown protocol mode "grpc"`)
	assert.ErrorContains(t, err, "/DIRAC/Selector/Protocol")

	require.NoError(t, c.Set("/DIRAC/Selector/Services/WorkloadManagement/JobMonitoring", "x"))
	s, _, _ = newSelector(t, c.String(), selector.Options{})
	_, err = s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, "/DIRAC/Selector/Services/WorkloadManagement/JobMonitoring")

	s, _, _ = newSelector(t, migrationCfg, selector.Options{Mode: "bogus"})
	_, err = s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, "bogus")

	for in, want := range map[string]selector.Mode{"": selector.Auto, "AUTO": selector.Auto, "dip": selector.DISET,
		"diset": selector.DISET, " https ": selector.HTTPS, "Prefer-HTTPS": selector.PreferHTTPS} {
		m, err := selector.ParseMode(in)
		require.NoError(t, err)
		assert.Equal(t, want, m, in)
	}
}

func TestPreferHTTPSFallsBackOnlyOnOpenCircuit(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, selector.Options{
		Services: map[string]selector.Mode{"WorkloadManagement/Migrating": selector.PreferHTTPS}})

	// HTTPS answers: DISET is not used.
	c, err := s.Select(ctx, "WorkloadManagement/Migrating")
	require.NoError(t, err)
	res, err := c.Call(ctx, "m", 1)
	require.NoError(t, err)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)
	require.Len(t, f.callers, 2)
	assert.Empty(t, f.callers[1].calls)

	// HTTPS breaker open: the call goes over DISET.
	f.callers[0].err = fmt.Errorf("httpsclient: wrapped: %w", diracrpc.ErrCircuitOpen)
	res, err = c.Call(ctx, "m", 2)
	require.NoError(t, err)
	assert.Equal(t, diracrpc.DIPS, res.Protocol)
	assert.Equal(t, []string{"m[2]"}, f.callers[1].calls)

	// Any other HTTPS failure is returned as it is: the call may have
	// reached the service.
	other := &diracrpc.Error{Message: "boom"}
	f.callers[0].err = other
	_, err = c.Call(ctx, "m", 3)
	assert.ErrorIs(t, err, other)
	assert.Len(t, f.callers[1].calls, 1)
}

func TestCacheAndRefresh(t *testing.T) {
	ctx := context.Background()
	c := cfg.MustParse(migrationCfg)
	var mu sync.Mutex
	cur := c
	src := sourceFunc(func(context.Context) (*cfg.Config, error) { mu.Lock(); defer mu.Unlock(); return cur, nil })
	f := &fakes{}
	s := selector.New(selector.Options{Resolver: &endpoint.Resolver{Source: src}, DISET: f.dialer, HTTPS: f.dialer, Logger: quiet})
	a, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	b, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.Same(t, a, b, "one client per service, so breakers and connections last")
	assert.Len(t, f.targets, 1)

	// New URLs in the configuration: a new client, the old one's idle
	// connections released.
	next := c.Clone()
	require.NoError(t, next.Set("/Systems/WorkloadManagement/Production/URLs/JobMonitoring", "dips://new:9130"))
	mu.Lock()
	cur = next
	mu.Unlock()
	d, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.NotSame(t, a, d)
	assert.Equal(t, []string{"dips://new:9130/WorkloadManagement/JobMonitoring"}, f.last().Main)
	assert.Equal(t, 1, f.callers[0].closed)

	res, err := s.Call(ctx, "WorkloadManagement/JobMonitoring", "getJobs")
	require.NoError(t, err)
	assert.Equal(t, "getJobs", res.Value)
	require.NoError(t, s.Close())
	assert.Equal(t, 1, f.callers[1].closed)
}

func TestCacheIgnoresShuffle(t *testing.T) {
	c := cfg.MustParse(migrationCfg)
	require.NoError(t, c.Set("/Systems/WorkloadManagement/Production/URLs/JobMonitoring", "dips://a:1, dips://b:1, dips://c:1"))
	f := &fakes{}
	s := selector.New(selector.Options{Resolver: &endpoint.Resolver{Source: endpoint.Static(c)}, DISET: f.dialer, HTTPS: f.dialer})
	for range 20 {
		_, err := s.Select(context.Background(), "WorkloadManagement/JobMonitoring")
		require.NoError(t, err)
	}
	assert.Len(t, f.targets, 1)
}

type sourceFunc func(context.Context) (*cfg.Config, error)

func (f sourceFunc) Config(ctx context.Context) (*cfg.Config, error) { return f(ctx) }

func TestReplay(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, selector.Options{})
	stub := &diracrpc.Stub{
		Service: "WorkloadManagement/JobMonitoring",
		Options: value.NewDict("timeout", int64(200), "delegatedDN", "/DC=org/CN=alice", "delegatedGroup", "users",
			"skipCACheck", true, "keepAliveLapse", int64(150)),
		Method: "getJobStatus",
		Args:   []any{int64(42)},
	}
	res, err := s.Replay(ctx, stub)
	require.NoError(t, err)
	assert.Equal(t, "getJobStatus", res.Value)
	tg := f.last()
	assert.Equal(t, selector.Keywords{Timeout: 200 * time.Second, DelegatedDN: "/DC=org/CN=alice", DelegatedGroup: "users"}, tg.Keywords)
	assert.Equal(t, []string{"getJobStatus[42]"}, f.callers[0].calls)

	// Replays do not use nor fill the cache (their options differ).
	_, err = s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.Len(t, f.targets, 2)

	// A stub parsed from DIRAC's wire form, naming a URL.
	parsed, err := diracrpc.ParseStub([]any{[]any{"https://h:8443/Framework/Foo", value.NewDict("timeout", 130.5)}, "echo", []any{"x"}})
	require.NoError(t, err)
	res, err = s.Replay(ctx, parsed)
	require.NoError(t, err)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)
	assert.Equal(t, 130500*time.Millisecond, f.last().Keywords.Timeout)

	_, err = s.Replay(ctx, &diracrpc.Stub{Service: "WorkloadManagement/JobMonitoring", Method: "m",
		Options: value.NewDict("extraCredentials", []any{"/DC=org/CN=bob", "admins"}, "setup", "Dev")})
	require.NoError(t, err)
	assert.Equal(t, selector.Keywords{DelegatedDN: "/DC=org/CN=bob", DelegatedGroup: "admins", Setup: "Dev"}, f.last().Keywords)

	for _, bad := range []*value.Dict{value.NewDict("timeout", "soon"), value.NewDict("setup", int64(1)),
		value.NewDict("extraCredentials", []any{"dn", int64(2)})} {
		_, err = s.Replay(ctx, &diracrpc.Stub{Service: "WorkloadManagement/JobMonitoring", Options: bad, Method: "m"})
		assert.Error(t, err)
	}
	_, err = s.Replay(ctx, nil)
	assert.Error(t, err)
	_, err = s.Replay(ctx, &diracrpc.Stub{Service: "WorkloadManagement/Nope", Method: "m"})
	assert.ErrorIs(t, err, endpoint.ErrNotFound)
}

func TestKeywordsWith(t *testing.T) {
	base := selector.Keywords{Setup: "a", VO: "v", Timeout: time.Second}
	got := base.With(selector.Keywords{Setup: "b", ProxyLocation: "/p", ExtraCredentials: "hosts", DelegatedDN: "dn", DelegatedGroup: "g"})
	assert.Equal(t, selector.Keywords{Setup: "b", VO: "v", ProxyLocation: "/p", ExtraCredentials: "hosts", DelegatedDN: "dn",
		DelegatedGroup: "g", Timeout: time.Second}, got)
}
