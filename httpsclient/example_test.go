package httpsclient_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
)

// Calling a DIRAC HTTPS service (DIRAC ≥ 8.1 names it Tornado<Handler> in
// its URL) with the user's proxy and CA directory (X509_USER_PROXY,
// X509_CERT_DIR), branching on the code of a failure.
func ExampleNew() {
	c, err := httpsclient.New(
		[]string{"https://dirac1.example.org:8443/Framework/TornadoSystemAdministrator"},
		diracrpc.Options{
			Service:    "Framework/SystemAdministrator", // what replay stubs record
			Setup:      "Production",
			VO:         "lhcb",
			Idempotent: []string{"getInfo"}, // safe to run twice: sent again after a dropped connection
		},
		httpsclient.Options{},
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := c.Call(ctx, "getInfo")
	var serr *diracrpc.Error
	switch {
	case err == nil:
		var info map[string]any
		_ = res.Decode(&info)
		fmt.Println(info["version"], "from", res.URL)
	case errors.Is(err, diracrpc.ErrUnauthorized):
		fmt.Println("not allowed:", err)
	case errors.Is(err, diracrpc.ErrCircuitOpen), errors.Is(err, diracrpc.ErrNoURL):
		fmt.Println("service unavailable:", diracrpc.CodeOf(err), err)
	case errors.As(err, &serr):
		fmt.Println("S_ERROR:", serr.Message)
	default:
		fmt.Println("failed:", diracrpc.CodeOf(err), err)
	}
}

// Downloading a sandbox without holding it in memory, through the one
// client (the same call over DISET).
func Example_receive() {
	c, err := httpsclient.New([]string{"https://dirac1.example.org:8443/WorkloadManagement/TornadoSandboxStore"},
		diracrpc.Options{}, httpsclient.Options{})
	if err != nil {
		return
	}
	defer c.Close()
	f, err := os.Create("sandbox.tar.bz2")
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := c.Receive(context.Background(), "/SandBox/u/user.group/abc/def/sandbox.tar.bz2", f); err != nil {
		fmt.Println(err) // an S_ERROR is returned here, never written into the file
	}
}
