// Command probe checks DIRAC services from the command line: call a method,
// ping, inspect a server's certificate chain, compare the DISET and HTTPS
// endpoints of a service, benchmark, scan a whole configuration, run local
// test services, and convert payloads between DIRAC's encodings.
//
//	probe call    [flags] ENDPOINT METHOD [ARG...]
//	probe ping    [flags] ENDPOINT
//	probe tls     [flags] ENDPOINT
//	probe compare [flags] (ENDPOINT_A ENDPOINT_B | System/Component) (METHOD [ARG...] | --calls FILE)
//	probe bench   [flags] ENDPOINT [--method M] [--args JSON] [-n N | --duration D] [-c CONCURRENCY] [--rate R]
//	probe scan    [flags]
//	probe creds   [flags] [--exists] [--valid H:M]
//	probe harness [flags]
//	probe demo
//	probe codec   (encode|decode) --format (dencode|json)
//	probe completion (bash|zsh|fish)
//
// Flags go before or after the arguments. ENDPOINT is a dips://, dip:// or
// https:// URL, or System/Component resolved as DIRAC's clients do: the
// local configuration (--config, else <root>/etc/dirac.cfg with root
// $DIRAC_ROOT_PATH or $DIRAC, DIRACSYSCONFIG
// and ~/.dirac.cfg) completed by the Configuration Service it names. Exit
// codes: 0 success, 1 the service answered S_ERROR (or a comparison
// diverged, a check failed), 2 usage error, 3 the service (or the
// Configuration Service) could not be reached or authenticated with, 4
// configuration error (none found, or a name it does not define), 130
// interrupted. The
// README's walkthrough is TestREADMEWalkthrough.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		isTerminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}
