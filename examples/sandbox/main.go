// Command sandbox submits a DIRAC job with an input sandbox and fetches a
// job's output sandbox, over DISET or HTTPS alike (the URLs decide):
//
//	go run ./examples/sandbox -store dips://host:9196/WorkloadManagement/SandboxStore \
//	    -jm dips://host:9132/WorkloadManagement/JobManager submit hello.txt data.bin
//	go run ./examples/sandbox -store https://host:8443/WorkloadManagement/TornadoSandboxStore \
//	    -jm https://host:8443/WorkloadManagement/TornadoJobManager submit hello.txt
//	go run ./examples/sandbox -store ... fetch 'SB:SandboxSE|/SandBox/...' outdir
//
// Credentials are found as DIRAC finds them (X509_USER_PROXY,
// X509_CERT_DIR...).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/sandbox"
)

// client builds the one client type for url, whatever its protocol.
func client(url string) (*diracrpc.Client, error) {
	if strings.HasPrefix(url, "https://") {
		return httpsclient.New([]string{url}, diracrpc.Options{}, httpsclient.Options{})
	}
	return disetclient.New([]string{url}, diracrpc.Options{}, disetclient.Options{})
}

func main() {
	storeURL := flag.String("store", "", "SandboxStore URL (dips:// or https://.../TornadoSandboxStore)")
	jmURL := flag.String("jm", "", "JobManager URL, for submit")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, *storeURL, *jmURL, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err, "(code:", diracrpc.CodeOf(err).String()+")")
		os.Exit(1)
	}
}

func run(ctx context.Context, storeURL, jmURL string, args []string) error {
	if storeURL == "" || len(args) < 2 {
		return fmt.Errorf("usage: sandbox -store URL [-jm URL] (submit FILE... | fetch SB_URL DIR)")
	}
	store, err := client(storeURL)
	if err != nil {
		return err
	}
	defer store.Close()
	switch args[0] {
	case "submit":
		// 1. The input sandbox: a tar.bz2 named by its md5, stored by the
		// SandboxStore, which answers its SB: URL.
		sb, err := sandbox.Upload(ctx, store, args[1:], nil)
		if err != nil {
			return err
		}
		fmt.Println("input sandbox:", sb)
		// 2. The job: its JDL lists the files and the sandbox's SB: URL.
		names := make([]string, 0, len(args))
		for _, f := range args[1:] {
			names = append(names, fmt.Sprintf("%q", filepath.Base(f)))
		}
		jdl := fmt.Sprintf(`[ Executable = "/bin/ls"; Arguments = "-l"; JobName = "diracrpc-example";
  InputSandbox = {%s, %q}; OutputSandbox = {"std.out", "std.err"};
  StdOutput = "std.out"; StdError = "std.err"; ]`, strings.Join(names, ", "), sb)
		jm, err := client(jmURL)
		if err != nil {
			return err
		}
		defer jm.Close()
		res, err := jm.Call(ctx, "submitJob", jdl)
		if err != nil {
			return err
		}
		fmt.Println("job:", res.Value)
	case "fetch":
		// An output sandbox, by the SB: URL the job's sandboxes list
		// (SandboxStore.getSandboxesAssignedToEntity("Job:<id>")).
		if len(args) != 3 {
			return fmt.Errorf("fetch SB_URL DIR")
		}
		var tarball bytes.Buffer // sandboxes are small (10 MiB at most by default)
		if err := sandbox.Download(ctx, store, args[1], &tarball); err != nil {
			return err
		}
		files, err := sandbox.Extract(&tarball, args[2])
		if err != nil {
			return err
		}
		fmt.Println("extracted:", strings.Join(files, " "))
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}
