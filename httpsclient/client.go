package httpsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/failover"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// Client calls one DIRAC HTTPS service. It is safe for concurrent use; make
// one per service and reuse it, so that connections are kept alive.
type Client struct {
	service   string // what the caller named, for the stub
	cfg       Config
	retry     RetrySettings
	log       *slog.Logger
	tlsc      *credentials.ClientTLS
	pool      *failover.Pool
	nURLs     int
	tokenMode bool
	// tail is the constant end of every form: extraCredentials, clientVO, clientSetup.
	tail       []byte
	idempotent map[string]bool
	stubOpts   *value.Dict

	mu      sync.Mutex
	servers map[string]*server // by host:port
	byURL   map[string]*server // read-only after New
}

var _ diracrpc.Caller = (*Client)(nil)

// New returns a client for service: either an https:// URL, used as it is,
// or a "System/Component" name whose URLs are cfg.URLs and cfg.FailoverURLs.
// Credentials are loaded here, in DIRAC's order: cfg.Credential,
// ProxyLocation, UseCertificates (host certificate), UseAccessToken (or env
// DIRAC_USE_ACCESS_TOKEN), then the default proxy.
func New(service string, cfg Config) (*Client, error) {
	var main, fo []string
	if strings.HasPrefix(service, "https://") {
		main = []string{service}
	} else {
		if _, _, err := endpoint.SplitService(service); err != nil {
			return nil, err
		}
		main, fo = cfg.URLs, cfg.FailoverURLs
		if len(main)+len(fo) == 0 {
			return nil, fmt.Errorf("httpsclient: no URL for service %s (set Config.URLs)", service)
		}
	}
	norm := func(in []string) ([]string, error) {
		out := make([]string, 0, len(in))
		for _, raw := range in {
			u, err := endpoint.ParseURL(raw)
			if err != nil {
				return nil, err
			}
			if u.Protocol != diracrpc.HTTPS {
				return nil, fmt.Errorf("httpsclient: %s is not an https:// URL", raw)
			}
			if !strings.HasPrefix(service, "https://") && u.Service() != service {
				return nil, fmt.Errorf("httpsclient: URL %s is not one of service %s", raw, service)
			}
			out = append(out, u.String())
		}
		return out, nil
	}
	var err error
	if main, err = norm(main); err != nil {
		return nil, err
	}
	if fo, err = norm(fo); err != nil {
		return nil, err
	}
	c := &Client{
		service: service,
		cfg:     cfg,
		retry:   cfg.Retry.withDefaults(),
		log:     cfg.Logger,
		servers: make(map[string]*server),
		byURL:   make(map[string]*server),
		nURLs:   len(main) + len(fo),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if cfg.Retry.Max < 0 {
		c.retry.Max = 0
	}
	attempts := cfg.FailoverAttempts
	if attempts <= 0 {
		attempts = c.nURLs
	}
	// Same-URL retries are go-retryablehttp's job, so the pool itself does
	// not pause between URLs.
	c.pool, err = failover.New(main, fo, failover.Config{Attempts: attempts, BanFor: cfg.BanFor,
		Backoff: func(int) time.Duration { return 0 }})
	if err != nil {
		return nil, err
	}
	cred, err := c.credential()
	if err != nil {
		return nil, err
	}
	cas := cfg.CAs
	if cas == nil && !cfg.SkipCACheck {
		if cas, err = cfg.Locator.CAs(); err != nil {
			return nil, err
		}
	}
	c.tlsc, err = credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: cred, CAs: cas, SkipCACheck: cfg.SkipCACheck})
	if err != nil {
		return nil, err
	}
	if err := c.addServers(append(slices.Clone(main), fo...)); err != nil {
		return nil, err
	}
	if err := c.buildTail(); err != nil {
		return nil, err
	}
	c.idempotent = make(map[string]bool, len(cfg.Idempotent))
	for _, m := range cfg.Idempotent {
		c.idempotent[m] = true
	}
	c.stubOpts = c.stubOptions()
	return c, nil
}

// credential picks the client certificate in DIRAC's order; nil in token mode.
func (c *Client) credential() (*credentials.Credential, error) {
	cfg := &c.cfg
	switch {
	case cfg.Credential != nil:
		return cfg.Credential, nil
	case cfg.ProxyLocation != "":
		return credentials.LoadProxy(cfg.ProxyLocation, credentials.LoadOptions{})
	case cfg.UseCertificates:
		return cfg.Locator.HostCredential(credentials.LoadOptions{})
	case cfg.UseAccessToken || envTrue(cfg.Locator, "DIRAC_USE_ACCESS_TOKEN"):
		c.tokenMode = true
		return nil, nil
	}
	return cfg.Locator.Proxy(credentials.LoadOptions{})
}

func envTrue(loc credentials.Locator, k string) bool {
	get := loc.LookupEnv
	if get == nil {
		get = os.LookupEnv
	}
	v, _ := get(k)
	switch strings.ToLower(v) {
	case "y", "yes", "true":
		return true
	}
	return false
}

// extraCredentials is DIRAC's rule, computed once at construction.
func (c *Client) extraCredentials() any {
	cfg := &c.cfg
	switch {
	case cfg.ExtraCredentials != nil && cfg.ExtraCredentials != "":
		return cfg.ExtraCredentials
	case cfg.DelegatedDN != "":
		if cfg.DelegatedGroup == "" {
			return []any{cfg.DelegatedDN, false}
		}
		return []any{cfg.DelegatedDN, cfg.DelegatedGroup}
	case cfg.UseCertificates && cfg.ProxyLocation == "" && cfg.Credential == nil:
		return "hosts"
	}
	return nil
}

func (c *Client) buildTail() error {
	var b []byte
	if extra := c.extraCredentials(); extra != nil {
		js, err := jencode.Marshal(extra)
		if err != nil {
			return fmt.Errorf("httpsclient: extraCredentials: %w", err)
		}
		b = append(b, "&extraCredentials="...)
		b = appendQueryEscape(b, js)
	}
	vo, setup := c.cfg.VO, c.cfg.Setup
	if vo == "" {
		vo = DefaultVO
	}
	if setup == "" {
		setup = DefaultSetup
	}
	b = append(b, "&clientVO="...)
	b = appendQueryEscape(b, []byte(vo))
	b = append(b, "&clientSetup="...)
	b = appendQueryEscape(b, []byte(setup))
	c.tail = b
	return nil
}

// stubOptions are the keywords DIRAC's stub carries (useCertificates removed).
func (c *Client) stubOptions() *value.Dict {
	d := value.NewDict()
	cfg := &c.cfg
	if cfg.Timeout != 0 {
		d.Set("timeout", int64(c.cfg.timeout()/time.Second))
	}
	if cfg.SkipCACheck {
		d.Set("skipCACheck", true)
	}
	if cfg.UseAccessToken {
		d.Set("useAccessToken", true)
	}
	if cfg.ProxyLocation != "" {
		d.Set("proxyLocation", cfg.ProxyLocation)
	}
	if cfg.DelegatedDN != "" {
		d.Set("delegatedDN", cfg.DelegatedDN)
		d.Set("delegatedGroup", cfg.DelegatedGroup)
	}
	if cfg.Setup != "" {
		d.Set("setup", cfg.Setup)
	}
	if cfg.VO != "" {
		d.Set("VO", cfg.VO)
	}
	return d
}

// appendQueryEscape is Python's quote_plus (what urlencode applies): letters,
// digits and "_.-~" stay, space becomes "+", every other byte %XX.
func appendQueryEscape(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, ch := range s {
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '_', ch == '.', ch == '-', ch == '~':
			dst = append(dst, ch)
		case ch == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[ch>>4], hex[ch&15])
		}
	}
	return dst
}

// Form returns the request body the client sends for method(args...), byte
// for byte what DIRAC's TornadoClient sends. rawContent is set by
// ReceiveFile.
func (c *Client) Form(method string, args []any, rawContent bool) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	b := make([]byte, 0, 64+len(method)+len(c.tail))
	b = append(b, "method="...)
	b = appendQueryEscape(b, []byte(method))
	b = append(b, "&args="...)
	js, err := jencode.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("httpsclient: encoding arguments of %s: %w", method, err)
	}
	b = appendQueryEscape(b, js)
	b = append(b, c.tail...)
	if rawContent {
		b = append(b, "&rawContent=True"...)
	}
	return b, nil
}

// Close closes the idle connections. Calls in flight finish normally.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.servers {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// URLs returns the service's URLs, main ones first.
func (c *Client) URLs() []string { return c.pool.URLs() }

// server returns the connection pool and breaker of url's server, made in
// New; every URL of the pool has one.
func (c *Client) server(url string) (*server, error) {
	if s, ok := c.byURL[url]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("httpsclient: unknown URL %s", url)
}

// addServers makes one server per host:port among urls (URLs of one server
// share it).
func (c *Client) addServers(urls []string) error {
	for _, raw := range urls {
		u, err := endpoint.ParseURL(raw)
		if err != nil {
			return err
		}
		key := u.Addr()
		s, ok := c.servers[key]
		if !ok {
			s = newServer(key, u.Host, c.tlsc, &c.cfg, c.log)
			c.servers[key] = s
		}
		c.byURL[raw] = s
	}
	return nil
}

// Call calls method with args on the service. The S_OK value is in the
// Result; an S_ERROR is a *diracrpc.Error; see the package documentation for
// the other errors.
func (c *Client) Call(ctx context.Context, method string, args ...any) (_ *diracrpc.Result, err error) {
	if args == nil {
		args = []any{}
	}
	defer c.attachStub(&err, method, args)
	body, err := c.Form(method, args, false)
	if err != nil {
		return nil, err
	}
	if len(body) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: %s: %d bytes", ErrRequestTooLarge, method, len(body))
	}
	var res *diracrpc.Result
	err = c.each(ctx, method, body, func(url string, resp *http.Response, idem bool) error {
		raw, err := readLimited(resp.Body, c.maxResponse())
		if err != nil {
			err = fmt.Errorf("httpsclient: reading the answer of %s from %s: %w", method, url, err)
			if idem {
				return failover.Retryable(err)
			}
			return err
		}
		v, err := jencode.Decode(raw)
		if err != nil {
			return statusError(resp, url, method, raw, fmt.Errorf("%w: %w", diracrpc.ErrProtocol, err))
		}
		val, err := diracrpc.ParseResult(v)
		if err != nil {
			if errors.Is(err, diracrpc.ErrProtocol) {
				return statusError(resp, url, method, raw, err)
			}
			return err
		}
		res = &diracrpc.Result{Value: val, Raw: raw, Protocol: diracrpc.HTTPS, URL: url, Stub: c.stub(method, args)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// attachStub makes a failed call's error a *diracrpc.CallError with its stub.
func (c *Client) attachStub(err *error, method string, args []any) {
	if *err != nil {
		*err = &diracrpc.CallError{Err: *err, Stub: c.stub(method, args)}
	}
}

func (c *Client) stub(method string, args []any) *diracrpc.Stub {
	return &diracrpc.Stub{Service: c.service, Options: c.stubOpts, Method: method, Args: slices.Clone(args)}
}

func (c *Client) maxResponse() int64 {
	if c.cfg.MaxResponseBytes > 0 {
		return c.cfg.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, nil
}

// each runs one call over the service's URLs: retries on one URL through
// go-retryablehttp, failover to the next URL when that is safe. handle gets
// every 200 answer (its body is closed afterwards) and decides.
func (c *Client) each(ctx context.Context, method string, body []byte,
	handle func(url string, resp *http.Response, idempotent bool) error) error {
	idem := c.idempotent[method] || isIdempotent(ctx)
	var token string
	if c.tokenMode {
		var err error
		if token = c.cfg.BearerToken; token == "" {
			if token, err = FindBearerToken(c.cfg.Locator); err != nil {
				return err
			}
		}
	}
	var last error
	err := c.pool.Do(ctx, func(ctx context.Context, url string) error {
		err := c.attempt(ctx, url, method, body, token, idem, handle)
		last = err
		return err
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, failover.ErrExhausted) {
		err = unmark(last)
		if c.nURLs > 1 {
			return fmt.Errorf("%w (%d URLs): %w", diracrpc.ErrNoURL, c.nURLs, err)
		}
		return err
	}
	if errors.Is(err, ctx.Err()) && last != nil {
		return fmt.Errorf("httpsclient: %s: %w (last attempt: %w)", method, ctx.Err(), unmark(last))
	}
	return unmark(err)
}

// unmark removes failover's Retryable mark, which callers do not need.
func unmark(err error) error {
	if failover.IsRetryable(err) {
		if u := errors.Unwrap(err); u != nil {
			return u
		}
	}
	return err
}

// attempt is one URL's try, with go-retryablehttp's retries on it.
func (c *Client) attempt(ctx context.Context, url, method string, body []byte, token string, idem bool,
	handle func(string, *http.Response, bool) error) error {
	srv, err := c.server(url)
	if err != nil {
		return err
	}
	st := &attemptState{idempotent: idem, retry: c.retry}
	ctx = context.WithValue(ctx, attemptKey{}, st)
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	// No Idempotency-Key header, ever: net/http would re-send the POST by itself.
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "*/*")
	ua := c.cfg.UserAgent
	if ua == "" {
		ua = "diracrpc-go"
	}
	req.Header.Set("User-Agent", ua)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rc := &retryablehttp.Client{
		HTTPClient: srv.client,
		RetryMax:   c.retry.Max,
		CheckRetry: checkRetry,
		Backoff:    func(time.Duration, time.Duration, int, *http.Response) time.Duration { return st.wait },
		// Keep the last response when retries run out: its status is the answer.
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil && err == nil {
				return resp, nil
			}
			if resp != nil {
				resp.Body.Close()
			}
			return nil, err
		},
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, n int) {
			if n > 0 {
				c.log.DebugContext(ctx, "httpsclient: retrying", "url", url, "method", method, "retry", n)
			}
		},
	}
	resp, err := rc.Do(req)
	if err != nil {
		err = fmt.Errorf("httpsclient: %s %s: %w", method, url, err)
		if notSent(err) || idem {
			return failover.Retryable(err)
		}
		return err
	}
	defer func() {
		// Drain a short rest so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerpt))
		se := statusError(resp, url, method, excerpt, nil)
		if failoverSafe(resp, idem) {
			return failover.Retryable(se)
		}
		return se
	}
	return handle(url, resp, idem)
}

// failoverSafe: the answer proves the call did not run (404: no such
// service there; 502/503/504 with Retry-After) or running it again is
// harmless.
func failoverSafe(resp *http.Response, idem bool) bool {
	switch resp.StatusCode {
	case http.StatusNotFound:
		return true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		_, ok := retryAfter(resp)
		return ok || idem
	}
	return false
}

// CloseIdleConnections is Close, under the name net/http uses.
func (c *Client) CloseIdleConnections() { _ = c.Close() }
