package main

import (
	"context"
	"fmt"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// runDemo is the whole tour in one process: local test services with a
// throw-away PKI, then what an operator would run against a real
// installation: tls, ping, call, compare, bench.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo")
	n := fs.Int("n", 300, "calls per benchmark")
	asJSON := fs.Bool("json", false, "machine-readable output")
	pos, err := parseInterleaved(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *n <= 0 {
		return usageErr("demo takes no arguments")
	}
	w := e.stdout
	say := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(w, format, a...)
		}
	}
	// DISET answers in DEncode here, as services with
	// DIRAC_USE_JSON_ENCODE=no do: the comparison then shows every
	// difference JSON introduces.
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	h, err := testharness.Start(startCtx, testharness.Options{Encoding: server.DEncode})
	cancel()
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	defer h.Close()
	say("== 1. local test services (probe harness), throw-away PKI in %s\n", h.Dir)
	for _, u := range h.URLs() {
		say("   %s\n", u)
	}
	// The demo's clients read the harness's credentials as a user's would
	// read X509_USER_PROXY and X509_CERT_DIR.
	de := &env{stdin: e.stdin, stdout: e.stdout, stderr: e.stderr, getenv: func(k string) string {
		if v, ok := h.Env[k]; ok {
			return v
		}
		return ""
	}}
	// DISET requests in DEncode too, so that tuples and int keys reach the
	// service as they are.
	c := common{timeout: 10 * time.Second, encoding: "dencode"}
	summary := map[string]any{"urls": h.URLs()}

	say("\n== 2. probe tls %s\n", h.HTTPSURL)
	hu, _ := endpoint.ParseURL(h.HTTPSURL)
	trep, err := inspectTLS(ctx, &c, de, hu)
	if err != nil {
		return &exitError{code: exitUnreachable, msg: err.Error()}
	}
	if !*asJSON {
		printTLS(&env{stdout: indent(w)}, trep)
	}
	summary["tls"] = trep.Verdict

	say("\n== 3. probe ping, over each protocol\n")
	var pings []*callResult
	for _, u := range h.URLs() {
		out, res, err := doCall(ctx, &c, de, u, "ping", nil)
		if err != nil {
			return err
		}
		pings = append(pings, out)
		name := ""
		if m, ok := pingVersion(res.Value); ok {
			name = "version " + m
		}
		say("   %-6s %6.2f ms  %s\n", res.Protocol, out.ElapsedMS, name)
	}
	summary["ping"] = pings

	say("\n== 4. probe call %s add 2 3   (and echoAny over each protocol)\n", h.DIPSURL)
	out, res, err := doCall(ctx, &c, de, h.DIPSURL, "add", []any{int64(2), int64(3)})
	if err != nil {
		return err
	}
	say("   add(2, 3) = %s\n", reprOf(res.Value))
	arg := testharness.Calls()[3].Args
	for _, u := range h.URLs() {
		_, res, err := doCall(ctx, &c, de, u, "echoAny", arg)
		if err != nil {
			return err
		}
		say("   %-6s echoAny -> %s\n", res.Protocol, reprOf(res.Value))
	}
	if _, _, err := doCall(ctx, &c, de, h.HTTPSURL, "failErrno", []any{int64(1111), "custom"}); err != nil {
		say("   https  failErrno(1111, 'custom') -> %s  (probe exits 1 on an S_ERROR)\n", firstLine(err.Error()))
	}
	summary["call"] = out

	say("\n== 5. probe compare %s %s --calls (the test service tour)\n", h.DIPSURL, h.HTTPSURL)
	var sides [2]diracrpc.Caller
	for i, u := range []string{h.DIPSURL, h.HTTPSURL} {
		ts, err := c.resolveTargets(ctx, e, u)
		if err != nil {
			return err
		}
		if sides[i], err = c.caller(de, ts[0]); err != nil {
			return err
		}
	}
	a, b := sides[0], sides[1]
	rep := compat.Run(ctx, a, b, testharness.Calls(), compat.Options{NameA: "dips", NameB: "https",
		URLA: h.DIPSURL, URLB: h.HTTPSURL, Timeout: c.timeout})
	if !*asJSON {
		if err := rep.WriteText(indent(w)); err != nil {
			return err
		}
		say("   (~ expected protocol difference, ! divergence)\n")
	}
	summary["compare"] = rep.Summary()

	say("\n== 6. probe bench -n %d -c 4, ping over each protocol\n", *n)
	var benches []benchResult
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.DIP, diracrpc.HTTPS} {
		ts, err := c.resolveTargets(ctx, e, h.URL(p))
		if err != nil {
			return err
		}
		cl, err := c.caller(de, ts[0])
		if err != nil {
			return err
		}
		r := bench(ctx, cl, benchSpec{method: "ping", n: *n, conc: 4, timeout: c.timeout})
		r.Endpoint, r.Protocol = h.URL(p), string(p)
		benches = append(benches, r)
		say("   %-6s %8.1f calls/s  p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  errors %d\n",
			p, r.CallsPerSec, r.P50MS, r.P90MS, r.P99MS, r.Errors+r.SErrors)
	}
	summary["bench"] = benches

	s := rep.Summary()
	if *asJSON {
		if err := writeJSON(w, summary); err != nil {
			return err
		}
	} else {
		say("\nfound: TLS %s; %d calls compared: %d identical, %d with expected protocol differences only, %d divergent, %d failed\n",
			map[bool]string{true: "OK", false: "FAILED"}[trep.Verdict.OK], s.Total, s.Identical, s.Expected, s.Divergent, s.Failed)
		say("next: 'probe harness' keeps these services running for your own calls; 'probe -h' lists every command.\n")
	}
	if s.Divergent > 0 || s.Failed > 0 || !trep.Verdict.OK {
		return silentExit(exitFail)
	}
	return nil
}

// indentWriter prefixes every line with three spaces.
type indentWriter struct {
	w   interface{ Write([]byte) (int, error) }
	bol bool
}

func indent(w interface{ Write([]byte) (int, error) }) *indentWriter {
	return &indentWriter{w: w, bol: true}
}

func (i *indentWriter) Write(p []byte) (int, error) {
	var out []byte
	for _, c := range p {
		if i.bol {
			out = append(out, "   "...)
		}
		out = append(out, c)
		i.bol = c == '\n'
	}
	if _, err := i.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
