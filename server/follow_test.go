package server_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/csserver"
)

// followCfg is a configuration whose rule for method m is rule.
func followCfg(rule string) *cfg.Config {
	return cfg.MustParse(prodServices + `        Hello
        {
          Authorization
          {
            m = ` + rule + `
          }
        }
` + prodServicesEnd + `Registry
{
  DefaultGroup = dirac_user
  Users
  {
    alice
    {
      DN = /O=Grid/CN=alice
    }
  }
  Groups
  {
    dirac_user
    {
      Users = alice
      Properties = NormalUser
    }
  }
}
`)
}

// swapSource is a Source whose configuration the test replaces.
type swapSource struct{ c atomic.Pointer[cfg.Config] }

func (s *swapSource) Config(context.Context) (*cfg.Config, error) { return s.c.Load(), nil }

// TestFollowerSwapsRulesUnderConcurrentCalls: while callers are authorised
// without pause, the configuration flips between a rule that lets alice in
// and one that keeps her out. Every decision is one of the two (never a
// mix: the registry and the rules are swapped together), and once a flip is
// applied, the next call follows it. Run it with -race.
func TestFollowerSwapsRulesUnderConcurrentCalls(t *testing.T) {
	svc := server.NewService("Framework/Hello")
	svc.Logger = quiet
	svc.HandleFunc("m", func(context.Context, *server.Request) (any, error) { return "ok", nil })
	allow, deny := followCfg("NormalUser"), followCfg("group:dirac_admin")
	src := &swapSource{}
	src.c.Store(allow)
	f := &server.Follower{Source: src, Services: []*server.Service{svc}}
	applied, err := f.Apply(context.Background())
	require.NoError(t, err)
	require.True(t, applied)
	applied, err = f.Apply(context.Background())
	require.NoError(t, err)
	assert.False(t, applied, "the same snapshot is not applied twice")

	alice := &credentials.PeerCredentials{Subject: "/O=Grid/CN=alice/CN=1", Issuer: "/O=Grid/CN=alice",
		DN: "/O=Grid/CN=alice", Identity: "/O=Grid/CN=alice", IsProxy: true, SecondsLeft: 3600}
	call := func() *diracrpc.Error {
		req := &server.Request{Service: svc.Name, Method: "m",
			Credentials: server.NewCredentials(alice, nil, svc.CurrentRegistry())}
		e := svc.Authorize(context.Background(), req)
		if e == nil {
			if req.Credentials.Username != "alice" || req.Credentials.Group != "dirac_user" {
				return diracrpc.NewError(0, "allowed with a mixed identity")
			}
		}
		return e
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var allowed, refused atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				switch e := call(); {
				case e == nil:
					allowed.Add(1)
				case e.Errno == diracrpc.ENOAUTH:
					refused.Add(1)
				default:
					t.Errorf("unexpected decision: %v", e)
					return
				}
			}
		}()
	}
	for i := range 200 {
		c := allow
		if i%2 == 0 {
			c = deny
		}
		src.c.Store(c)
		_, err := f.Apply(context.Background())
		require.NoError(t, err)
		if c == allow {
			assert.Nil(t, call(), "flip %d: allowed once applied", i)
		} else {
			assert.NotNil(t, call(), "flip %d: refused once applied", i)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("concurrent decisions: %d allowed, %d refused", allowed.Load(), refused.Load())

	// A configuration without the service's section is refused; the rules
	// in force stay.
	src.c.Store(cfg.MustParse("DIRAC\n{\n  Setup = Production\n}\n"))
	_, err = f.Apply(context.Background())
	require.ErrorIs(t, err, server.ErrNotConfigured)
	assert.Nil(t, call(), "the last rules applied (allow) are kept")
}

// TestFollowerFollowsAConfigurationServer: a Go service whose rules come
// from a Configuration Server follows it end to end: the CS changes the
// rule, the bootstrap refreshes, the running service refuses the next call.
func TestFollowerFollowsAConfigurationServer(t *testing.T) {
	cs := csserver.New(followCfg("all"))
	csL, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	csSrv := server.NewDISET(cs.Service(), server.DISETConfig{Logger: quiet})
	go func() { _ = csSrv.Serve(csL) }()
	defer csSrv.Close()

	dial := func(_ context.Context, url string) (diracrpc.Caller, error) {
		return disetclient.New([]string{url}, diracrpc.Options{Timeout: 10 * time.Second}, disetclient.Options{})
	}
	local := cfg.MustParse("DIRAC\n{\n  Configuration\n  {\n    Servers = dip://" + csL.Addr().String() + "/Configuration/Server\n  }\n}\n")
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: dial, Logger: quiet})
	require.NoError(t, err)

	svc := server.NewService("Framework/Hello")
	svc.Logger = quiet
	svc.HandleFunc("m", func(context.Context, *server.Request) (any, error) { return "ok", nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet})
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	versions := make(chan string, 4)
	f := &server.Follower{Source: b, Services: []*server.Service{svc}, Interval: time.Millisecond, Logger: quiet,
		OnApply: func(c *cfg.Config, err error) {
			assert.NoError(t, err)
			versions <- c.GetDefault("/DIRAC/Configuration/Version", "")
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	wait := func() string {
		select {
		case v := <-versions:
			return v
		case <-time.After(30 * time.Second):
			t.Fatal("the configuration was not applied")
			return ""
		}
	}
	v1 := wait()

	// An anonymous caller over dip://: "all" lets it in, "authenticated" not.
	c, err := disetclient.New([]string{"dip://" + l.Addr().String() + "/Framework/Hello"},
		diracrpc.Options{Timeout: 10 * time.Second}, disetclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	callCtx, callCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer callCancel()
	res, err := c.Call(callCtx, "m")
	require.NoError(t, err)
	assert.Equal(t, "ok", res.Value)

	v2 := cs.Update(followCfg("authenticated"))
	require.Equal(t, v2, wait())
	assert.NotEqual(t, v1, v2)
	_, err = c.Call(callCtx, "m")
	assert.ErrorIs(t, err, diracrpc.ErrUnauthorized)

	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}
