// Package disetclient calls DIRAC services over DISET (dips:// with TLS,
// dip:// in plain TCP), byte-compatible with DIRAC's RPCClient.
//
// One call is one connection (PROTOCOL.md §4.6): the proposal
// [[service, setup, VO], ["RPC", method], extraCredentials, version], the
// server's S_OK, the arguments, the result. Payloads are JSON by default (what
// DIRAC ≥ 8.1 sends) or DEncode; every received frame is decoded DEncode-first,
// then JSON, and keep-alive frames are answered wherever they arrive.
//
// A Client is safe for concurrent use; its calls share the failover state
// (URL bans) and, with Config.ResumeSessions, the TLS session cache (later
// calls to a server then resume the session).
//
//	c, err := disetclient.New([]string{"dips://host:9135/Configuration/Server"}, disetclient.Config{})
//	res, err := c.Call(ctx, "getVersion")
package disetclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/failover"
	"github.com/diracgo/diracrpc/value"
)

// Encoding selects what the client writes (it reads both).
type Encoding = diset.Encoding

// Encodings.
const (
	JSON    = diset.JSON    // DIRAC ≥ 8.1's default
	DEncode = diset.DEncode // DIRAC_USE_JSON_ENCODE=no
)

// Defaults, as DIRAC's.
const (
	// DefaultTimeout is DIRAC's RPC timeout.
	DefaultTimeout = 600 * time.Second
	// MinTimeout is the floor DIRAC applies to the timeout option.
	MinTimeout = 120 * time.Second
	// DefaultConnectTimeout bounds TCP connect plus TLS handshake, per address.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultVersion is sent as the client version in the proposal.
	DefaultVersion = "diracrpc-go"
)

// Config configures a Client. The zero value works for a user with a proxy
// found where DIRAC looks for it (X509_USER_PROXY, /tmp/x509up_u<uid>) and
// CAs in X509_CERT_DIR or /etc/grid-security/certificates. Field docs give
// DIRAC's keyword names.
type Config struct {
	// Setup (DIRAC "setup") is sent in the proposal; default "Test", DIRAC's
	// fallback when no CS says otherwise.
	Setup string
	// VO (DIRAC "VO") is sent in the proposal; default "unknown".
	VO string
	// ExtraCredentials (DIRAC "extraCredentials") is sent as element 2 of the
	// proposal: a group name for a certificate without one, or "hosts".
	// UseCertificates sends "hosts" unless this or ProxyLocation is set.
	ExtraCredentials string
	// DelegatedDN and DelegatedGroup (DIRAC "delegatedDN",
	// "delegatedGroup"): a trusted host calls on behalf of this user; sent as
	// [DN, group]. Both are required together.
	DelegatedDN, DelegatedGroup string
	// UseCertificates (DIRAC "useCertificates") presents the host
	// certificate (DIRAC_X509_HOST_CERT/KEY or the grid-security directory)
	// instead of a proxy.
	UseCertificates bool
	// ProxyLocation (DIRAC "proxyLocation") is the proxy file to present.
	ProxyLocation string
	// Credential (DIRAC "proxyString"/"proxyChain") is an already loaded
	// proxy or certificate, presented instead of the files named by
	// UseCertificates and ProxyLocation (with UseCertificates, it is taken as
	// the host certificate and "hosts" is still sent).
	Credential *credentials.Credential
	// CAs verifies servers; default: the CA directory found by Locator.
	CAs *credentials.CAStore
	// SkipCACheck (DIRAC "skipCACheck") does not verify the server's chain.
	// The host name is still checked, as DIRAC's DISET client does.
	SkipCACheck bool
	// Locator finds credential files; the zero value reads the process
	// environment.
	Locator credentials.Locator
	// Timeout (DIRAC "timeout") bounds a call after the connection is up;
	// default 600 s, raised to at least 120 s as DIRAC does. A ctx deadline
	// that comes sooner still wins.
	Timeout time.Duration
	// ResumeSessions lets calls resume the TLS session of an earlier call to
	// the same server, saving the full handshake (about 3x faster calls
	// against the Go server). Off by default because DIRAC's own DISET
	// servers (M2Crypto) accept a resumed session but then never answer the
	// proposal (they find no client certificate on it): enable it only for
	// servers known to handle resumption, such as package server.
	ResumeSessions bool
	// ConnectTimeout bounds TCP connect plus TLS handshake for each address
	// of the host; default 10 s.
	ConnectTimeout time.Duration
	// Encoding is what the client writes: JSON (default) or DEncode. For
	// DIRAC's DIRAC_USE_JSON_ENCODE rule use
	// mixed.EncodingFromEnv(os.LookupEnv).
	Encoding Encoding
	// Version is the client version sent in the proposal; default
	// DefaultVersion.
	Version string
	// Idempotent marks methods that may be sent again after their
	// arguments reached the server (on a connection failure before the
	// answer). Nil: none; a call is then never sent twice.
	Idempotent func(method string) bool
	// FailoverURLs are tried, in order, once every main URL is banned.
	FailoverURLs []string
	// Attempts bounds the attempts of one call across URLs; 0: DIRAC's rule
	// (3 per URL with one or two URLs, 2 per URL beyond).
	Attempts int
	// BanFor is how long a URL that could not be reached is avoided;
	// default 30 s.
	BanFor time.Duration
	// DialContext replaces net.Dialer.DialContext (tests, proxies).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives debug lines about retries; nil: slog.Default().
	Logger *slog.Logger
}

// Client calls one DIRAC service over DISET. It implements diracrpc.Caller.
type Client struct {
	cfg     Config
	service string // System/Component
	stubFor string // what the stub names: the URL or the service
	urls    map[string]*endpoint.URL
	pool    *failover.Pool
	tls     *credentials.ClientTLS
	extra   any
	opts    *value.Dict
	log     *slog.Logger

	tlsConfigs sync.Map // host -> *tls.Config
}

var _ diracrpc.Caller = (*Client)(nil)

// New returns a client for the service at urls (main URLs, tried in random
// order) plus cfg.FailoverURLs. Every URL must be dips:// or dip:// and name
// the same service. Credentials and CAs are loaded now, so that a missing
// proxy is reported here, with DIRAC's message.
func New(urls []string, cfg Config) (*Client, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("disetclient: %w: no URL given", diracrpc.ErrNoURL)
	}
	c := &Client{cfg: cfg, urls: make(map[string]*endpoint.URL)}
	needTLS := false
	for _, raw := range append(append([]string(nil), urls...), cfg.FailoverURLs...) {
		u, err := endpoint.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("disetclient: %w", err)
		}
		if u.Protocol != diracrpc.DIPS && u.Protocol != diracrpc.DIP {
			return nil, fmt.Errorf("disetclient: %w %q: DISET needs dips:// or dip://", endpoint.ErrBadURL, raw)
		}
		if c.service == "" {
			c.service = u.Service()
		} else if c.service != u.Service() {
			return nil, fmt.Errorf("disetclient: URLs name different services: %s and %s", c.service, u.Service())
		}
		needTLS = needTLS || u.Protocol == diracrpc.DIPS
		c.urls[raw] = u
	}
	c.stubFor = c.service
	if len(urls)+len(cfg.FailoverURLs) == 1 {
		c.stubFor = urls[0]
	}
	if c.cfg.Setup == "" {
		c.cfg.Setup = "Test"
	}
	if c.cfg.VO == "" {
		c.cfg.VO = "unknown"
	}
	if c.cfg.Version == "" {
		c.cfg.Version = DefaultVersion
	}
	if c.cfg.ConnectTimeout <= 0 {
		c.cfg.ConnectTimeout = DefaultConnectTimeout
	}
	c.cfg.Timeout = effectiveTimeout(cfg.Timeout)
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	if (cfg.DelegatedDN == "") != (cfg.DelegatedGroup == "") {
		return nil, errors.New("disetclient: DelegatedDN and DelegatedGroup go together")
	}
	c.extra = extraCredentials(cfg)
	c.opts = stubOptions(cfg)
	pool, err := failover.New(urls, cfg.FailoverURLs, failover.Config{Attempts: cfg.Attempts, BanFor: cfg.BanFor})
	if err != nil {
		return nil, fmt.Errorf("disetclient: %w", err)
	}
	c.pool = pool
	if needTLS {
		if c.tls, err = clientTLS(cfg); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// effectiveTimeout applies DIRAC's rule: default 600 s, at least 120 s.
func effectiveTimeout(t time.Duration) time.Duration {
	if t <= 0 {
		return DefaultTimeout
	}
	return max(t, MinTimeout)
}

// extraCredentials is DIRAC's __discoverExtraCredentials.
func extraCredentials(cfg Config) any {
	var extra any = ""
	if cfg.UseCertificates && cfg.ProxyLocation == "" {
		extra = "hosts"
	}
	if cfg.ExtraCredentials != "" {
		extra = cfg.ExtraCredentials
	}
	if cfg.DelegatedDN != "" {
		extra = []any{cfg.DelegatedDN, cfg.DelegatedGroup}
	}
	return extra
}

// stubOptions are the client's keyword arguments as DIRAC's rpcStub holds
// them (useCertificates left out, as DIRAC does).
func stubOptions(cfg Config) *value.Dict {
	d := value.NewDict()
	set := func(k, v string) {
		if v != "" {
			d.Set(k, v)
		}
	}
	set("setup", cfg.Setup)
	set("VO", cfg.VO)
	set("extraCredentials", cfg.ExtraCredentials)
	set("delegatedDN", cfg.DelegatedDN)
	set("delegatedGroup", cfg.DelegatedGroup)
	set("proxyLocation", cfg.ProxyLocation)
	if cfg.SkipCACheck {
		d.Set("skipCACheck", true)
	}
	if cfg.Timeout > 0 {
		d.Set("timeout", int64(cfg.Timeout/time.Second))
	}
	return d
}

// clientTLS loads credentials in DIRAC's order (§4.2) and the CA store.
func clientTLS(cfg Config) (*credentials.ClientTLS, error) {
	cred := cfg.Credential
	var err error
	switch {
	case cred != nil:
	case cfg.UseCertificates:
		cred, err = cfg.Locator.HostCredential(credentials.LoadOptions{})
	case cfg.ProxyLocation != "":
		cred, err = credentials.LoadProxy(cfg.ProxyLocation, credentials.LoadOptions{})
	default:
		cred, err = cfg.Locator.Proxy(credentials.LoadOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("disetclient: %w", err)
	}
	cas := cfg.CAs
	if cas == nil && !cfg.SkipCACheck {
		if cas, err = cfg.Locator.CAs(); err != nil {
			return nil, fmt.Errorf("disetclient: %w", err)
		}
	}
	t, err := credentials.NewClientTLS(credentials.ClientTLSOptions{
		Credential:             cred,
		CAs:                    cas,
		SkipCACheck:            cfg.SkipCACheck,
		CheckHostnameWithoutCA: true, // M2Crypto checks the host name even with skipCACheck
	})
	if err != nil {
		return nil, fmt.Errorf("disetclient: %w", err)
	}
	return t, nil
}

// Service returns the "System/Component" the client calls.
func (c *Client) Service() string { return c.service }

// URLs returns every URL of the client, main ones first.
func (c *Client) URLs() []string { return c.pool.URLs() }

func (c *Client) tlsConfig(host string) *tls.Config {
	if v, ok := c.tlsConfigs.Load(host); ok {
		return v.(*tls.Config)
	}
	cfg := c.tls.Config(host)
	if !c.cfg.ResumeSessions {
		cfg.ClientSessionCache = nil
	}
	v, _ := c.tlsConfigs.LoadOrStore(host, cfg)
	return v.(*tls.Config)
}

// Call calls method with args on the service and returns its S_OK value. An
// S_ERROR is a *diracrpc.Error; a refused authorisation also matches
// diracrpc.ErrUnauthorized and is never retried. Transport failures are
// retried on another URL only while nothing reached the service (see
// Config.Idempotent); when every attempt failed the error matches
// diracrpc.ErrNoURL. ctx's deadline and cancellation end the call at once.
func (c *Client) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	if args == nil {
		args = []any{}
	}
	var res *diracrpc.Result
	err := c.pool.Do(ctx, func(ctx context.Context, url string) error {
		r, err := c.callOnce(ctx, url, method, args)
		if err != nil {
			if failover.IsRetryable(err) {
				c.log.DebugContext(ctx, "disetclient: attempt failed, trying again", "url", url, "method", method, "err", err)
			}
			return err
		}
		res = r
		return nil
	})
	stub := &diracrpc.Stub{Service: c.stubFor, Options: c.opts, Method: method, Args: args}
	if err != nil {
		if errors.Is(err, failover.ErrExhausted) {
			err = fmt.Errorf("disetclient: %s: %w: %w", method, diracrpc.ErrNoURL, err)
		}
		return nil, &diracrpc.CallError{Err: err, Stub: stub}
	}
	res.Stub = stub
	return res, nil
}
