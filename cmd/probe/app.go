package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Exit codes: the contract scripts depend on.
const (
	exitOK          = 0   // success
	exitFail        = 1   // S_ERROR answer, divergent comparison, failed check
	exitUsage       = 2   // bad command line
	exitUnreachable = 3   // cannot reach or authenticate with the service
	exitConfig      = 4   // no usable DIRAC configuration, or a name it does not define
	exitInterrupted = 130 // interrupted (SIGINT, SIGTERM), as shells report it
)

// env is the process's outside world, replaceable in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// isTerminal reports whether stderr is a terminal (progress display).
	isTerminal bool
	// flagSets, when set, collects each command's flag set as newFlagSet
	// makes it (shell completion).
	flagSets map[string]*flag.FlagSet
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
		{"get", "download a file (DIRAC FileTransfer ToClient, HTTPS streamToClient) to stdout or -o FILE", "probe get [flags] [-o FILE] [--token T] [--bulk FORMAT [--list]] ENDPOINT FILE_ID", runGet},
		{"put", "upload a file (DIRAC FileTransfer FromClient, HTTPS streamFromClient) and print the S_OK value", "probe put [flags] [--token T] [--bulk FORMAT] ENDPOINT FILE_ID FILE", runPut},
		{"compare", "make the same calls on two endpoints and classify the differences", "probe compare [flags] (ENDPOINT_A ENDPOINT_B | System/Component) (METHOD [ARG...] | --calls FILE | --get FILE_ID)", runCompare},
		{"bench", "measure calls/s and latency percentiles", "probe bench [flags] ENDPOINT [--method M] [--args JSON] [-n N] [-c CONCURRENCY]", runBench},
		{"scan", "ping every URL (main and failover) of every service of the configuration", "probe scan [flags] [--json] [--junit FILE] [--parallel N]", runScan},
		{"harness", "serve a test service over dips://, dip:// and https:// with a throw-away PKI", "probe harness [flags]", runHarness},
		{"demo", "the whole tour on local test services, no setup", "probe demo", runDemo},
		{"codec", "convert between DEncode, DIRAC JSON and the value model (stdin to stdout)", "probe codec (encode|decode) --format (dencode|json)", runCodec},
		{"creds", "show the credential calls present: chain, DNs, proxy type, DIRAC group, time left, key", "probe creds [flags] [--exists] [--valid H:M]", runCreds},
		{"gateway", "a DIRAC gateway: DIRAC clients reach services over DISET or HTTPS, whatever they speak", "probe gateway [flags] --host-cert FILE --host-key FILE [--listen ADDR] [--listen-https ADDR --https-service NAME --trusted-host]", runGateway},
		{"shadow", "a gateway that mirrors read-only calls to a candidate and reports the differences", "probe shadow [flags] --host-cert FILE --host-key FILE --candidate NAME=URL --read-only METHOD", runShadow},
		{"completion", "print the shell completion script: source <(probe completion bash)", "probe completion (bash|zsh|fish)", runCompletion},
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
	case completeCommand:
		complete(ctx, e, args[1:])
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

// newFlagSet returns a flag set that reports errors instead of exiting. Its
// Usage prints the command's synopsis and every flag (probe CMD -h); a bad
// flag prints only the error and the synopsis (see parseInterleaved). When
// e.flagSets is set (completion), the set is recorded there.
func newFlagSet(e *env, c string) *flag.FlagSet {
	fs := flag.NewFlagSet("probe "+c, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	for _, cmd := range commands() {
		if cmd.name == c {
			u := cmd.usage
			fs.Usage = func() {
				fmt.Fprintf(e.stderr, "usage: %s\n\nflags (before or after the arguments):\n", u)
				printFlags(e.stderr, fs)
			}
		}
	}
	if e.flagSets != nil {
		e.flagSets[c] = fs
	}
	return fs
}

// printFlags lists fs's flags as they are typed: --name, or -n for
// one-letter names.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, typ := flagName(f.Name), ""
		if !isBoolFlag(f) {
			typ, _ = flag.UnquoteUsage(f)
			if typ == "" {
				typ = "value"
			}
			typ = " " + typ
		}
		_, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  %s%s\n    \t%s", name, typ, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseInterleaved parses flags anywhere among the positional arguments
// (probe call URL add 1 2 --json). Go's flag stops at the first positional;
// this takes one flag at a time instead. Once maxPos positionals are
// collected (maxPos < 0: no limit), only the names fs defines are flags:
// call arguments such as -7 or '-1' are JSON values, whatever their place.
// A negative number is never a flag. "--" ends the flags.
//
// A bad flag gives a usage error with flag's message only (not the whole
// flag list, which -h prints).
func parseInterleaved(fs *flag.FlagSet, args []string, maxPos int) ([]string, error) {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = usage; fs.SetOutput(out) }()
	var pos []string
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			return append(pos, args[1:]...), nil
		}
		name, isFlag := flagToken(a)
		known := isFlag && (fs.Lookup(name) != nil || name == "h" || name == "help")
		if !known && (!isFlag || isNumber(a) || (maxPos >= 0 && len(pos) >= maxPos)) {
			pos = append(pos, a)
			args = args[1:]
			continue
		}
		// One flag, with its value when it takes one and has no "=".
		n := 1
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && !strings.Contains(a, "=") && len(args) > 1 {
			n = 2
		}
		if err := fs.Parse(args[:n]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if usage != nil {
					fs.SetOutput(out)
					usage()
				}
				return nil, err
			}
			// flag names every flag -name; probe's help says --name.
			msg := strings.Replace(err.Error(), "flag -"+name, "flag "+flagName(name), 1)
			return nil, &exitError{code: exitUsage, msg: msg}
		}
		args = args[n:]
	}
	return pos, nil
}

// flagToken returns the flag name a looks like (-name, --name, -name=v).
func flagToken(a string) (string, bool) {
	if len(a) < 2 || a[0] != '-' {
		return "", false
	}
	name := strings.TrimPrefix(a[1:], "-")
	name, _, _ = strings.Cut(name, "=")
	return name, name != ""
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// isTerminal reports whether f is a character device.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
