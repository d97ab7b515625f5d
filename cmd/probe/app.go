package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes: the contract scripts depend on.
const (
	exitOK          = 0 // success
	exitFail        = 1 // S_ERROR answer, divergent comparison, failed check
	exitUsage       = 2 // bad command line
	exitUnreachable = 3 // cannot reach or authenticate with the service
	exitConfig      = 4 // no usable DIRAC configuration, or a name it does not define
)

// env is the process's outside world, replaceable in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTerminal reports whether stderr is a terminal (progress display).
	isTerminal bool
}

// exitError carries an exit code and a message for stderr.
type exitError struct {
	code int
	msg  string
	err  error
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

// silentExit ends with code, the output having said everything already.
func silentExit(code int) error { return &exitError{code: code} }

type command struct {
	name     string
	synopsis string
	usage    string
	run      func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"call", "call a method and print its S_OK value as DIRAC JSON", "probe call [flags] ENDPOINT METHOD [ARG...]", runCall},
		{"ping", "call ping and print what the service says about itself", "probe ping [flags] ENDPOINT", runPing},
		{"tls", "show the server's certificate chain and explain verification problems", "probe tls [flags] ENDPOINT", runTLS},
		{"compare", "make the same calls on two endpoints and classify the differences", "probe compare [flags] (ENDPOINT_A ENDPOINT_B | System/Component) (METHOD [ARG...] | --calls FILE)", runCompare},
		{"bench", "measure calls/s and latency percentiles", "probe bench [flags] ENDPOINT [--method M] [--args JSON] [-n N] [-c CONCURRENCY]", runBench},
		{"scan", "ping every URL (main and failover) of every service of the configuration", "probe scan [flags] [--json] [--junit FILE] [--parallel N]", runScan},
		{"harness", "serve a test service over dips://, dip:// and https:// with a throw-away PKI", "probe harness [flags]", runHarness},
		{"demo", "the whole tour on local test services, no setup", "probe demo", runDemo},
		{"codec", "convert between DEncode, DIRAC JSON and the value model (stdin to stdout)", "probe codec (encode|decode) --format (dencode|json)", runCodec},
	}
}

func topUsage(w io.Writer) {
	fmt.Fprintln(w, "probe: check DIRAC services over DISET (dips://, dip://) and HTTPS")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n", c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 success; 1 S_ERROR answer, divergence or failed check; 2 usage error;")
	fmt.Fprintln(w, "3 service (or Configuration Service) unreachable or authentication failed; 4 configuration error:")
	fmt.Fprintln(w, "no DIRAC configuration found, or a name it does not define. Run 'probe COMMAND -h' for a command's flags.")
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		topUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		topUsage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args[1:])
		return report(e, c, err)
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	fmt.Fprintf(e.stderr, "probe: unknown command %q (commands: %s)\n", name, strings.Join(names, ", "))
	return exitUsage
}

// report prints err (if any) and maps it to an exit code.
func report(e *env, c command, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code == exitUsage && ee.msg != "" {
			fmt.Fprintf(e.stderr, "probe %s: %s\nusage: %s\n", c.name, ee.msg, c.usage)
		} else if s := ee.Error(); ee.msg != "" || ee.err != nil {
			fmt.Fprintf(e.stderr, "probe %s: %s\n", c.name, s)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "probe %s: %v\n", c.name, err)
	return exitFail
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, c string) *flag.FlagSet {
	fs := flag.NewFlagSet("probe "+c, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	for _, cmd := range commands() {
		if cmd.name == c {
			u := cmd.usage
			fs.Usage = func() {
				fmt.Fprintf(e.stderr, "usage: %s\n\nflags:\n", u)
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parseInterleaved parses flags that may appear between positional
// arguments (probe bench URL -n 10). Once maxPos positionals are collected
// (maxPos < 0: no limit), or after "--", the rest is returned untouched as
// positionals: call arguments such as -7 are JSON, not flags.
func parseInterleaved(fs *flag.FlagSet, args []string, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{code: exitUsage, err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" (consumed) or at the first non-flag.
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if maxPos >= 0 && len(pos) >= maxPos {
			return append(pos, args...), nil
		}
	}
}

// stdoutIsTerminal reports whether f is a character device.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
