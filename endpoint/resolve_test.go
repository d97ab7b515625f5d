package endpoint

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// pathFinderCfg is the configuration of DIRAC's Test_PathFinder.py, plus
// cases of our own.
const pathFinderCfg = `
DIRAC
{
  Setup = TestSetup
  Setups
  {
    TestSetup
    {
      WorkloadManagement = MyWM
      Framework = FW
    }
    Other
    {
      WorkloadManagement = OtherWM
    }
  }
  ConnConf
  {
    server1:1234
    {
      timeout = 200
      skipCACheck = yes
    }
  }
}
Operations
{
  Defaults
  {
    MainServers = gw1, gw2
  }
  myvo
  {
    MainServers = vo1
  }
}
Systems
{
  WorkloadManagement
  {
    MyWM
    {
      URLs
      {
        Service1 = dips://server1:1234/WorkloadManagement/Service1
        Service2 = dips://$MAINSERVERS$:5678/WorkloadManagement/Service2
        Service3 = dips://s3:1/WorkloadManagement/Service3
        FailoverURLs = dips://failover1:5678/WorkloadManagement/FailoverURLs
        NoPath = https://web.example.org, https://web.example.org:8443/
        Dup = dips://a:1/WorkloadManagement/Dup, dips://a:1/WorkloadManagement/Dup , dips://b:1/WorkloadManagement/Dup
        NoPort = dips://nohostport/WorkloadManagement/NoPort
        Mixed = dips://a:9130/WorkloadManagement/Mixed, https://a:8443/WorkloadManagement/Mixed
        Empty =
        Bad = ftp://x:1/WorkloadManagement/Bad
      }
      FailoverURLs
      {
        Service2 = dips://failover1:5678/WorkloadManagement/Service2, dips://failover2:5678/WorkloadManagement/Service2
        Service3 = dips://nohostport/WorkloadManagement/Service3
      }
    }
    OtherWM
    {
      URLs
      {
        Service1 = https://other:8443/WorkloadManagement/Service1
      }
    }
  }
}
`

func testResolver(t *testing.T) *Resolver {
	t.Helper()
	c, err := cfg.Parse("pathfinder.cfg", []byte(pathFinderCfg))
	require.NoError(t, err)
	return &Resolver{Source: Static(c), Shuffle: func([]string) {}}
}

func TestResolvePathFinder(t *testing.T) {
	ctx := context.Background()
	r := testResolver(t)

	res, err := r.Resolve(ctx, "WorkloadManagement/Service1")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://server1:1234/WorkloadManagement/Service1"}, res.Main)
	assert.Equal(t, "TestSetup", res.Setup)
	assert.Equal(t, "MyWM", res.Instance)
	assert.Equal(t, "WorkloadManagement/Service1", res.Service)
	assert.Equal(t, map[string]map[string]string{"server1:1234": {"timeout": "200", "skipCACheck": "yes"}}, res.ConnConf)

	res, err = r.Resolve(ctx, "WorkloadManagement/Service2")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://gw1:5678/WorkloadManagement/Service2", "dips://gw2:5678/WorkloadManagement/Service2"}, res.Main)
	assert.Equal(t, []string{"dips://failover1:5678/WorkloadManagement/Service2", "dips://failover2:5678/WorkloadManagement/Service2"}, res.Failover)
	assert.Equal(t, []diracrpc.Protocol{diracrpc.DIPS}, res.Protocols())
	assert.Nil(t, res.ConnConf)
	assert.Len(t, res.URLs(), 4)

	// The component "FailoverURLs" is an ordinary name.
	res, err = r.Resolve(ctx, "WorkloadManagement/FailoverURLs")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://failover1:5678/WorkloadManagement/FailoverURLs"}, res.Main)

	// Empty path gets /System/Component; https gets 443; duplicates go.
	res, err = r.Resolve(ctx, "WorkloadManagement/NoPath")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://web.example.org:443/WorkloadManagement/NoPath", "https://web.example.org:8443/WorkloadManagement/NoPath"}, res.Main)
	res, err = r.Resolve(ctx, "WorkloadManagement/Dup")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://a:1/WorkloadManagement/Dup", "dips://b:1/WorkloadManagement/Dup"}, res.Main)

	// Mixed protocols resolve; Filter separates them.
	res, err = r.Resolve(ctx, "WorkloadManagement/Mixed")
	require.NoError(t, err)
	assert.Equal(t, []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS}, res.Protocols())
	https := res.Filter(func(p diracrpc.Protocol) bool { return p == diracrpc.HTTPS })
	assert.Equal(t, []string{"https://a:8443/WorkloadManagement/Mixed"}, https.Main)
	assert.Len(t, res.Main, 2, "Filter copies")
	assert.Nil(t, res.Filter(func(p diracrpc.Protocol) bool { return p == diracrpc.DIP }))
}

func TestResolveOverrides(t *testing.T) {
	ctx := context.Background()
	r := testResolver(t)
	r.Setup = "Other"
	res, err := r.Resolve(ctx, "WorkloadManagement/Service1")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://other:8443/WorkloadManagement/Service1"}, res.Main)
	assert.Equal(t, "OtherWM", res.Instance)

	r = testResolver(t)
	r.VO = "myvo"
	res, err = r.Resolve(ctx, "WorkloadManagement/Service2")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://vo1:5678/WorkloadManagement/Service2"}, res.Main)
}

func TestResolveShuffles(t *testing.T) {
	r := testResolver(t)
	var calls [][]string
	r.Shuffle = func(u []string) { calls = append(calls, slices.Clone(u)); slices.Reverse(u) }
	res, err := r.Resolve(context.Background(), "WorkloadManagement/Service2")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://gw2:5678/WorkloadManagement/Service2", "dips://gw1:5678/WorkloadManagement/Service2"}, res.Main)
	assert.Equal(t, "dips://failover1:5678/WorkloadManagement/Service2", res.Failover[0], "failover keeps its order")
	assert.Len(t, calls, 1)

	// Default shuffle: both orders show up.
	r.Shuffle = nil
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		res, err := r.Resolve(context.Background(), "WorkloadManagement/Service2")
		require.NoError(t, err)
		seen[res.Main[0]] = true
	}
	assert.Len(t, seen, 2)
}

func TestResolveURL(t *testing.T) {
	r := testResolver(t)
	res, err := r.Resolve(context.Background(), " https://h.example.org/Framework/Foo ")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://h.example.org:443/Framework/Foo"}, res.Main)
	assert.Equal(t, "Framework/Foo", res.Service)
	assert.False(t, res.Gateway)
	_, err = r.Resolve(context.Background(), "dips://h.example.org/Framework/Foo")
	assert.ErrorIs(t, err, ErrBadURL)
	var re *ResolveError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, err.Error(), "no port")
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, cfgText, service, path, msg string
		is                                error
	}{
		{"bad name", pathFinderCfg, "WorkloadManagement", "", "System/Component", nil},
		{"bad name 3 parts", pathFinderCfg, "A/B/C", "", "System/Component", nil},
		{"no setup", "DIRAC\n{\n}\n", "WorkloadManagement/Service1", "/DIRAC/Setup", "no setup", ErrNotFound},
		{"empty setup", "DIRAC\n{\nSetup =\n}\n", "WorkloadManagement/Service1", "/DIRAC/Setup", "no setup", ErrNotFound},
		{"no instance", pathFinderCfg, "Unknown/Service1", "/DIRAC/Setups/TestSetup/Unknown", "is not defined", ErrNotFound},
		{"no URLs section", pathFinderCfg, "Framework/Foo", "/Systems/Framework/FW/URLs/Foo", "URL for service Framework/Foo not found", ErrNotFound},
		{"no URL", pathFinderCfg, "WorkloadManagement/Nope", "/Systems/WorkloadManagement/MyWM/URLs/Nope", "is not defined", ErrNotFound},
		{"empty URL", pathFinderCfg, "WorkloadManagement/Empty", "/Systems/WorkloadManagement/MyWM/URLs/Empty", "is empty", ErrNotFound},
		{"dips without port", pathFinderCfg, "WorkloadManagement/NoPort", "/Systems/WorkloadManagement/MyWM/URLs/NoPort", "no port", ErrBadURL},
		{"failover without port", pathFinderCfg, "WorkloadManagement/Service3", "/Systems/WorkloadManagement/MyWM/FailoverURLs/Service3", "no port", ErrBadURL},
		{"bad scheme", pathFinderCfg, "WorkloadManagement/Bad", "/Systems/WorkloadManagement/MyWM/URLs/Bad", "unknown scheme", ErrBadURL},
		{"no main servers", `
DIRAC
{
  Setup = S
  Setups
  {
    S
    {
      WM = I
    }
  }
}
Systems
{
  WM
  {
    I
    {
      URLs
      {
        C = dips://$MAINSERVERS$:1/WM/C
      }
    }
  }
}
`, "WM/C", "/Operations/Defaults/MainServers", "No Main servers defined", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := cfg.Parse("t.cfg", []byte(tc.cfgText))
			require.NoError(t, err)
			r := &Resolver{Source: Static(c)}
			_, err = r.Resolve(ctx, tc.service)
			var re *ResolveError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.path, re.Path)
			assert.Contains(t, err.Error(), tc.msg)
			if tc.path != "" {
				assert.Contains(t, err.Error(), tc.path)
			}
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
}

type failingSource struct{ err error }

func (f failingSource) Config(context.Context) (*cfg.Config, error) { return nil, f.err }

func TestResolveSourceError(t *testing.T) {
	boom := errors.New("boom")
	r := &Resolver{Source: failingSource{boom}}
	_, err := r.Resolve(context.Background(), "A/B")
	assert.ErrorIs(t, err, boom)
	_, err = (&Resolver{}).Resolve(context.Background(), "A/B")
	assert.ErrorContains(t, err, "without a Source")
}

func TestResolveGateways(t *testing.T) {
	ctx := context.Background()
	c := cfg.MustParse(pathFinderCfg)
	require.NoError(t, c.Set("/LocalSite/Site", "LCG.Site.org"))
	require.NoError(t, c.Set("/DIRAC/Gateways/LCG.Site.org", "dips://gw.site.org:9159/Framework/Gateway, dips://gw.site.org:9159"))
	r := &Resolver{Source: Static(c), Shuffle: func([]string) {}}

	// Gateways need no service configuration at all.
	res, err := r.Resolve(ctx, "Unknown/Thing")
	require.NoError(t, err)
	assert.True(t, res.Gateway)
	assert.Equal(t, []string{"dips://gw.site.org:9159/Unknown/Thing"}, res.Main)
	assert.Empty(t, res.Failover)

	// A URL goes through the gateway too.
	res, err = r.Resolve(ctx, "https://x:8443/Framework/Foo")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://gw.site.org:9159/Framework/Foo"}, res.Main)

	gws, err := r.Gateways(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://gw.site.org:9159"}, gws)

	r.IgnoreGateways = true
	res, err = r.Resolve(ctx, "WorkloadManagement/Service1")
	require.NoError(t, err)
	assert.False(t, res.Gateway)
	gws, err = r.Gateways(ctx)
	require.NoError(t, err)
	assert.Empty(t, gws)

	// Another site has no gateway.
	r = &Resolver{Source: Static(c), Site: "Other.Site"}
	res, err = r.Resolve(ctx, "WorkloadManagement/Service1")
	require.NoError(t, err)
	assert.False(t, res.Gateway)

	// A gateway without port is rejected with the path.
	require.NoError(t, c.Set("/DIRAC/Gateways/LCG.Site.org", "dips://gw.site.org"))
	_, err = (&Resolver{Source: Static(c)}).Resolve(ctx, "WorkloadManagement/Service1")
	assert.ErrorIs(t, err, ErrBadURL)
	assert.ErrorContains(t, err, "/DIRAC/Gateways/LCG.Site.org")
	assert.ErrorContains(t, err, `"WorkloadManagement/Service1"`)
	require.NoError(t, c.Set("/DIRAC/Gateways/LCG.Site.org", "::bad"))
	_, err = (&Resolver{Source: Static(c)}).Resolve(ctx, "WorkloadManagement/Service1")
	assert.ErrorIs(t, err, ErrBadURL)
	_, err = (&Resolver{Source: Static(c)}).Gateways(ctx)
	assert.ErrorIs(t, err, ErrBadURL)
}

func TestLegacyAdapterEnabled(t *testing.T) {
	c := cfg.MustParse("DiracX\n{\nLegacyClientEnabled\n{\nWorkloadManagement\n{\nJobMonitoring = Yes\nJobManager = no\n}\n}\n}\n")
	r := &Resolver{Source: Static(c)}
	ctx := context.Background()
	on, err := r.LegacyAdapterEnabled(ctx, "WorkloadManagement/JobMonitoring")
	require.NoError(t, err)
	assert.True(t, on)
	for _, s := range []string{"WorkloadManagement/JobManager", "WorkloadManagement/Other", "Framework/X"} {
		on, err = r.LegacyAdapterEnabled(ctx, s)
		require.NoError(t, err)
		assert.False(t, on, s)
	}
	_, err = r.LegacyAdapterEnabled(ctx, "bad")
	assert.Error(t, err)
}

func TestIsURL(t *testing.T) {
	for s, want := range map[string]bool{
		"dips://a:1/B/C": true, "dip://a:1/B/C": true, "https://a/B/C": true, "HTTPS://a/B/C": true,
		"Framework/Foo": false, "": false,
	} {
		assert.Equal(t, want, IsURL(s), s)
	}
}
