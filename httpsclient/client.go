package httpsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/jencode"
)

// New returns the client of the service at urls (main URLs, tried in random
// order) plus opts.FailoverURLs, over HTTPS. Every URL must be https:// and
// is called exactly as given, whatever its path (DIRAC ≥ 8.1 names its
// HTTPS services Tornado<Handler>). Credentials are loaded now (see
// diracrpc.TransportConfig.ClientTLS for their order; with
// hopts.UseAccessToken a bearer token replaces the certificate).
func New(urls []string, opts diracrpc.Options, hopts Options) (*diracrpc.Client, error) {
	return diracrpc.NewClient(urls, opts, func(tc *diracrpc.TransportConfig) (diracrpc.Transport, error) {
		return newTransport(tc, hopts)
	})
}

// transport makes single HTTPS attempts. It keeps one connection pool per
// server (host:port), shared by every call.
type transport struct {
	opts      Options
	tokenMode bool
	// tail is the constant end of every form: extraCredentials, clientVO, clientSetup.
	tail    []byte
	servers map[string]*server // by URL; URLs of one host:port share one
	locator credentials.Locator
	// userAgent is the header's value, made once.
	userAgent []string
}

func newTransport(tc *diracrpc.TransportConfig, o Options) (*transport, error) {
	t := &transport{opts: o.withDefaults(), servers: make(map[string]*server)}
	t.userAgent = []string{t.opts.UserAgent}
	t.tokenMode = o.UseAccessToken || envTrue(tc.Locator(), "DIRAC_USE_ACCESS_TOKEN")
	t.locator = tc.Locator()
	tlsc, err := tc.ClientTLS(diracrpc.TLSParams{NoCertificate: t.tokenMode})
	if err != nil {
		return nil, fmt.Errorf("httpsclient: %w", err)
	}
	byAddr := make(map[string]*server)
	for _, raw := range tc.URLs {
		u, err := endpoint.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("httpsclient: %w", err)
		}
		if u.Protocol != diracrpc.HTTPS {
			return nil, fmt.Errorf("httpsclient: %w %q: not an https:// URL", endpoint.ErrBadURL, raw)
		}
		s, ok := byAddr[u.Addr()]
		if !ok {
			s = newServer(u.Addr(), u.Host, tlsc, tc, t.opts.Proxy, t.opts.ResumeSessions)
			byAddr[u.Addr()] = s
		}
		t.servers[raw] = s
	}
	if t.tail, err = formTail(tc.ExtraCredentials, tc.VO, tc.Setup); err != nil {
		return nil, err
	}
	return t, nil
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

// Close closes the idle connections. Calls in flight finish normally.
func (t *transport) Close() error {
	for _, s := range t.servers {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// Attempt POSTs one call to a.URL and classifies the outcome.
func (t *transport) Attempt(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	srv, ok := t.servers[a.URL]
	if !ok {
		return nil, local(a.URL, fmt.Errorf("httpsclient: unknown URL %s", a.URL))
	}
	tm := diracrpc.TimingOf(ctx)
	tm.Begin(a.URL)
	ctx = tm.HTTPTrace(ctx)
	body, err := t.form(a.Method, a.Args, false)
	if err != nil {
		return nil, local(a.URL, err)
	}
	if len(body) > MaxRequestBytes {
		return nil, local(a.URL, fmt.Errorf("%w: request of %s over %d MiB: %d bytes", diracrpc.ErrTooLarge, a.Method, MaxRequestBytes>>20, len(body)))
	}
	var token string
	if t.tokenMode {
		if token = t.opts.BearerToken; token == "" {
			if token, err = FindBearerToken(t.locator); err != nil {
				return nil, local(a.URL, err)
			}
		}
	}
	st := &attemptState{attempt: a, maxRetryAfter: t.opts.MaxRetryAfter}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, attemptKey{}, st), http.MethodPost, a.URL, body)
	if err != nil {
		return nil, local(a.URL, err)
	}
	// No Idempotency-Key header, ever: net/http would re-send the POST by itself.
	h := req.Header // shared values, canonical keys: net/http only reads them
	h["Content-Type"], h["Accept"], h["User-Agent"] = formType, acceptAll, t.userAgent
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.retry.Do(req)
	if err != nil {
		return nil, classify(ctx, a.URL, err)
	}
	drained := false
	defer func() {
		// Drain a short rest so that the connection can be reused.
		if !drained {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		}
		resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, bodyExcerpt))
		return nil, statusFailure(resp, a.URL, a.Method, excerpt)
	}
	raw, err := readLimited(resp.Body, t.opts.MaxResponseBytes)
	drained = err == nil
	if err != nil {
		return nil, classify(ctx, a.URL, fmt.Errorf("reading the answer of %s: %w", a.Method, err))
	}
	tm.Step(diracrpc.PhaseTransfer)
	return decodeAnswer(resp, a, raw)
}

// Header values of every request.
var (
	formType  = []string{"application/x-www-form-urlencoded"}
	acceptAll = []string{"*/*"}
)

// decodeAnswer reads a 200 answer: the S_OK value, the service's S_ERROR,
// or a protocol error.
func decodeAnswer(resp *http.Response, a *diracrpc.Attempt, raw []byte) (*diracrpc.Result, error) {
	v, err := jencode.Decode(raw)
	if err != nil {
		return nil, statusFailure(resp, a.URL, a.Method, raw, fmt.Errorf("%w: %w", diracrpc.ErrProtocol, err))
	}
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		var de *diracrpc.Error
		if errors.As(err, &de) {
			return nil, de
		}
		return nil, statusFailure(resp, a.URL, a.Method, raw, err)
	}
	return &diracrpc.Result{Value: val, Raw: raw, Protocol: diracrpc.HTTPS, URL: a.URL}, nil
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
