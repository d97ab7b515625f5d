package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/metric"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// installation is probe harness standing in for a service of a real
// installation: the site's host certificate and CA directory, and the
// service's Registry, Authorization, Port and Protocol read from a DIRAC
// configuration (local files, completed by the Configuration Service they
// name), followed as it changes.
type installation struct {
	hostCert, hostKey, caDir string
	configs                  stringList
	noCS                     bool
	setup                    string
	// meter and metricsURL are --metrics' provider and endpoint.
	meter      metric.MeterProvider
	metricsURL string
}

func (in *installation) register(fs *flag.FlagSet) {
	fs.StringVar(&in.hostCert, "host-cert", "", "serve with this host certificate (PEM) instead of a throw-away PKI; with --host-key, --ca-dir, --config")
	fs.StringVar(&in.hostKey, "host-key", "", "private key of --host-cert")
	fs.StringVar(&in.caDir, "ca-dir", "", "CA directory that verifies the callers (with --host-cert)")
	fs.Var(&in.configs, "config", "DIRAC cfg for the service: Registry, Systems/.../Services/<Component> (Authorization, Port, Protocol) and /DIRAC/Configuration/Servers (repeatable; with --host-cert)")
	fs.BoolVar(&in.noCS, "no-cs", false, "with --config: do not follow the Configuration Service it names")
	fs.StringVar(&in.setup, "setup", "", "with --config: DIRAC setup (default: /DIRAC/Setup)")
}

func (in *installation) enabled() bool {
	return in.hostCert != "" || in.hostKey != "" || in.caDir != "" || len(in.configs) > 0
}

func (in *installation) check() error {
	if in.hostCert == "" || in.hostKey == "" || in.caDir == "" || len(in.configs) == 0 {
		return usageErr("serving for an installation needs --host-cert, --host-key, --ca-dir and --config together")
	}
	return nil
}

// ports says where each protocol is served: the flags given explicitly win;
// otherwise the section's Port for its Protocol (dips when absent), and the
// other protocols are not served; a section without Port gives ephemeral
// dips:// and https:// ports.
func installationPorts(sec *server.ServiceSection, explicit map[diracrpc.Protocol]int) map[diracrpc.Protocol]int {
	if len(explicit) > 0 {
		return explicit
	}
	if sec.Port == 0 {
		return map[diracrpc.Protocol]int{diracrpc.DIPS: 0, diracrpc.HTTPS: 0}
	}
	p := diracrpc.DIPS
	if sec.Protocol == string(diracrpc.HTTPS) {
		p = diracrpc.HTTPS
	}
	return map[diracrpc.Protocol]int{p: sec.Port}
}

// serveInstallation runs the test service until ctx ends.
func (in *installation) serve(ctx context.Context, e *env, name, host, urlHost string, explicit map[diracrpc.Protocol]int,
	encoding server.Encoding, asJSON bool) error {
	hostCred, err := credentials.LoadCertKey(in.hostCert, in.hostKey, credentials.LoadOptions{Kind: credentials.KeyHost})
	if err != nil {
		return &exitError{code: exitFail, msg: "host credential: " + err.Error()}
	}
	cas, err := credentials.LoadCADir(in.caDir)
	if err != nil {
		return &exitError{code: exitFail, msg: "CA directory: " + err.Error()}
	}
	local, err := cfg.LoadFiles(in.configs...)
	if err != nil {
		return configErr("%v", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var src endpoint.Source = endpoint.Static(local)
	if servers, _ := local.GetList("/DIRAC/Configuration/Servers"); len(servers) > 0 && !in.noCS {
		// The service reads the CS as DIRAC's services do: with its host
		// certificate.
		o := diracrpc.Options{Credential: hostCred, UseCertificates: true, CAs: cas, Breaker: diracrpc.BreakerSettings{Disabled: true}}
		dial := func(_ context.Context, url string) (diracrpc.Caller, error) {
			o := o
			o.Service = url
			if strings.HasPrefix(url, "https") {
				return httpsclient.New([]string{url}, o, httpsclient.Options{})
			}
			return disetclient.New([]string{url}, o, disetclient.Options{})
		}
		if src, err = endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: dial, Logger: logger}); err != nil {
			return configErr("%v", err)
		}
	}

	svc := testharness.NewTestService(name)
	svc.Logger = logger
	system, component, _ := strings.Cut(name, "/")
	svc.Aliases = append(svc.Aliases, system+"/Tornado"+component) // DIRAC >= 8.1 names its HTTPS handlers so
	follower := &server.Follower{Source: src, Setup: in.setup, Services: []*server.Service{svc}, Logger: logger}
	if _, err := follower.Apply(ctx); err != nil {
		if errors.Is(err, endpoint.ErrConfigServers) {
			return configServersFailure(err, in.configs,
				"that the servers accept the host certificate; --no-cs serves from the local files only")
		}
		return configErr("%v", err)
	}
	merged, _ := src.Config(ctx)
	sec, err := server.ServiceSectionFromConfig(merged, name, in.setup)
	if err != nil {
		return configErr("%v", err)
	}

	var (
		wg   sync.WaitGroup
		urls = map[diracrpc.Protocol]string{}
		stop []func() error
	)
	defer func() {
		for _, s := range stop {
			_ = s()
		}
		wg.Wait()
	}()
	for p, port := range installationPorts(sec, explicit) {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return &exitError{code: exitFail, msg: err.Error()}
		}
		path := name
		var serve func() error
		switch p {
		case diracrpc.HTTPS:
			tc, err := server.NewHTTPSTLSConfig(hostCred, cas)
			if err != nil {
				l.Close()
				return &exitError{code: exitFail, msg: err.Error()}
			}
			h := server.NewHTTPS(server.HTTPSConfig{TLS: tc, Logger: quiet, MeterProvider: in.meter}, svc)
			serve, stop = func() error { return h.Serve(l) }, append(stop, h.Close)
			path = system + "/Tornado" + component
		default:
			dc := server.DISETConfig{Encoding: encoding, Logger: quiet, MeterProvider: in.meter}
			if p == diracrpc.DIPS {
				if dc.TLS, err = credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: hostCred, CAs: cas,
					RequireClientCert: true}); err != nil {
					l.Close()
					return &exitError{code: exitFail, msg: err.Error()}
				}
			}
			d := server.NewDISET(svc, dc)
			serve, stop = func() error { return d.Serve(l) }, append(stop, d.Close)
		}
		_, lport, _ := net.SplitHostPort(l.Addr().String())
		urls[p] = string(p) + "://" + net.JoinHostPort(urlHost, lport) + "/" + path
		wg.Add(1)
		go func() { defer wg.Done(); _ = serve() }()
	}
	followCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); _ = follower.Run(followCtx) }()

	if asJSON {
		if err := writeJSON(e.stdout, harnessInfo{DIPSURL: urls[diracrpc.DIPS], DIPURL: urls[diracrpc.DIP],
			HTTPSURL: urls[diracrpc.HTTPS], Env: map[string]string{"X509_CERT_DIR": in.caDir},
			Config: strings.Join(in.configs, ","), Service: name, MetricsURL: in.metricsURL}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "service %s is up with the host certificate %s, rules of %s:\n", name, in.hostCert, sec.Path)
		for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.DIP, diracrpc.HTTPS} {
			if u := urls[p]; u != "" {
				fmt.Fprintf(e.stdout, "  %s\n", u)
			}
		}
		if b, ok := src.(*endpoint.Bootstrap); ok {
			fmt.Fprintf(e.stdout, "following the Configuration Service (version %s) every %s\n", b.Version(), b.RefreshInterval())
		}
		if in.metricsURL != "" {
			fmt.Fprintf(e.stdout, "metrics for Prometheus: %s\n", in.metricsURL)
		}
		fmt.Fprintln(e.stdout, "Ctrl-C stops it.")
	}
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "probe harness: stopping")
	return nil
}
