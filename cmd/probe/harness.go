package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// harnessInfo is the one-line JSON harness prints first with --json.
type harnessInfo struct {
	DIPSURL  string            `json:"dips_url"`
	DIPURL   string            `json:"dip_url"`
	HTTPSURL string            `json:"https_url"`
	Env      map[string]string `json:"env"`
	Dir      string            `json:"dir"`
	Config   string            `json:"config"`
	Service  string            `json:"service"`
	// MetricsURL is the Prometheus endpoint (--metrics).
	MetricsURL string `json:"metrics_url,omitempty"`
}

func runHarness(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "harness")
	dir := fs.String("dir", "", "directory for the throw-away PKI (default: a temporary one, removed on exit)")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	urlHost := fs.String("url-host", "", "host name in the URLs (default: localhost when listening on 127.0.0.1, else --host)")
	dipsPort := fs.Int("dips-port", 0, "dips:// port (0: ephemeral; -1: not served)")
	dipPort := fs.Int("dip-port", 0, "dip:// port (0: ephemeral; -1: not served)")
	httpsPort := fs.Int("https-port", 0, "https:// port (0: ephemeral; -1: not served)")
	service := fs.String("service", testharness.DefaultService, "System/Component name of the test service")
	encoding := fs.String("encoding", "json", "what the DISET servers write: json or dencode (DIRAC_USE_JSON_ENCODE=no)")
	asJSON := fs.Bool("json", false, "print one JSON line with the URLs, the environment and the directory first")
	metricsAddr := fs.String("metrics", "", "serve the servers' OpenTelemetry metrics to Prometheus at http://`ADDR`/metrics (e.g. 127.0.0.1:9100; port 0: ephemeral)")
	var in installation
	in.register(fs)
	pos, err := parseInterleaved(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("harness takes no arguments")
	}
	if *metricsAddr != "" {
		mp, u, stop, err := serveMetrics(ctx, *metricsAddr)
		if err != nil {
			return err
		}
		defer stop()
		in.meter, in.metricsURL = mp, u
	}
	if in.enabled() {
		if *encoding != "json" && *encoding != "dencode" {
			return usageErr("--encoding must be json or dencode")
		}
		if err := in.check(); err != nil {
			return err
		}
		explicit := map[diracrpc.Protocol]int{}
		fs.Visit(func(f *flag.Flag) {
			for p, v := range map[string]*int{"dips-port": dipsPort, "dip-port": dipPort, "https-port": httpsPort} {
				if f.Name == p && *v >= 0 {
					explicit[diracrpc.Protocol(strings.TrimSuffix(p, "-port"))] = *v
				}
			}
		})
		enc := server.JSON
		if *encoding == "dencode" {
			enc = server.DEncode
		}
		uh := *urlHost
		if uh == "" {
			uh = map[bool]string{true: "localhost", false: *host}[*host == "127.0.0.1"]
		}
		return in.serve(ctx, e, *service, *host, uh, explicit, enc, *asJSON)
	}
	if _, _, err := endpoint.SplitService(*service); err != nil {
		return usageErr("--service: %v", err)
	}
	if *dipsPort < 0 && *dipPort < 0 && *httpsPort < 0 {
		return usageErr("every port is -1: nothing to serve (leave at least one of --dips-port, --dip-port, --https-port at 0 or a port)")
	}
	opts := testharness.Options{Dir: *dir, Host: *host, URLHost: *urlHost, ServiceName: *service, MeterProvider: in.meter}
	switch *encoding {
	case "json":
	case "dencode":
		opts.Encoding = server.DEncode
	default:
		return usageErr("--encoding must be json or dencode")
	}
	addr := func(port int) (string, error) {
		switch {
		case port < 0:
			return "-", nil
		case port > 65535:
			return "", usageErr("port %d out of range", port)
		}
		return net.JoinHostPort(*host, fmt.Sprint(port)), nil
	}
	if opts.DIPSAddr, err = addr(*dipsPort); err != nil {
		return err
	}
	if opts.DIPAddr, err = addr(*dipPort); err != nil {
		return err
	}
	if opts.HTTPSAddr, err = addr(*httpsPort); err != nil {
		return err
	}
	h, err := testharness.Start(ctx, opts)
	if err != nil {
		// A busy port, an unwritable --dir: the message names which and why.
		return &exitError{code: exitFail, msg: "cannot start: " + err.Error()}
	}
	defer h.Close()
	if *asJSON {
		if err := writeJSON(e.stdout, harnessInfo{DIPSURL: h.DIPSURL, DIPURL: h.DIPURL, HTTPSURL: h.HTTPSURL,
			Env: h.Env, Dir: h.Dir, Config: h.ConfigFile, Service: h.Service.Name, MetricsURL: in.metricsURL}); err != nil {
			return err
		}
	} else {
		printHarness(e, h)
		if in.metricsURL != "" {
			fmt.Fprintf(e.stdout, "metrics for Prometheus: %s\n", in.metricsURL)
		}
	}
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "probe harness: stopping")
	return nil
}

func printHarness(e *env, h *testharness.Harness) {
	w := e.stdout
	fmt.Fprintf(w, "test service %s is up:\n", h.Service.Name)
	for _, u := range h.URLs() {
		fmt.Fprintf(w, "  %s\n", u)
	}
	fmt.Fprintf(w, "throw-away PKI in %s; a client needs:\n", h.Dir)
	keys := make([]string, 0, len(h.Env))
	for k := range h.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  export %s=%s\n", k, shellQuote(h.Env[k]))
	}
	fmt.Fprintf(w, "try: probe call %s add 2 3\n", firstNonEmpty(h.DIPSURL, h.HTTPSURL, h.DIPURL))
	fmt.Fprintf(w, "     probe scan --config %s\n", h.ConfigFile)
	fmt.Fprintln(w, "Ctrl-C stops it.")
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
