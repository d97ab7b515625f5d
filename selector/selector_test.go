package selector

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
	"github.com/diracgo/diracrpc/value"
)

var quiet = slog.New(slog.DiscardHandler)

// target is what the selector asked to build.
type target struct {
	Name     string // what the stub records
	Protocol diracrpc.Protocol
	Main     []string
	Failover []string
	Options  diracrpc.Options
}

// fakeTransport answers every call with its method, protocol and URL, or err.
type fakeTransport struct {
	t      target
	mu     sync.Mutex
	err    error
	calls  []string
	closed int
}

func (f *fakeTransport) Attempt(_ context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprint(a.Method, a.Args))
	if f.err != nil {
		return nil, f.err
	}
	return &diracrpc.Result{Value: a.Method, Protocol: f.t.Protocol, URL: a.URL}, nil
}

func (f *fakeTransport) Close() error { f.mu.Lock(); f.closed++; f.mu.Unlock(); return nil }

func (f *fakeTransport) setErr(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

// fakes records the clients the selector builds.
type fakes struct {
	mu      sync.Mutex
	targets []target
	callers []*fakeTransport
	failNew error
}

func (f *fakes) build(p diracrpc.Protocol, main []string, o diracrpc.Options) (*diracrpc.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNew != nil {
		return nil, f.failNew
	}
	t := target{Name: o.Service, Protocol: p, Main: main, Failover: o.FailoverURLs, Options: o}
	f.targets = append(f.targets, t)
	ft := &fakeTransport{t: t}
	f.callers = append(f.callers, ft)
	return diracrpc.NewClient(main, o, func(*diracrpc.TransportConfig) (diracrpc.Transport, error) { return ft, nil })
}

func (f *fakes) last() target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.targets[len(f.targets)-1]
}

// newFake returns a selector building fake clients.
func newFake(opts Options) (*RPCClientSelector, *fakes) {
	f := &fakes{}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s := New(opts)
	s.build = f.build
	return s, f
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

func newSelector(t *testing.T, text string, opts Options) (*RPCClientSelector, *fakes, *cfg.Config) {
	t.Helper()
	c, err := cfg.Parse("migration.cfg", []byte(text))
	require.NoError(t, err)
	opts.Resolver = &endpoint.Resolver{Source: endpoint.Static(c), Shuffle: func([]string) {}}
	s, f := newFake(opts)
	return s, f, c
}

func TestSelectURLs(t *testing.T) {
	ctx := context.Background()
	s, f := newFake(Options{})
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
	s, f, _ := newSelector(t, migrationCfg, Options{})

	_, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	tg := f.last()
	assert.Equal(t, diracrpc.DIPS, tg.Protocol)
	assert.Equal(t, []string{"dips://wms.example.org:9130/WorkloadManagement/JobMonitoring"}, tg.Main)
	assert.Equal(t, keywords{Setup: "Production", VO: "myvo", Timeout: 300 * time.Second}, keywordsOf(tg.Options),
		"setup, VO and the ConnConf timeout (not skipCACheck)")
	assert.False(t, tg.Options.SkipCACheck)
	assert.Equal(t, "WorkloadManagement/JobMonitoring", tg.Name)

	_, err = s.Select(ctx, "WorkloadManagement/JobManager")
	require.NoError(t, err)
	tg = f.last()
	assert.Equal(t, diracrpc.HTTPS, tg.Protocol)
	assert.Equal(t, []string{"https://wms.example.org:8443/WorkloadManagement/JobManager"}, tg.Main)
	assert.Empty(t, tg.Failover, "a DISET failover URL cannot serve an HTTPS client")
	assert.Equal(t, time.Duration(0), tg.Options.Timeout)

	_, err = s.Select(ctx, "WorkloadManagement/Migrating")
	assert.ErrorIs(t, err, ErrMixedProtocols)
	assert.ErrorContains(t, err, "dips://wms.example.org:9132")
}

func TestSelectFailures(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, Options{})
	// A name that does not resolve is an error naming the path (DIRAC would
	// fall back to DISET with the bare name).
	_, err := s.Select(ctx, "WorkloadManagement/Nope")
	var re *endpoint.ResolveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "/Systems/WorkloadManagement/Production/URLs/Nope", re.Path)
	assert.ErrorIs(t, err, endpoint.ErrNotFound)
	assert.Equal(t, diracrpc.CodeConfiguration, diracrpc.CodeOf(err), "no call was made: the configuration's fault")
	_, err = s.Select(ctx, "NotAName")
	assert.ErrorContains(t, err, "System/Component")
	assert.Equal(t, diracrpc.CodeConfiguration, diracrpc.CodeOf(err))

	// The DiracX legacy adapter is refused clearly.
	_, err = s.Select(ctx, "Framework/Modern")
	assert.ErrorIs(t, err, ErrLegacyAdapter)
	assert.ErrorContains(t, err, "/DiracX/LegacyClientEnabled/Framework/Modern")
	assert.Equal(t, diracrpc.CodeConfiguration, diracrpc.CodeOf(err))
	// So are the modes' refusals.
	_, err = s.Select(ctx, "WorkloadManagement/Migrating")
	assert.ErrorIs(t, err, ErrMixedProtocols)
	assert.ErrorIs(t, err, diracrpc.ErrConfiguration)
	s2, _, _ := newSelector(t, migrationCfg, Options{Mode: HTTPS})
	_, err = s2.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorIs(t, err, ErrNoURLForMode)
	assert.Equal(t, diracrpc.CodeConfiguration, diracrpc.CodeOf(err))
	s2, _, _ = newSelector(t, migrationCfg, Options{Mode: "grpc"})
	_, err = s2.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.Equal(t, diracrpc.CodeConfiguration, diracrpc.CodeOf(err), "%v", err)
	// but a URL of that service is not a name and is used as given.
	_, err = s.Select(ctx, "https://fw.example.org/Framework/Modern")
	require.NoError(t, err)
	assert.Len(t, f.targets, 1)

	// A dialer's failure is returned.
	boom := errors.New("no proxy found")
	s, f = newFake(Options{})
	f.failNew = boom
	_, err = s.Select(ctx, "dips://h:1/A/B")
	assert.ErrorIs(t, err, boom)
}

func TestModes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		cfgText string
		opts    Options
		service string
		want    diracrpc.Protocol
		err     error
	}{
		{"force dips on mixed", "", Options{Mode: DISET}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"force https on mixed", "", Options{Mode: HTTPS}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"force https without URL", "", Options{Mode: HTTPS}, "WorkloadManagement/JobMonitoring", "", ErrNoURLForMode},
		{"force dips uses failover URLs", "", Options{Mode: DISET}, "WorkloadManagement/JobManager", diracrpc.DIPS, nil},
		{"per-service option wins over global", "", Options{Mode: HTTPS,
			Services: map[string]Mode{"WorkloadManagement/Migrating": DISET}}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"service Protocol option settles a mix", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = https\n}\n}\n}\n}\n}\n",
			Options{}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"service Protocol option dips", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = dips\n}\n}\n}\n}\n}\n",
			Options{}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"service Protocol option unknown", "Systems\n{\nWorkloadManagement\n{\nProduction\n{\nServices\n{\nMigrating\n{\nProtocol = grpc\n}\n}\n}\n}\n}\n",
			Options{}, "WorkloadManagement/Migrating", "", ErrMixedProtocols},
		{"cfg global", "DIRAC\n{\nSelector\n{\nProtocol = HTTPS\n}\n}\n", Options{}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"cfg per service wins over cfg global", "DIRAC\n{\nSelector\n{\nProtocol = https\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			Options{}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"cfg per service wins over options global", "DIRAC\n{\nSelector\n{\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			Options{Mode: HTTPS}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"options per service wins over cfg per service", "DIRAC\n{\nSelector\n{\nServices\n{\nWorkloadManagement\n{\nMigrating = dips\n}\n}\n}\n}\n",
			Options{Services: map[string]Mode{"WorkloadManagement/Migrating": HTTPS}}, "WorkloadManagement/Migrating", diracrpc.HTTPS, nil},
		{"options global wins over cfg global", "DIRAC\n{\nSelector\n{\nProtocol = https\n}\n}\n",
			Options{Mode: DISET}, "WorkloadManagement/Migrating", diracrpc.DIPS, nil},
		{"prefer https with one protocol", "", Options{Mode: PreferHTTPS}, "WorkloadManagement/JobMonitoring", diracrpc.DIPS, nil},
		{"prefer https, dips failover", "", Options{Mode: PreferHTTPS}, "WorkloadManagement/JobManager", diracrpc.HTTPS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg.MustParse(migrationCfg)
			c.Merge(cfg.MustParse(tc.cfgText))
			s, f, _ := newSelector(t, c.String(), tc.opts)
			// Route gives the decision Select makes, without a client.
			route, rerr := s.Route(ctx, tc.service)
			caller, err := s.Select(ctx, tc.service)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.ErrorIs(t, rerr, tc.err)
				return
			}
			require.NoError(t, rerr)
			assert.Equal(t, tc.want, route.Protocol)
			assert.Equal(t, tc.service, route.Service)
			require.NoError(t, err)
			res, err := caller.Call(ctx, "ping")
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Protocol)
			if tc.opts.Mode == PreferHTTPS {
				if route.Protocol == diracrpc.HTTPS {
					require.NotNil(t, route.Fallback)
					assert.Equal(t, diracrpc.DIPS, route.Fallback.Protocol)
				}
				return // two clients: checked by TestPreferHTTPSFallsBackOnlyOnOpenCircuit
			}
			assert.Equal(t, f.last().Main, route.Main)
			assert.Equal(t, f.last().Failover, route.Failover)
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
	s, _, _ := newSelector(t, c.String(), Options{})
	_, err := s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, `unknown protocol mode "grpc"`)
	assert.ErrorContains(t, err, "/DIRAC/Selector/Protocol")

	require.NoError(t, c.Set("/DIRAC/Selector/Services/WorkloadManagement/JobMonitoring", "x"))
	s, _, _ = newSelector(t, c.String(), Options{})
	_, err = s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, "/DIRAC/Selector/Services/WorkloadManagement/JobMonitoring")

	s, _, _ = newSelector(t, migrationCfg, Options{Mode: "bogus"})
	_, err = s.Select(ctx, "WorkloadManagement/JobMonitoring")
	assert.ErrorContains(t, err, "bogus")

	for in, want := range map[string]Mode{"": Auto, "AUTO": Auto, "dip": DISET,
		"diset": DISET, " https ": HTTPS, "Prefer-HTTPS": PreferHTTPS} {
		m, err := ParseMode(in)
		require.NoError(t, err)
		assert.Equal(t, want, m, in)
	}
}

func TestPreferHTTPSFallsBackOnlyOnOpenCircuit(t *testing.T) {
	ctx := context.Background()
	s, f, _ := newSelector(t, migrationCfg, Options{
		Services: map[string]Mode{"WorkloadManagement/Migrating": PreferHTTPS}})

	// HTTPS answers: DISET is not used.
	c, err := s.Select(ctx, "WorkloadManagement/Migrating")
	require.NoError(t, err)
	res, err := c.Call(ctx, "m", 1)
	require.NoError(t, err)
	assert.Equal(t, diracrpc.HTTPS, res.Protocol)
	require.Len(t, f.callers, 2)
	assert.Empty(t, f.callers[1].calls)

	// HTTPS breaker open: the call goes over DISET.
	f.callers[0].setErr(&diracrpc.TransportError{Protocol: diracrpc.HTTPS, Code: diracrpc.CodeCircuitOpen,
		Err: errors.New("every breaker open")})
	res, err = c.Call(ctx, "m", 2)
	require.NoError(t, err)
	assert.Equal(t, diracrpc.DIPS, res.Protocol)
	assert.Equal(t, []string{"m[2]"}, f.callers[1].calls)

	// Any other HTTPS failure is returned as it is: the call may have
	// reached the service.
	other := &diracrpc.Error{Message: "boom"}
	f.callers[0].setErr(other)
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
	s, f := newFake(Options{Resolver: &endpoint.Resolver{Source: src}})
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
	s, f := newFake(Options{Resolver: &endpoint.Resolver{Source: endpoint.Static(c)}})
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
	s, f, _ := newSelector(t, migrationCfg, Options{})
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
	assert.Equal(t, keywords{Setup: "Production", VO: "myvo", Timeout: 200 * time.Second, DelegatedDN: "/DC=org/CN=alice",
		DelegatedGroup: "users"}, keywordsOf(tg.Options))
	assert.False(t, tg.Options.SkipCACheck, "a stub never switches verification off")
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
	assert.Equal(t, 130500*time.Millisecond, f.last().Options.Timeout)
	assert.Equal(t, "https://h:8443/Framework/Foo", f.last().Name)

	_, err = s.Replay(ctx, &diracrpc.Stub{Service: "WorkloadManagement/JobMonitoring", Method: "m",
		Options: value.NewDict("extraCredentials", []any{"/DC=org/CN=bob", "admins"}, "setup", "Dev")})
	require.NoError(t, err)
	assert.Equal(t, keywords{DelegatedDN: "/DC=org/CN=bob", DelegatedGroup: "admins", Setup: "Dev", VO: "myvo", Timeout: 300 * time.Second},
		keywordsOf(f.last().Options))

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

// keywords are the DIRAC keywords of Options, for comparisons.
type keywords struct {
	Setup, VO, ExtraCredentials, DelegatedDN, DelegatedGroup, ProxyLocation string
	Timeout                                                                 time.Duration
}

func keywordsOf(o diracrpc.Options) keywords {
	return keywords{Setup: o.Setup, VO: o.VO, ExtraCredentials: o.ExtraCredentials, DelegatedDN: o.DelegatedDN,
		DelegatedGroup: o.DelegatedGroup, ProxyLocation: o.ProxyLocation, Timeout: o.Timeout}
}

// TestSelectorOptionsWin: the selector's own client options win over what
// the configuration implies.
func TestSelectorOptionsWin(t *testing.T) {
	s, f, _ := newSelector(t, migrationCfg, Options{Client: diracrpc.Options{Setup: "Mine", Timeout: time.Minute}})
	_, err := s.Select(context.Background(), "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.Equal(t, keywords{Setup: "Mine", VO: "myvo", Timeout: time.Minute}, keywordsOf(f.last().Options))
}
