package httpsclient

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// Defaults and limits, as DIRAC's TornadoBaseClient has them.
const (
	// DefaultTimeout is DIRAC's default HTTPS timeout (keyword timeout).
	DefaultTimeout = 600 * time.Second
	// MinTimeout is the smallest timeout DIRAC accepts; smaller values are raised to it.
	MinTimeout = 120 * time.Second
	// DefaultVO is what DIRAC sends as clientVO when no VO is configured.
	DefaultVO = "unknown"
	// DefaultSetup is what DIRAC sends as clientSetup when no setup is configured.
	DefaultSetup = "Test"
	// DefaultMaxResponseBytes bounds a JSON answer held in memory (ReceiveFile is not bounded).
	DefaultMaxResponseBytes = 1 << 30
	// MaxRequestBytes is the body limit of DIRAC's Tornado server (100 MiB).
	MaxRequestBytes = 100 << 20
)

// Config configures a Client. The zero value is usable once credentials can
// be found (a proxy in the usual places, the CA directory of X509_CERT_DIR).
// Options that DIRAC users know carry their DIRAC keyword name in the doc.
type Config struct {
	// URLs are the service's main URLs, tried in random order; FailoverURLs
	// come after them once every main URL is banned. Both are ignored when
	// New gets an https:// URL.
	URLs, FailoverURLs []string

	// Setup is DIRAC's setup keyword, sent as clientSetup. Default "Test".
	Setup string
	// VO is DIRAC's VO keyword, sent as clientVO. Default "unknown".
	VO string
	// ExtraCredentials is DIRAC's extraCredentials keyword: "hosts", a group
	// name, or a [DN, group] list. When empty it is derived as DIRAC does:
	// "hosts" with UseCertificates (unless ProxyLocation is set), else
	// [DelegatedDN, DelegatedGroup] when DelegatedDN is set.
	ExtraCredentials any
	// DelegatedDN and DelegatedGroup are DIRAC's delegatedDN/delegatedGroup:
	// a trusted host acting for a user. Without a group DIRAC sends false;
	// so does this client.
	DelegatedDN, DelegatedGroup string

	// Credential is presented as the client certificate (Go only; takes
	// precedence over every other credential option).
	Credential *credentials.Credential
	// ProxyLocation is DIRAC's proxyLocation: a file with certificate, key
	// and chain.
	ProxyLocation string
	// UseCertificates is DIRAC's useCertificates: present the host
	// certificate (DIRAC_X509_HOST_CERT/KEY, CS paths in Locator).
	UseCertificates bool
	// UseAccessToken is DIRAC's useAccessToken (env DIRAC_USE_ACCESS_TOKEN):
	// authenticate with a bearer token instead of a certificate. BearerToken
	// gives it; otherwise it is found the WLCG way on every call (see
	// FindBearerToken), so a refreshed token file is picked up.
	UseAccessToken bool
	BearerToken    string
	// Locator finds proxies, host certificates, the CA directory and bearer
	// tokens; its LookupEnv and UID also drive the token search. Zero value:
	// the real environment.
	Locator credentials.Locator
	// CAs verifies servers; nil loads the CA directory through Locator.
	CAs *credentials.CAStore
	// SkipCACheck is DIRAC's skipCACheck: no verification of the server at
	// all (neither chain nor host name), as DIRAC's HTTPS client does. Off by
	// default.
	SkipCACheck bool

	// Timeout is DIRAC's timeout keyword: the longest wait for the connection,
	// for the answer's headers and for each read of its body. Default 600 s;
	// values under 120 s are raised to 120 s, as DIRAC does. A deadline on
	// the call's context bounds the whole call and wins when it is earlier.
	Timeout time.Duration

	// ConnectTimeout bounds the TCP connect plus TLS handshake of each new
	// connection, so that a server that accepts and then hangs costs this
	// long, not the whole call, and failover reaches the next URL. Default
	// 10 s, as DIRAC's DISET client (DEFAULT_CONNECTION_TIMEOUT).
	ConnectTimeout time.Duration

	// Proxy chooses the HTTP proxy of a request, as http.Transport.Proxy
	// does (http.ProxyURL for a fixed one). nil: the environment's
	// (HTTPS_PROXY, NO_PROXY; never for loopback addresses), as DIRAC's
	// client does. The TLS session with the service runs inside the proxy's
	// CONNECT tunnel: credentials and verification are the same as without.
	Proxy func(*http.Request) (*url.URL, error)

	// Idempotent names the methods that are safe to run twice; they are
	// retried after failures that may have reached the server. Per call:
	// WithIdempotent.
	Idempotent []string

	// Retry tunes retries on one URL; Breaker the per-server circuit breaker.
	Retry   RetrySettings
	Breaker BreakerSettings

	// FailoverAttempts bounds the attempts of one call over the service's
	// URLs (each attempt already includes Retry's retries on that URL).
	// Default: one per URL.
	FailoverAttempts int
	// BanFor is how long a URL that could not be reached is avoided. Default 30 s.
	BanFor time.Duration

	// MaxResponseBytes bounds a JSON answer. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// UserAgent is sent as User-Agent. Default "diracrpc-go".
	UserAgent string
	// Logger receives retries and breaker state changes (never credentials
	// or tokens). Nil: slog.Default().
	Logger *slog.Logger
}

// RetrySettings tunes retries on one URL. Zero values select the defaults.
type RetrySettings struct {
	// Max is the number of retries after the first attempt. Default 3;
	// negative disables retries.
	Max int
	// WaitMin and WaitMax bound the exponential backoff (full jitter) between
	// attempts. Defaults 100 ms and 3 s. A wait that would end after the
	// call's deadline is not started: the last outcome is returned instead.
	WaitMin, WaitMax time.Duration
	// MaxRetryAfter is the longest Retry-After the client honours; a longer
	// one ends the call with the server's answer. Default 30 s.
	MaxRetryAfter time.Duration
}

// BreakerSettings tunes the circuit breaker each server gets. Transport
// failures and 5xx answers count as failures; S_ERROR answers, other
// statuses and the caller's own cancellation do not.
type BreakerSettings struct {
	// Disabled turns circuit breaking off.
	Disabled bool
	// ConsecutiveFailures opens the breaker. Default 5.
	ConsecutiveFailures uint32
	// Interval clears the counts while closed. Default 60 s.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before letting probes
	// through (half-open). Default 30 s.
	OpenTimeout time.Duration
	// HalfOpenRequests is the number of probes allowed while half-open, and
	// of successes needed to close again. Default 1.
	HalfOpenRequests uint32
	// OnStateChange, when set, is told about every state change ("closed",
	// "half-open", "open") of the breaker of server (host:port).
	OnStateChange func(server, from, to string)
}

func (r RetrySettings) withDefaults() RetrySettings {
	if r.Max == 0 {
		r.Max = 3
	} else if r.Max < 0 {
		r.Max = 0
	}
	if r.WaitMin <= 0 {
		r.WaitMin = 100 * time.Millisecond
	}
	if r.WaitMax <= 0 {
		r.WaitMax = 3 * time.Second
	}
	if r.WaitMax < r.WaitMin {
		r.WaitMax = r.WaitMin
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 30 * time.Second
	}
	return r
}

func (b BreakerSettings) withDefaults() BreakerSettings {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.Interval <= 0 {
		b.Interval = 60 * time.Second
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = 30 * time.Second
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = 1
	}
	return b
}

// DefaultConnectTimeout is ConnectTimeout's default.
const DefaultConnectTimeout = 10 * time.Second

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout <= 0 {
		return DefaultConnectTimeout
	}
	return c.ConnectTimeout
}

func (c Config) timeout() time.Duration {
	switch {
	case c.Timeout == 0:
		return DefaultTimeout
	case c.Timeout < MinTimeout:
		return MinTimeout
	}
	return c.Timeout
}
