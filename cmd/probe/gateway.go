package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"go.opentelemetry.io/otel/metric"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/gateway"
	"github.com/diracgo/diracrpc/promexport"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/shadow"
)

// gatewayFlags are probe gateway's own flags (probe shadow adds the
// candidate's).
type gatewayFlags struct {
	hostCert, hostKey             string
	listenDIPS, listenHTTPS       string
	listenAdmin                   string
	httpsServices                 stringList
	mode                          string
	serviceModes                  stringList
	trustedHost                   bool
	maxConns, maxCalls            int
	maxTransfers                  int
	maxTransferBytes              int64
	candidates, readOnly, writes  stringList
	methods                       stringList
	rate                          float64
	noBaseline                    bool
	reportFile, junitFile, logLvl string
	metrics                       bool
}

func (g *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.hostCert, "host-cert", "", "the gateway's host certificate (PEM), required: it serves dips:// and https:// with it")
	fs.StringVar(&g.hostKey, "host-key", "", "private key of --host-cert")
	fs.StringVar(&g.listenDIPS, "listen", ":9159", "DISET in: address of the dips:// listener (DIRAC clients' /DIRAC/Gateways/<site> = dips://HOST:PORT/Framework/Gateway)")
	fs.StringVar(&g.listenHTTPS, "listen-https", "", "HTTPS in: address of the https:// listener (with --https-service and --trusted-host)")
	fs.StringVar(&g.listenAdmin, "listen-admin", "127.0.0.1:9160", "/healthz, /readyz and the shadow report (/shadow/); empty: none")
	fs.BoolVar(&g.metrics, "metrics", false, "serve OpenTelemetry metrics to Prometheus at /metrics on --listen-admin: calls in (rpc.server.*) and out (rpc.client.*, retries, bans, breakers)")
	fs.Var(&g.httpsServices, "https-service", "System/Component served over HTTPS in (repeatable)")
	fs.StringVar(&g.mode, "mode", "", "protocol towards the services: auto, dips, https, prefer-https (default: the configuration's /DIRAC/Selector)")
	fs.Var(&g.serviceModes, "service-mode", "System/Component=MODE for one service (repeatable)")
	fs.BoolVar(&g.trustedHost, "trusted-host", false, "HTTPS in: call the services with the host certificate on the caller's behalf (DIRAC trusted host); the host needs the TrustedHost property")
	fs.IntVar(&g.maxConns, "max-conns", 1024, "DISET connections open at once")
	fs.IntVar(&g.maxCalls, "max-calls", 64, "calls forwarded at once, per protocol in")
	fs.IntVar(&g.maxTransfers, "max-transfers", 16, "DISET file transfers relayed at once")
	fs.Int64Var(&g.maxTransferBytes, "max-transfer-bytes", 0, "largest upload relayed, in bytes (0: no limit; the data is never held whole)")
	fs.Var(&g.candidates, "candidate", "shadow: System/Component=URL of the candidate (repeatable)")
	fs.Var(&g.readOnly, "read-only", "shadow: a read-only METHOD or System/Component/METHOD, mirrored (repeatable)")
	fs.Var(&g.writes, "mirror-write", "shadow: a non-read-only method mirrored anyway (repeatable; it then runs twice)")
	fs.Var(&g.methods, "method", "shadow: sample only these methods (repeatable)")
	fs.Float64Var(&g.rate, "rate", 1, "shadow: fraction of eligible calls mirrored")
	fs.BoolVar(&g.noBaseline, "no-baseline", false, "shadow: no A/A baseline (every difference that is not a protocol difference diverges)")
	fs.StringVar(&g.reportFile, "report", "", "shadow: write the JSON report to FILE on exit")
	fs.StringVar(&g.junitFile, "junit", "", "shadow: write the JUnit report to FILE on exit")
	fs.StringVar(&g.logLvl, "log", "info", "log level: debug, info, warn, error")
}

func runGateway(ctx context.Context, e *env, args []string) error {
	return serveGateway(ctx, e, "gateway", args)
}

func runShadow(ctx context.Context, e *env, args []string) error {
	return serveGateway(ctx, e, "shadow", args)
}

// serveGateway runs probe gateway (or probe shadow, which requires a
// candidate) until ctx ends (Ctrl-C), then shuts down gracefully.
func serveGateway(ctx context.Context, e *env, name string, args []string) error {
	var c common
	var g gatewayFlags
	fs := c.flagSet(e, name)
	g.register(fs)
	if _, err := c.parse(e, fs, args, 0); err != nil {
		return err
	}
	if g.hostCert == "" || g.hostKey == "" {
		return usageErr("--host-cert and --host-key are required")
	}
	if name == "shadow" && (len(g.candidates) == 0 || len(g.readOnly)+len(g.writes) == 0) {
		return usageErr("probe shadow needs --candidate and --read-only")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLvl)); err != nil {
		return usageErr("--log: %v", err)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	host, err := credentials.LoadCertKey(g.hostCert, g.hostKey, credentials.LoadOptions{Kind: credentials.KeyHost})
	if err != nil {
		return &exitError{code: exitFail, msg: "host credential: " + err.Error()}
	}
	cas, err := c.caStore(e)
	if err != nil {
		return &exitError{code: exitConfig, msg: "CA directory: " + err.Error()}
	}
	res, err := c.resolver(e)
	if err != nil {
		return err
	}
	mode, err := selector.ParseMode(g.mode)
	if err != nil {
		return usageErr("--mode: %v", err)
	}
	services := map[string]selector.Mode{}
	for _, sm := range g.serviceModes {
		svc, m, ok := strings.Cut(sm, "=")
		md, err := selector.ParseMode(m)
		if !ok || err != nil {
			return usageErr("--service-mode %q: want System/Component=MODE", sm)
		}
		services[svc] = md
	}
	if g.mode == "" {
		mode = ""
	}
	var sh *shadow.Shadow
	if len(g.candidates) > 0 {
		cands := map[string]string{}
		for _, cand := range g.candidates {
			svc, u, ok := strings.Cut(cand, "=")
			if !ok {
				return usageErr("--candidate %q: want System/Component=URL", cand)
			}
			cands[svc] = u
		}
		sh, err = shadow.New(shadow.Config{Candidates: cands, ReadOnly: g.readOnly, MirrorWrites: g.writes,
			Methods: g.methods, Rate: g.rate, NoBaseline: g.noBaseline, Logger: log})
		if err != nil {
			return usageErr("%v", err)
		}
	}
	var mp metric.MeterProvider // --metrics; nil: no instrumentation
	admin := map[string]http.Handler{}
	if g.metrics {
		exp, err := promexport.New()
		if err != nil {
			return &exitError{code: exitFail, msg: "metrics: " + err.Error()}
		}
		defer exp.Shutdown(context.Background())
		mp = exp.MeterProvider()
		admin[promexport.Path] = exp.Handler()
	}
	gcfg := gateway.Config{
		Selector: selector.Options{Resolver: res, Mode: mode, Services: services,
			Client: diracrpc.Options{CAs: cas, Locator: c.locator(e), Logger: log, Setup: c.setup, VO: c.vo, MeterProvider: mp}},
		TrustedHost: g.trustedHost, HostCredential: host, Logger: log,
		MaxTransfers: g.maxTransfers, MaxTransferBytes: g.maxTransferBytes,
	}
	if sh != nil {
		gcfg.Shadow = sh
	}
	gw, err := gateway.New(gcfg)
	if err != nil {
		return usageErr("%v", err)
	}
	dtls, err := server.NewDISETTLSConfig(host, cas)
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	htls, err := server.NewHTTPSTLSConfig(host, cas)
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	if sh != nil {
		admin["/shadow/"] = http.StripPrefix("/shadow", sh.Handler())
	}
	srv := gateway.NewServer(gw, gateway.ServerConfig{
		DISET: server.DISETConfig{TLS: dtls, MaxConns: g.maxConns, MaxConcurrentCalls: g.maxCalls, Logger: log,
			MeterProvider: mp},
		HTTPS:         server.HTTPSConfig{TLS: htls, MaxConcurrentCalls: g.maxCalls, Logger: log, MeterProvider: mp},
		HTTPSServices: g.httpsServices,
		Admin:         admin,
	})
	listen := func(addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		return net.Listen("tcp", addr)
	}
	var ls [3]net.Listener
	for i, a := range []string{g.listenDIPS, g.listenHTTPS, g.listenAdmin} {
		if ls[i], err = listen(a); err != nil {
			for _, l := range ls {
				if l != nil {
					l.Close()
				}
			}
			return &exitError{code: exitFail, msg: "listen: " + err.Error()}
		}
	}
	info := map[string]string{}
	for i, k := range []string{"dips", "https", "admin"} {
		if ls[i] != nil {
			info[k] = ls[i].Addr().String()
		}
	}
	if c.json {
		b, _ := json.Marshal(info)
		fmt.Fprintln(e.stdout, string(b))
	} else {
		fmt.Fprintf(e.stdout, "probe %s: DISET in on %s", name, info["dips"])
		if a, ok := info["https"]; ok {
			fmt.Fprintf(e.stdout, ", HTTPS in on %s", a)
		}
		if a, ok := info["admin"]; ok {
			fmt.Fprintf(e.stdout, ", /healthz /readyz on http://%s", a)
			if sh != nil {
				fmt.Fprintf(e.stdout, ", report on http://%s/shadow/", a)
			}
			if g.metrics {
				fmt.Fprintf(e.stdout, ", metrics on http://%s%s", a, promexport.Path)
			}
		}
		fmt.Fprintln(e.stdout)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ls[0], ls[1], ls[2]) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), server.DefaultShutdownGrace)
		err = srv.Shutdown(sctx)
		cancel()
		<-done
	}
	if sh != nil {
		_ = sh.Close()
		if werr := writeShadowReports(sh.Report(), g.reportFile, g.junitFile); werr != nil && err == nil {
			err = werr
		}
		if err == nil && sh.Report().Totals.Divergent > 0 {
			fmt.Fprintf(e.stderr, "probe %s: %d divergent calls\n", name, sh.Report().Totals.Divergent)
			return silentExit(exitFail)
		}
	}
	if err != nil {
		return &exitError{code: exitFail, msg: err.Error()}
	}
	return nil
}

func writeShadowReports(r *shadow.Report, jsonFile, junitFile string) error {
	write := func(path string, f func(*os.File) error) error {
		if path == "" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(out); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	if err := write(jsonFile, func(f *os.File) error { return r.WriteJSON(f) }); err != nil {
		return err
	}
	return write(junitFile, func(f *os.File) error { return r.WriteJUnit(f) })
}
