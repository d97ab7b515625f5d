package httpsclient

import (
	"net/http"
	"net/url"
	"time"
)

// Limits.
const (
	// DefaultMaxResponseBytes bounds a JSON answer held in memory (downloads are streamed, not bounded).
	DefaultMaxResponseBytes = 1 << 30
	// MaxRequestBytes is the body limit of DIRAC's Tornado server (100 MiB).
	MaxRequestBytes = 100 << 20
	// DefaultMaxRetryAfter is the longest Retry-After honoured by default.
	DefaultMaxRetryAfter = 30 * time.Second
	// DefaultUserAgent is sent as User-Agent by default.
	DefaultUserAgent = "diracrpc-go"
)

// Options are HTTPS's own options; the zero value is DIRAC's behaviour.
type Options struct {
	// Proxy chooses the HTTP proxy of a request, as http.Transport.Proxy
	// does (http.ProxyURL for a fixed one). nil: the environment's
	// (HTTPS_PROXY, NO_PROXY; never for loopback addresses), as DIRAC's
	// client does. The TLS session with the service runs inside the proxy's
	// CONNECT tunnel: credentials and verification are the same as without.
	Proxy func(*http.Request) (*url.URL, error)
	// MaxResponseBytes bounds a JSON answer. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// UseAccessToken is DIRAC's "useAccessToken" (env DIRAC_USE_ACCESS_TOKEN
	// in y/yes/true also turns it on): authenticate with a bearer token
	// instead of a certificate. BearerToken gives it; otherwise it is found
	// the WLCG way on every call (see FindBearerToken), so that a refreshed
	// token file is picked up. Default off.
	UseAccessToken bool
	BearerToken    string
	// UserAgent is sent as User-Agent. Default DefaultUserAgent.
	UserAgent string
	// MaxRetryAfter is the longest Retry-After honoured on a 502/503/504; a
	// longer one ends the attempt with the server's answer. Default 30 s.
	MaxRetryAfter time.Duration
	// DisableCompression stops asking for gzip-compressed answers, which
	// DIRAC's client asks for (Accept-Encoding) and its server then sends
	// from 1 KiB on. The default, asking, suits the grid: a JSON answer
	// such as a job listing shrinks about 8 times for some 4 ms of server
	// and client CPU per MB, which pays on links below about 2 Gbit/s,
	// wide-area ones (data already compressed, as getCompressedData's,
	// goes uncompressed at the speed of a copy). Disable it for a server on
	// a fast local network, where compression only costs that CPU time.
	DisableCompression bool
	// ResumeSessions lets TLS sessions be resumed on new connections.
	// Off by default: DIRAC's Tornado server (OpenSSL) has no client chain
	// on a resumed session, only the leaf, so a proxy would be taken for an
	// unknown certificate (isProxy false, DN the proxy's subject) and
	// refused. Enable it only for servers that keep the chain (package
	// server does).
	ResumeSessions bool
}

func (o Options) withDefaults() Options {
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return o
}
