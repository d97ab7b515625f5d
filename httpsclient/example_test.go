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

// Calling a DIRAC HTTPS service with the user's proxy and CA directory
// (X509_USER_PROXY, X509_CERT_DIR), branching on the kinds of error.
func ExampleNew() {
	c, err := httpsclient.New("Framework/SystemAdministrator", httpsclient.Config{
		URLs:       []string{"https://dirac1.example.org:8443/Framework/SystemAdministrator"},
		Setup:      "Production",
		VO:         "lhcb",
		Idempotent: []string{"getInfo"}, // safe to run twice: retried after a dropped connection
	})
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
		fmt.Println("service unavailable:", err)
	case errors.As(err, &serr):
		fmt.Println("S_ERROR:", serr.Message)
	default:
		fmt.Println("failed:", err)
	}
}

// Downloading a sandbox without holding it in memory.
func ExampleClient_ReceiveFile() {
	c, err := httpsclient.New("https://dirac1.example.org:8443/WorkloadManagement/SandboxStore", httpsclient.Config{})
	if err != nil {
		return
	}
	defer c.Close()
	f, err := os.Create("sandbox.tar.bz2")
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := c.ReceiveFile(context.Background(), f, "SB:GridSE|/path/sandbox.tar.bz2", ""); err != nil {
		fmt.Println(err) // an S_ERROR is returned here, never written into the file
	}
}
