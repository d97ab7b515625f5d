package diracrpc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// harness serves the test service of testharness on loopback (dips://,
// dip://, https://) for the examples.
func harness() (*testharness.Harness, context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h, err := testharness.Start(ctx, testharness.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return h, ctx, func() { h.Close(); cancel() }
}

// One client type over either protocol. The service here is the test
// service of testharness on loopback; a real one is named by its URL (or
// resolved by package selector) and the credentials are found as DIRAC
// finds them.
func ExampleClient() {
	h, ctx, stop := harness()
	defer stop()

	opts := h.Options() // credentials and CAs of the harness
	opts.Setup = "Production"
	dips, err := disetclient.New([]string{h.DIPSURL}, opts, disetclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	https, err := httpsclient.New([]string{h.HTTPSURL}, opts, httpsclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range []*diracrpc.Client{dips, https} {
		res, err := c.Call(ctx, "add", 2, 3)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Protocol(), res.Value)
	}
	// Output:
	// dips 5
	// https 5
}

// Branching on a failure: the same code and sentinel over both protocols,
// the S_ERROR with errors.As, and whether the call may have run.
func ExampleCodeOf() {
	h, ctx, stop := harness()
	defer stop()

	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		c, err := h.Client(p)
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range []string{"doesNotExist", "crash", "fail"} {
			_, err := c.Call(ctx, m, "boom")
			var serr *diracrpc.Error
			fmt.Println(p, m, diracrpc.CodeOf(err), errors.Is(err, diracrpc.ErrNotImplemented),
				errors.As(err, &serr) && diracrpc.CodeOf(err) == diracrpc.CodeServiceError, diracrpc.Reached(err))
		}
	}
	// Output:
	// dips doesNotExist not_implemented true false false
	// dips crash server_failure false false true
	// dips fail service_error false true true
	// https doesNotExist not_implemented true false false
	// https crash server_failure false false true
	// https fail service_error false true true
}

// A failed call carries its replay stub, as DIRAC's failed results carry
// their rpcStub; Value is DIRAC's wire form, to queue it.
func ExampleStubOf() {
	h, ctx, stop := harness()
	defer stop()
	opts := h.Options()
	opts.Service, opts.Setup = "Framework/TestHarness", "Production"
	c, err := disetclient.New([]string{h.DIPSURL}, opts, disetclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Call(ctx, "fail", "boom")
	stub := diracrpc.StubOf(err)
	fmt.Println(err)
	fmt.Println(stub.Service, stub.Method, stub.Args)
	// Output:
	// S_ERROR: boom
	// Framework/TestHarness fail [boom]
}

// A stub read back from DIRAC's wire form (a queued request) gives the
// options to build the client again: package selector's Replay does this.
// skipCACheck in a stub is ignored on purpose.
func ExampleOptions_WithStub() {
	stub, err := diracrpc.ParseStub([]any{
		[]any{"WorkloadManagement/JobMonitoring", value.NewDict("setup", "Production",
			"extraCredentials", []any{"/DC=org/CN=alice", "dirac_user"}, "timeout", int64(300), "skipCACheck", true)},
		"getJobStatus", []any{int64(42)},
	})
	if err != nil {
		log.Fatal(err)
	}
	opts, err := diracrpc.Options{}.WithStub(stub.Options)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stub.Service, stub.Method, stub.Args)
	fmt.Println(opts.Setup, opts.DelegatedDN, opts.DelegatedGroup, opts.Timeout, opts.SkipCACheck)
	// Output:
	// WorkloadManagement/JobMonitoring getJobStatus [42]
	// Production /DC=org/CN=alice dirac_user 5m0s false
}

// Marking one call idempotent: if the connection drops after the arguments
// were sent, it is sent again (on either protocol) instead of failing with
// Reached true.
func ExampleWithIdempotent() {
	var c *diracrpc.Client // from disetclient.New, httpsclient.New or a selector
	if c == nil {
		return
	}
	res, err := c.Call(diracrpc.WithIdempotent(context.Background()), "getJobStatus", 42)
	_, _ = res, err
}

// A large answer taken undecoded: Raw holds it as it came, for a program
// that stores or forwards it, or decodes it its own way; Decode decodes it
// when asked. An S_ERROR is still an *Error.
func ExampleWithRawResult() {
	h, ctx, stop := harness()
	defer stop()

	c, err := h.Client(diracrpc.HTTPS)
	if err != nil {
		log.Fatal(err)
	}
	rows := []any{map[string]any{"JobID": 1, "Status": "Done"}, map[string]any{"JobID": 2, "Status": "Waiting"}}
	res, err := c.Call(diracrpc.WithRawResult(ctx), "echoAny", rows)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Undecoded, res.Value == nil)
	fmt.Println(string(res.Raw))
	var jobs []struct {
		JobID  int
		Status string
	}
	if err := res.Decode(&jobs); err != nil {
		log.Fatal(err)
	}
	fmt.Println(jobs)
	// Output:
	// true true
	// {"OK": true, "Value": [{"JobID": 1, "Status": "Done"}, {"JobID": 2, "Status": "Waiting"}]}
	// [{1 Done} {2 Waiting}]
}
