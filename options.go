package diracrpc

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// Defaults of Options, as DIRAC has them where DIRAC has the knob.
const (
	// DefaultTimeout is DIRAC's RPC timeout (keyword timeout).
	DefaultTimeout = 600 * time.Second
	// MinTimeout is the floor DIRAC applies to the timeout keyword.
	MinTimeout = 120 * time.Second
	// DefaultConnectTimeout bounds TCP connect plus TLS handshake, as
	// DIRAC's DEFAULT_CONNECTION_TIMEOUT.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultSetup and DefaultVO are what DIRAC sends when no configuration
	// names a setup or a VO.
	DefaultSetup = "Test"
	DefaultVO    = "unknown"
	// DefaultBanFor is how long a URL that could not be reached is avoided.
	DefaultBanFor = 30 * time.Second
)

// Options configures a Client, whichever protocol it speaks. The zero value
// works for a user with a proxy where DIRAC looks for one (X509_USER_PROXY,
// /tmp/x509up_u<uid>) and CAs in X509_CERT_DIR or
// /etc/grid-security/certificates.
//
// The first fields are DIRAC's client keywords, under the names DIRAC's
// documentation gives them; a replay stub carries them (see Stub).
type Options struct {
	// Setup is DIRAC's "setup", sent in the DISET proposal and as the HTTPS
	// clientSetup. Default "Test".
	Setup string
	// VO is DIRAC's "VO", sent in the DISET proposal and as the HTTPS
	// clientVO. Default "unknown".
	VO string
	// ExtraCredentials is DIRAC's "extraCredentials": a group name (used by
	// the server for a certificate without a group) or "hosts". Default:
	// "hosts" with UseCertificates unless ProxyLocation is set, else none.
	ExtraCredentials string
	// DelegatedDN and DelegatedGroup are DIRAC's "delegatedDN" and
	// "delegatedGroup": a trusted host calls on behalf of this user; they
	// are sent as the extraCredentials [DN, group] and win over
	// ExtraCredentials. Both or neither. Default: none.
	DelegatedDN, DelegatedGroup string
	// ProxyLocation is DIRAC's "proxyLocation": the proxy file to present
	// (certificate, key and chain). Default: the proxy DIRAC finds
	// (GRID_PROXY_FILE, X509_USER_PROXY, /tmp/x509up_u<uid>).
	ProxyLocation string
	// UseCertificates is DIRAC's "useCertificates": present the host
	// certificate (DIRAC_X509_HOST_CERT/KEY or the grid-security directory)
	// and send extraCredentials "hosts". Default false.
	UseCertificates bool
	// SkipCACheck is DIRAC's "skipCACheck": do not verify the server's
	// chain. Over DISET the host name is still checked, as DIRAC's DISET
	// client does; over HTTPS nothing is, as DIRAC's HTTPS client does.
	// Default false: always verify.
	SkipCACheck bool
	// Timeout is DIRAC's "timeout": the longest wait for the server once
	// connected (each read and write). Default 600 s; smaller values are
	// raised to 120 s, as DIRAC does. A deadline on the call's context
	// bounds the whole call and wins when it is earlier.
	Timeout time.Duration

	// Credential is an already loaded proxy or certificate (DIRAC's
	// "proxyString"/"proxyChain"), presented instead of the files of
	// ProxyLocation and UseCertificates; with UseCertificates it is taken as
	// the host certificate. Default nil: load as DIRAC does.
	Credential *credentials.Credential
	// CAs verifies servers. Default nil: the CA directory found by Locator.
	CAs *credentials.CAStore
	// Locator finds credential files. The zero value reads the process
	// environment.
	Locator credentials.Locator

	// Service is the name the client reports (Service) and replay stubs
	// record: DIRAC's serviceName, the name or URL the caller used. Default:
	// the URL for a client of one URL, else the "System/Component" path of
	// the first URL.
	Service string
	// FailoverURLs are tried, in order, once every main URL is banned.
	// Default none.
	FailoverURLs []string
	// Idempotent names the methods that are safe to run twice: they are sent
	// again after a failure that may have reached the service. For a single
	// call use WithIdempotent. Default none: a call that may have reached the
	// service is never sent again.
	Idempotent []string
	// Attempts bounds the attempts of one call, over all its URLs, for both
	// protocols alike (an HTTP 503 with Retry-After sent again counts as an
	// attempt). Default: DIRAC's DISET rule, 3 per URL with one or two URLs,
	// 2 per URL with more.
	Attempts int
	// BanFor is how long a URL that could not be reached is avoided by later
	// attempts and calls. Default 30 s.
	BanFor time.Duration
	// ConnectTimeout bounds TCP connect plus TLS handshake of each
	// connection. Default 10 s (DIRAC's DEFAULT_CONNECTION_TIMEOUT).
	ConnectTimeout time.Duration
	// BackoffMin and BackoffMax bound the pause before each attempt after
	// the first: exponential from BackoffMin, capped at BackoffMax, with full
	// jitter. A pause that would outlast the call's deadline is not started.
	// Defaults 100 ms and 3 s.
	BackoffMin, BackoffMax time.Duration
	// Breaker configures the circuit breaker of each server (host:port).
	Breaker BreakerSettings
	// Logger receives attempts that failed and breaker state changes, never
	// credentials. Default slog.Default().
	Logger *slog.Logger

	// MeterProvider and TracerProvider receive the client's OpenTelemetry
	// metrics and spans, named as the package documentation's "Metrics and
	// traces" says. One left nil is a no-op provider; both nil (the
	// default) turn instrumentation off, at no cost to calls. The global
	// providers are never used implicitly: pass otel.GetMeterProvider()
	// and otel.GetTracerProvider() to get them.
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
}

// BreakerSettings configures the circuit breaker every server (host:port)
// of a Client gets, over both protocols. A failure is a server that could
// not be reached, a TLS failure, a timeout, a server failure or an invalid
// answer; an S_ERROR, a refused authorisation, an unknown method or service
// are answers, so successes; the caller's own cancellation does not count.
type BreakerSettings struct {
	// Disabled turns circuit breaking off. Default false.
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

// withDefaults returns o with every default filled in.
func (o Options) withDefaults() Options {
	if o.Setup == "" {
		o.Setup = DefaultSetup
	}
	if o.VO == "" {
		o.VO = DefaultVO
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.BanFor <= 0 {
		o.BanFor = DefaultBanFor
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 3 * time.Second
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &o.Breaker
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
	o.FailoverURLs = slices.Clone(o.FailoverURLs)
	o.Idempotent = slices.Clone(o.Idempotent)
	return o
}

// EffectiveTimeout is DIRAC's rule for the timeout keyword: 600 s by
// default, at least 120 s.
func (o Options) EffectiveTimeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return max(o.Timeout, MinTimeout)
}

type idempotentKey struct{}

// WithIdempotent marks the calls made with ctx as idempotent, over either
// protocol: safe to run twice, so they are sent again after a failure that
// may have reached the service (a dropped connection, a server failure).
// Options.Idempotent marks methods for every call.
func WithIdempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// WithRawResult asks for the results of the calls made with ctx
// undecoded, over either protocol: a successful call's Result has Raw, the
// answer as received, and Undecoded set, with Value and Extra nil. Decode
// decodes Raw when called; a program that stores or forwards the answer, or
// decodes it with its own decoder, skips building the generic model of a
// large answer. Only the head of the answer is read, to tell an S_OK: an
// S_ERROR, or an answer that does not start as an S_OK, is decoded and
// reported as usual. Only Client.Call honours it (not file transfers); the
// calls made with ctx on the caller's behalf for their own use (the
// selector's configuration bootstrap, compat.Run, shadow's comparisons)
// decode what they need with Result.Decoded.
func WithRawResult(ctx context.Context) context.Context {
	return context.WithValue(ctx, rawResultKey{}, true)
}

type rawResultKey struct{}

func wantsRawResult(ctx context.Context) bool {
	v, _ := ctx.Value(rawResultKey{}).(bool)
	return v
}

func isIdempotent(ctx context.Context) bool {
	v, _ := ctx.Value(idempotentKey{}).(bool)
	return v
}
