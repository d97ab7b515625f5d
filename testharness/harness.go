package testharness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// Options configures Start. The zero value serves the test service on
// 127.0.0.1 ephemeral ports with a fresh PKI in a temporary directory.
type Options struct {
	// Service is served; nil: NewTestService(ServiceName). A service
	// without Registry gets the harness's (see Harness.Registry).
	Service *server.Service
	// ServiceName names the default test service; default DefaultService.
	ServiceName string
	// Dir receives the PKI (see pki.CA.WriteDir); "" makes a temporary
	// directory, removed by Close. A given directory is left in place.
	Dir string
	// Host is the address to listen on; default 127.0.0.1.
	Host string
	// URLHost is the host name put in the URLs; default "localhost" when
	// listening on 127.0.0.1 (DIRAC's HTTPS client cannot verify a server
	// reached by IP literal), Host otherwise. The host certificate names
	// localhost, 127.0.0.1 and ::1.
	URLHost string
	// DIPSAddr, DIPAddr and HTTPSAddr are the listen addresses; default
	// Host:0 (an ephemeral port). "-" leaves that protocol out.
	DIPSAddr, DIPAddr, HTTPSAddr string
	// Encoding is what the DISET servers write (JSON by default, as DIRAC
	// ≥ 8.1; server.DEncode as with DIRAC_USE_JSON_ENCODE=no).
	Encoding server.Encoding
	// CA issues the certificates; nil makes a new one.
	CA *pki.CA
	// Logger receives the servers' logs; nil discards them.
	Logger *slog.Logger
	// WrapListener, when set, wraps each listener before serving (the seam
	// for fault injection: delays, resets, truncated frames...). protocol is
	// dips, dip or https.
	WrapListener func(protocol diracrpc.Protocol, l net.Listener) net.Listener
	// WrapHandler, when set, wraps the HTTPS server's handler, inside TLS
	// (the seam for call-level HTTP faults: 5xx answers, delays, drops).
	WrapHandler func(http.Handler) http.Handler
	// MeterProvider and TracerProvider instrument the servers (see
	// server.DISETConfig); nil: not instrumented.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// Harness is a running test service. Its fields must not be changed.
type Harness struct {
	// DIPSURL, DIPURL and HTTPSURL are the service's URLs ("" for a
	// protocol left out).
	DIPSURL, DIPURL, HTTPSURL string
	// Service is what is served.
	Service *server.Service
	// CA issued Files; Dir holds them.
	CA    *pki.CA
	Files *pki.Files
	Dir   string
	// Env is what a DIRAC client needs: X509_CERT_DIR, X509_USER_PROXY,
	// X509_USER_CERT, X509_USER_KEY, DIRAC_X509_HOST_CERT,
	// DIRAC_X509_HOST_KEY, DIRAC_USE_JSON_ENCODE matching Encoding, and
	// DIRACSYSCONFIG naming ConfigFile.
	Env pki.Env
	// ConfigFile is a DIRAC cfg file in Dir resolving the service's
	// System/Component to its dips:// and https:// URLs (setup "Test",
	// instance "Production"), for DIRAC clients and cfg-driven tools.
	ConfigFile string
	// Store is the file side of the default test service (nil with
	// Options.Service): every FileTransfer direction, over both protocols.
	Store *Store

	tempDir   bool
	closers   []func(context.Context) error
	serveErrs chan error
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start starts the harness. ctx bounds the start-up only. Close stops it.
func Start(ctx context.Context, opts Options) (h *Harness, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.DIPSAddr == "-" && opts.DIPAddr == "-" && opts.HTTPSAddr == "-" {
		return nil, errors.New("testharness: every protocol is left out (DIPSAddr, DIPAddr and HTTPSAddr are \"-\"): nothing to serve")
	}
	// Every failure below returns a nil *Harness: close the one being built
	// through its own variable, not the result.
	building := &Harness{Dir: opts.Dir, serveErrs: make(chan error, 3)}
	h = building
	defer func() {
		if err != nil {
			_ = building.Close()
			h = nil
		}
	}()
	if h.Dir == "" {
		if h.Dir, err = os.MkdirTemp("", "diracrpc-harness-"); err != nil {
			return nil, fmt.Errorf("testharness: %w", err)
		}
		h.tempDir = true
	}
	if h.CA = opts.CA; h.CA == nil {
		if h.CA, err = pki.New(pki.Options{}); err != nil {
			return nil, fmt.Errorf("testharness: %w", err)
		}
	}
	if h.Files, err = h.CA.WriteDir(h.Dir); err != nil {
		return nil, fmt.Errorf("testharness: writing the PKI: %w", err)
	}
	h.Env = make(pki.Env, len(h.Files.Env)+1)
	for k, v := range h.Files.Env {
		h.Env[k] = v
	}
	h.Env["DIRAC_USE_JSON_ENCODE"] = "yes"
	if opts.Encoding == server.DEncode {
		h.Env["DIRAC_USE_JSON_ENCODE"] = "no"
	}

	h.Service = opts.Service
	if h.Service == nil {
		h.Service = NewTestService(opts.ServiceName)
		h.Store = AddStore(h.Service)
	}
	if h.Service.Registry == nil {
		h.Service.Registry = h.Registry()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.Service.Logger == nil {
		h.Service.Logger = logger
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	urlHost := opts.URLHost
	switch {
	case urlHost != "":
	case host == "127.0.0.1":
		urlHost = "localhost"
	default:
		urlHost = host
	}
	addr := func(a string) string {
		if a == "" {
			return net.JoinHostPort(host, "0")
		}
		return a
	}
	cas := h.CA.Store()

	listen := func(p diracrpc.Protocol, a string) (net.Listener, error) {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			return nil, fmt.Errorf("testharness: listening for %s on %s: %w", p, a, err)
		}
		if opts.WrapListener != nil {
			l = opts.WrapListener(p, l)
		}
		return l, nil
	}
	urlOf := func(p diracrpc.Protocol, l net.Listener) string {
		_, port, _ := net.SplitHostPort(l.Addr().String())
		return string(p) + "://" + net.JoinHostPort(urlHost, port) + "/" + h.Service.Name
	}

	// serveDISET serves the service over p (dips with tlsCfg, dip without).
	serveDISET := func(p diracrpc.Protocol, at string, tlsCfg *tls.Config) (string, error) {
		l, err := listen(p, addr(at))
		if err != nil {
			return "", err
		}
		srv := server.NewDISET(h.Service, server.DISETConfig{TLS: tlsCfg, Encoding: opts.Encoding, Logger: logger,
			MeterProvider: opts.MeterProvider, TracerProvider: opts.TracerProvider})
		h.serve(func() error { return srv.Serve(l) }, srv.Shutdown, srv.Close)
		return urlOf(p, l), nil
	}
	if opts.DIPSAddr != "-" {
		tlsCfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{
			Credential: h.Files.Host, CAs: cas, RequireClientCert: true,
		})
		if err != nil {
			return nil, fmt.Errorf("testharness: %w", err)
		}
		if h.DIPSURL, err = serveDISET(diracrpc.DIPS, opts.DIPSAddr, tlsCfg); err != nil {
			return nil, err
		}
	}
	if opts.DIPAddr != "-" {
		var err error
		if h.DIPURL, err = serveDISET(diracrpc.DIP, opts.DIPAddr, nil); err != nil {
			return nil, err
		}
	}
	if opts.HTTPSAddr != "-" {
		l, err := listen(diracrpc.HTTPS, addr(opts.HTTPSAddr))
		if err != nil {
			return nil, err
		}
		u, err := h.startHTTPS(l, urlHost, cas, logger, &opts)
		if err != nil {
			l.Close()
			return nil, err
		}
		h.HTTPSURL = u

	}
	if err := h.writeConfig(); err != nil {
		return nil, err
	}
	return h, nil
}

// writeConfig writes ConfigFile and names it in Env.
func (h *Harness) writeConfig() error {
	system, component, err := endpoint.SplitService(h.Service.Name)
	if err != nil {
		return fmt.Errorf("testharness: %w", err)
	}
	var urls []string
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		if u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		urls = append(urls, h.DIPURL)
	}
	text := fmt.Sprintf(`# written by testharness: the local test service
DIRAC
{
  Setup = Test
  Setups
  {
    Test
    {
      %[1]s = Production
    }
  }
  Security
  {
    CALocation = %[4]s
  }
}
Systems
{
  %[1]s
  {
    Production
    {
      URLs
      {
        %[2]s = %[3]s
      }
`+protocolOption(len(urls) > 1)+`    }
  }
}
`, system, component, strings.Join(urls, ", "), h.Files.CADir)
	h.ConfigFile = filepath.Join(h.Dir, "dirac.cfg")
	if err := os.WriteFile(h.ConfigFile, []byte(text), 0o644); err != nil {
		return fmt.Errorf("testharness: %w", err)
	}
	h.Env["DIRACSYSCONFIG"] = h.ConfigFile
	return nil
}

// protocolOption says DISET serves a service both protocols serve (the
// service's Protocol option): DIRAC's clients would pick a protocol at
// random, diracrpc's selector, in its auto mode, wants it said.
func protocolOption(both bool) string {
	if !both {
		return ""
	}
	return "      Services\n      {\n        %[2]s\n        {\n          Protocol = dips\n        }\n      }\n"
}

// serve runs serveFn in the background; Close calls shutdown, then close.
func (h *Harness) serve(serveFn func() error, shutdown func(context.Context) error, closeFn func() error) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if err := serveFn(); err != nil && !errors.Is(err, server.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			h.serveErrs <- err
		}
	}()
	h.closers = append(h.closers, func(ctx context.Context) error {
		if err := shutdown(ctx); err != nil {
			return errors.Join(err, closeFn())
		}
		return nil
	})
}

// Registry returns the registry the default test service uses: the harness
// user (CN=testuser) in group dirac_user with property NormalUser (the
// default group), and the harness host as a trusted host.
func (h *Harness) Registry() *server.Registry {
	userDN := credentials.SubjectDN(h.Files.User.Leaf())
	hostDN := credentials.SubjectDN(h.Files.Host.Leaf())
	return &server.Registry{
		Users: map[string]server.User{"testuser": {DNs: []string{userDN}, DefaultGroup: []string{"dirac_user"}}},
		Groups: map[string]server.Group{
			"dirac_user":  {Users: []string{"testuser"}, Properties: []string{"NormalUser"}},
			"dirac_admin": {Users: []string{"testuser"}, Properties: []string{"NormalUser", "ServiceAdministrator"}},
		},
		Hosts:         map[string]server.Host{"localhost": {DN: hostDN, Properties: []string{server.TrustedHost, "CSAdministrator"}}},
		DefaultGroups: []string{"dirac_user"},
	}
}

// URLs returns the URLs served, dips first.
func (h *Harness) URLs() []string {
	var out []string
	for _, u := range []string{h.DIPSURL, h.DIPURL, h.HTTPSURL} {
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

// URL returns the URL served over protocol p ("" if not served).
func (h *Harness) URL(p diracrpc.Protocol) string {
	switch p {
	case diracrpc.DIPS:
		return h.DIPSURL
	case diracrpc.DIP:
		return h.DIPURL
	case diracrpc.HTTPS:
		return h.HTTPSURL
	}
	return ""
}

// Environ returns Env as sorted KEY=value strings, for exec.Cmd.Env.
func (h *Harness) Environ() []string { return h.Env.Environ() }

// LookupEnv reads Env; give it to credentials.Locator.LookupEnv so that a
// client finds the harness's proxy and CAs without touching the process
// environment.
func (h *Harness) LookupEnv(k string) (string, bool) { return h.Env.LookupEnv(k) }

// Locator finds the harness's credentials (proxy, CA directory, host
// certificate).
func (h *Harness) Locator() credentials.Locator {
	return credentials.Locator{LookupEnv: h.LookupEnv, Home: h.Dir, SystemCADir: h.Files.CADir, TmpDir: h.Dir}
}

// Options returns the client options that call the harness with its user
// proxy: one attempt, a 30 s timeout, a 5 s connect timeout.
func (h *Harness) Options() diracrpc.Options {
	return diracrpc.Options{Locator: h.Locator(), CAs: h.CA.Store(), Timeout: 30 * time.Second,
		ConnectTimeout: 5 * time.Second, Attempts: 1}
}

// Client returns a client of the service over protocol p, presenting the
// harness user's proxy (see Options).
func (h *Harness) Client(p diracrpc.Protocol) (*diracrpc.Client, error) {
	u := h.URL(p)
	if u == "" {
		return nil, fmt.Errorf("testharness: %s is not served", p)
	}
	if p == diracrpc.HTTPS {
		return httpsclient.New([]string{u}, h.Options(), httpsclient.Options{})
	}
	return disetclient.New([]string{u}, h.Options(), disetclient.Options{})
}

// Close stops the servers (in-flight calls get a few seconds) and removes
// the temporary directory. It is safe to call more than once.
func (h *Harness) Close() error {
	h.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, c := range h.closers {
			errs = append(errs, c(ctx))
		}
		h.wg.Wait()
		close(h.serveErrs)
		for err := range h.serveErrs {
			errs = append(errs, err)
		}
		if h.tempDir && h.Dir != "" {
			errs = append(errs, os.RemoveAll(h.Dir))
		}
		h.closeErr = errors.Join(errs...)
	})
	return h.closeErr
}

// NewT starts a harness for a test and stops it in t.Cleanup; a failure to
// start fails the test. The PKI goes to t.TempDir() unless opts.Dir is set.
// tb is a *testing.T or *testing.B (see pki.TB).
func NewT(tb pki.TB, opts Options) *Harness {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := Start(ctx, opts)
	if err != nil {
		tb.Fatalf("testharness.Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Close(); err != nil {
			tb.Errorf("testharness.Close: %v", err)
		}
	})
	return h
}
