package httpsclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/klauspost/compress/gzip"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/mixed"
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
	targets map[string]*target // by URL
	locator credentials.Locator
	// userAgent is the header's value, made once.
	userAgent []string
	// formHeader is the header of every call without a bearer token, made
	// once and shared: net/http only reads a request's header.
	formHeader http.Header
}

// target is one URL of the client: its server (URLs of one host:port share
// one) and its request, parsed once, that every call copies.
type target struct {
	srv  *server
	tmpl *http.Request
}

func newTransport(tc *diracrpc.TransportConfig, o Options) (*transport, error) {
	t := &transport{opts: o.withDefaults(), targets: make(map[string]*target)}
	t.userAgent = []string{t.opts.UserAgent}
	t.formHeader = t.header(formContentType, "")
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
		tmpl, err := http.NewRequest(http.MethodPost, raw, nil)
		if err != nil {
			return nil, fmt.Errorf("httpsclient: %w %q: %w", endpoint.ErrBadURL, raw, err)
		}
		s, ok := byAddr[u.Addr()]
		if !ok {
			s = newServer(u.Addr(), u.Host, tlsc, tc, t.opts.Proxy, t.opts.ResumeSessions)
			// Calls ask for gzip themselves (see Attempt); this stops the
			// transfers' requests asking too.
			s.transport.DisableCompression = t.opts.DisableCompression
			byAddr[u.Addr()] = s
		}
		t.targets[raw] = &target{srv: s, tmpl: tmpl}
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
	for _, tg := range t.targets {
		tg.srv.transport.CloseIdleConnections()
	}
	return nil
}

// Attempt POSTs one call to a.URL and classifies the outcome.
func (t *transport) Attempt(ctx context.Context, a *diracrpc.Attempt) (*diracrpc.Result, error) {
	tg, ok := t.targets[a.URL]
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
	h, err := t.callHeader(formContentType)
	if err != nil {
		return nil, local(a.URL, err)
	}
	// No Idempotency-Key header, ever: net/http would re-send the POST by itself.
	st := &attemptState{Context: ctx, attempt: a, maxRetryAfter: t.opts.MaxRetryAfter, form: body}
	st.req.Request = tg.tmpl.WithContext(st)
	st.req.Header = h
	if err := st.req.SetBody(retryablehttp.ReaderFunc(st.reader)); err != nil {
		return nil, local(a.URL, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, notSent(classify(ctx, a.URL, err), false) // given up before sending anything
	}
	// Whether the server ever answered is read before the call: a call
	// given up closes its connection, and the server may answer that close
	// (a 500 from its cancelled handler) while net/http still reads.
	answeredBefore := tg.srv.answered.Load()
	failed := func(err error) error {
		err = classify(ctx, a.URL, err)
		if !answeredBefore && tg.srv.shook.Load() {
			err = silentHint(err, a.URL)
		}
		return err
	}
	resp, err := tg.srv.retry.Do(&st.req)
	if err != nil {
		return nil, failed(err)
	}
	if ctx.Err() != nil {
		// The call was given up while its answer came. net/http closes the
		// connection then, and may still hand over an answer it read while
		// closing: often the server's reaction to that very close (a handler
		// unblocked by it). The call ends with the context, as promised,
		// and that answer, which came after it, says nothing of the server.
		resp.Body.Close()
		return nil, failed(ctx.Err())
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
		excerpt, _ := readAnswer(resp, bodyExcerpt, true)
		return nil, statusFailure(resp, a.URL, a.Method, excerpt)
	}
	raw, err := readAnswer(resp, t.opts.MaxResponseBytes, false)
	drained = err == nil
	if err != nil {
		return nil, classify(ctx, a.URL, fmt.Errorf("reading the answer of %s: %w", a.Method, err))
	}
	tm.Step(diracrpc.PhaseTransfer)
	res, err := decodeAnswer(resp, a, raw)
	if err != nil && diracrpc.CodeOf(err) == diracrpc.CodeProtocol && ctx.Err() != nil {
		// An answer that is no result, come as the caller's context ended,
		// is most likely the server's reaction to the client leaving (a
		// handler cut short answering nothing): the call ended with the
		// context, as it would have a moment later.
		return nil, classify(ctx, a.URL, err)
	}
	return res, err
}

// callHeader is the header of a request whose body is of type ctype: the
// shared formHeader, or one made for the call when it carries a bearer
// token (found now, so that a refreshed token file is picked up) or
// another type.
func (t *transport) callHeader(ctype string) (http.Header, error) {
	token := ""
	if t.tokenMode {
		if token = t.opts.BearerToken; token == "" {
			var err error
			if token, err = FindBearerToken(t.locator); err != nil {
				return nil, err
			}
		}
	}
	if token == "" && ctype == formContentType {
		return t.formHeader, nil
	}
	return t.header(ctype, token), nil
}

// header makes the header of a request: body type and User-Agent, and the
// bearer token if any. Keys are canonical and values may be shared:
// net/http only reads them. DIRAC's client (python-requests) also sends
// "Accept: */*", which says no more than no Accept at all (RFC 9110
// §12.5.1) and which Tornado does not read; net/http copies and writes
// every entry on every call, and that one cost the client 4% of its CPU
// per call (BenchmarkCall, p=0.05).
func (t *transport) header(ctype, token string) http.Header {
	ct := formType
	if ctype != formContentType {
		ct = []string{ctype}
	}
	h := http.Header{"Content-Type": ct, "User-Agent": t.userAgent}
	if !t.opts.DisableCompression {
		// Asked here rather than by net/http, so that readAnswer inflates
		// with a recycled reader of klauspost/compress.
		h["Accept-Encoding"] = acceptGzip
	}
	if token != "" {
		h["Authorization"] = []string{"Bearer " + token}
	}
	return h
}

const formContentType = "application/x-www-form-urlencoded"

// Header values of every request.
var (
	formType   = []string{formContentType}
	acceptGzip = []string{"gzip"}
)

// decodeAnswer reads a 200 answer: the S_OK value, the service's S_ERROR,
// or a protocol error.
func decodeAnswer(resp *http.Response, a *diracrpc.Attempt, raw []byte) (*diracrpc.Result, error) {
	if a.Undecoded {
		if enc, ok := mixed.OKHead(raw); ok && enc == mixed.JSON {
			return &diracrpc.Result{Raw: raw, Undecoded: true, Protocol: diracrpc.HTTPS, URL: a.URL}, nil
		}
	}
	// raw is a buffer of its own that only Result.Raw keeps: large strings
	// may point into it.
	v, err := (&jencode.Decoder{ShareInput: true}).Decode(raw)
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
	return &diracrpc.Result{Value: val, Raw: raw, Protocol: diracrpc.HTTPS, URL: a.URL, Extra: diracrpc.ExtraKeys(v)}, nil
}

// gzipReaders are the recycled inflaters of compressed answers.
var gzipReaders sync.Pool // of *gzip.Reader

// readAnswer reads the body of resp, at most limit bytes (with excerpt,
// what is there of them; else more is an error), inflating it when it came
// gzip-compressed at the call's request.
func readAnswer(resp *http.Response, limit int64, excerpt bool) ([]byte, error) {
	if resp.Uncompressed || !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		return readLimited(resp.Body, limit, resp.ContentLength, excerpt)
	}
	body, inflated := io.Reader(resp.Body), int64(-1)
	if n := resp.ContentLength; !excerpt && n >= gzipMinSize && n <= min(limit, maxPrealloc) {
		// The compressed answer is read whole first, into a recycled buffer,
		// so that its trailer (RFC 1952's ISIZE, the inflated size mod 2^32)
		// sizes the answer's buffer: one allocation of its size instead of a
		// doubling series, each new page of which is zeroed and faulted in
		// (on a VM, most of the cost of a large answer). ISIZE is only a
		// hint, bounded like a declared Content-Length (readLimited); the
		// inflater checks it at the end.
		bp := bufpool.Get(int(n))
		defer bufpool.Put(bp)
		compressed := (*bp)[:n]
		if _, err := io.ReadFull(resp.Body, compressed); err != nil {
			return nil, err
		}
		inflated = int64(binary.LittleEndian.Uint32(compressed[n-4:]))
		body = bytes.NewReader(compressed)
	}
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(body)
	} else {
		err = zr.Reset(body)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip-compressed answer: %w", err)
	}
	defer func() {
		_ = zr.Reset(eofReader{}) // drop the body
		gzipReaders.Put(zr)
	}()
	return readLimited(zr, limit, inflated, excerpt)
}

// gzipMinSize is the size of the smallest gzip stream: a 10-byte header, an
// empty deflate block and the 8-byte trailer.
const gzipMinSize = 20

// eofReader ends a gzip reader that waits in the pool.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// maxPrealloc bounds the buffer readLimited sets aside for a declared
// length before the bytes arrive; past it the buffer grows as they do.
const maxPrealloc = 64 << 20

// readLimited reads r to its end, at most limit bytes, into one buffer of
// the declared length (-1: unknown), or growing by doubling without it.
// With excerpt it returns the first limit bytes, else more is an error.
func readLimited(r io.Reader, limit, declared int64, excerpt bool) ([]byte, error) {
	size := int64(512)
	if declared >= 0 {
		size = min(declared, limit, maxPrealloc) + 1 // + 1: the end is seen without growing
	}
	b := make([]byte, 0, size)
	lr := io.LimitReader(r, limit+1)
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, cap(b))
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			if excerpt { // what arrived of it
				return b[:min(int64(len(b)), limit)], err
			}
			return nil, err
		}
	}
	if int64(len(b)) > limit {
		if excerpt {
			return b[:limit], nil
		}
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, nil
}
