package selector_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/csserver"
)

// harness serves a service on loopback for the examples (see testharness).
func harness(opts testharness.Options) (*testharness.Harness, context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h, err := testharness.Start(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	return h, ctx, func() { h.Close(); cancel() }
}

// Calling a service by its DIRAC name, resolved in a configuration. The
// service here is the test service of testharness, served on loopback over
// dips:// and https://; its configuration lists both URLs and chooses the
// protocol per service.
func ExampleRPCClientSelector_Select() {
	h, ctx, stop := harness(testharness.Options{})
	defer stop()

	conf := cfg.MustParse(`
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
  Selector
  {
    Services
    {
      Framework
      {
        TestHarness = dips
      }
    }
  }
}
`)
	_ = conf.Set("/Systems/Framework/Production/URLs/TestHarness", h.DIPSURL+", "+h.HTTPSURL)

	sel := selector.New(selector.Options{
		Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)},
		Client:   h.Options(),
	})
	defer sel.Close()

	client, err := sel.Select(ctx, "Framework/TestHarness")
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Call(ctx, "add", 2, 3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Value, res.Protocol)

	// The program may override the configuration for one service.
	https := selector.New(selector.Options{
		Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)},
		Services: map[string]selector.Mode{"Framework/TestHarness": selector.HTTPS},
		Client:   h.Options(),
	})
	defer https.Close()
	res, err = https.Call(ctx, "Framework/TestHarness", "add", 2, 3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Value, res.Protocol)
	// Output:
	// 5 dips
	// 5 https
}

// What a DIRAC user's client does: a dirac.cfg holding only the
// configuration servers; the rest of the configuration is fetched from them.
func ExampleNewFromConfig() {
	// The service, and a Configuration Service (same CA) that lists it.
	svc, ctx, stop := harness(testharness.Options{})
	defer stop()
	central := cfg.MustParse("DIRAC\n{\n  Setup = Production\n  Setups\n  {\n    Production\n    {\n      Framework = Production\n    }\n  }\n}\n")
	_ = central.Set("/Systems/Framework/Production/URLs/TestHarness", svc.HTTPSURL)
	cs := csserver.New(central)
	csh, _, stopCS := harness(testharness.Options{Service: cs.Service(), CA: svc.CA})
	defer stopCS()

	// The user's dirac.cfg.
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "dirac.cfg")
	text := "DIRAC\n{\n  Configuration\n  {\n    Servers = " + csh.DIPSURL + "\n  }\n}\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		log.Fatal(err)
	}
	local, _, err := cfg.Load(cfg.LoadOptions{NoHome: true, Files: []string{file}, Getenv: func(string) string { return "" }})
	if err != nil {
		log.Fatal(err)
	}

	sel, bootstrap, err := selector.NewFromConfig(local, selector.Options{
		Client: svc.Options(),
	}, endpoint.BootstrapConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer sel.Close()
	// Keep the configuration fresh in the background until ctx ends:
	//	go bootstrap.Run(ctx)
	_ = bootstrap

	res, err := sel.Call(ctx, "Framework/TestHarness", "echo", "hello")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Value, res.Protocol)
	// Output: hello https
}

// Replaying a call from its stub, as DIRAC's executeRPCStub does (stubs are
// what DIRAC queues in its request system to retry failed calls).
func ExampleRPCClientSelector_Replay() {
	h, ctx, stop := harness(testharness.Options{})
	defer stop()
	sel := selector.New(selector.Options{
		Client: h.Options(),
	})
	defer sel.Close()

	res, err := sel.Call(ctx, h.DIPSURL, "add", 40, 2)
	if err != nil {
		log.Fatal(err)
	}
	stub := res.Stub
	fmt.Println(stub.Method, stub.Args)

	again, err := sel.Replay(ctx, stub)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(again.Value)
	// Output:
	// add [40 2]
	// 42
}
