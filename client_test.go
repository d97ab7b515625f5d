package diracrpc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/value"
)

// scripted is a transport whose attempts answer by URL.
type scripted struct {
	mu     sync.Mutex
	tried  []string
	answer func(ctx context.Context, a *Attempt) (*Result, error)
}

func (s *scripted) Attempt(ctx context.Context, a *Attempt) (*Result, error) {
	s.mu.Lock()
	s.tried = append(s.tried, a.URL)
	s.mu.Unlock()
	return s.answer(ctx, a)
}

func (s *scripted) Close() error { return nil }

func (s *scripted) urls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tried...)
}

func refused(a *Attempt) error {
	return &TransportError{Protocol: DIPS, URL: a.URL, Code: CodeUnreachable, Err: errors.New("refused")}
}

func ok(a *Attempt) *Result { return &Result{Value: a.Method, URL: a.URL} }

var quiet = slog.New(slog.DiscardHandler)

func fast(o Options) Options {
	o.BackoffMin, o.BackoffMax, o.Logger = time.Microsecond, time.Microsecond, quiet
	return o
}

func newScripted(t *testing.T, urls []string, o Options, answer func(context.Context, *Attempt) (*Result, error)) (*Client, *scripted) {
	t.Helper()
	s := &scripted{answer: answer}
	c, err := NewClient(urls, fast(o), func(*TransportConfig) (Transport, error) { return s, nil })
	require.NoError(t, err)
	return c, s
}

func TestLoopReachesHealthyURLAndBansFailedOnes(t *testing.T) {
	c, s := newScripted(t, []string{"dips://a:1/S/C", "dips://b:1/S/C", "dips://c:1/S/C"},
		Options{FailoverURLs: []string{"dips://f:1/S/C"}, Breaker: BreakerSettings{Disabled: true}},
		func(_ context.Context, a *Attempt) (*Result, error) {
			if a.URL == "dips://f:1/S/C" {
				return ok(a), nil
			}
			return nil, refused(a)
		})
	res, err := c.Call(context.Background(), "m")
	require.NoError(t, err)
	assert.Equal(t, "dips://f:1/S/C", res.URL)
	tried := s.urls()
	// Every main URL once, then the failover URL.
	require.Len(t, tried, 4)
	assert.ElementsMatch(t, []string{"dips://a:1/S/C", "dips://b:1/S/C", "dips://c:1/S/C"}, tried[:3])
	// The bans persist: the next call goes straight to f.
	_, err = c.Call(context.Background(), "m")
	require.NoError(t, err)
	assert.Equal(t, []string{"dips://f:1/S/C"}, s.urls()[4:])
	assert.Equal(t, "S/C", c.Service(), "several URLs: the service path")
}

func TestLoopStopsOnAnswers(t *testing.T) {
	for _, final := range []error{
		&Error{Message: "boom"},
		&TransportError{Code: CodeUnauthorized, Err: NewError(ENOAUTH, "Unauthorized query")},
		&TransportError{Code: CodeServerFailure, Reached: true, Err: errors.New("500")},
		&TransportError{Code: CodeUnreachable, Reached: true, Err: errors.New("dropped after the arguments")},
	} {
		c, s := newScripted(t, []string{"dips://a:1/S/C", "dips://b:1/S/C"}, Options{},
			func(context.Context, *Attempt) (*Result, error) { return nil, final })
		_, err := c.Call(context.Background(), "m", 1)
		require.ErrorIs(t, err, final)
		assert.NotErrorIs(t, err, ErrNoURL)
		assert.Len(t, s.urls(), 1, "%v is final", final)
		assert.Equal(t, []any{1}, StubOf(err).Args)
	}
}

// TestAttemptRule: DIRAC's DISET rule for every protocol: 3 attempts per URL
// with one or two URLs, 2 per URL with more; Attempts overrides it.
func TestAttemptRule(t *testing.T) {
	for n, want := range map[int]int{1: 3, 2: 6, 3: 6, 4: 8} {
		var urls []string
		for i := range n {
			urls = append(urls, "dips://h:"+string(rune('1'+i))+"/S/C")
		}
		c, s := newScripted(t, urls, Options{Breaker: BreakerSettings{Disabled: true}},
			func(_ context.Context, a *Attempt) (*Result, error) { return nil, refused(a) })
		_, err := c.Call(context.Background(), "m")
		require.ErrorIs(t, err, ErrNoURL)
		assert.Equal(t, CodeUnreachable, CodeOf(err))
		assert.False(t, Reached(err))
		assert.Len(t, s.urls(), want, "%d URLs", n)
	}
	c, s := newScripted(t, []string{"dips://a:1/S/C"}, Options{Attempts: 5, Breaker: BreakerSettings{Disabled: true}},
		func(_ context.Context, a *Attempt) (*Result, error) { return nil, refused(a) })
	_, err := c.Call(context.Background(), "m")
	require.ErrorIs(t, err, ErrNoURL)
	assert.Len(t, s.urls(), 5)
	assert.Equal(t, "dips://a:1/S/C", c.Service(), "one URL: the URL")
}

// TestIdempotencyRule: what may have reached the service is sent again
// only for an idempotent call or method, and only for transient failures.
func TestIdempotencyRule(t *testing.T) {
	dropped := func(_ context.Context, a *Attempt) (*Result, error) {
		return nil, &TransportError{Code: CodeUnreachable, Reached: true, URL: a.URL, Err: errors.New("EOF")}
	}
	for name, tc := range map[string]struct {
		opts Options
		ctx  context.Context
		want int
	}{
		"plain":            {Options{}, context.Background(), 1},
		"per call":         {Options{}, WithIdempotent(context.Background()), 3},
		"per method":       {Options{Idempotent: []string{"m"}}, context.Background(), 3},
		"another method":   {Options{Idempotent: []string{"x"}}, context.Background(), 1},
		"per call, 2 URLs": {Options{FailoverURLs: []string{"dips://b:1/S/C"}}, WithIdempotent(context.Background()), 6},
	} {
		tc.opts.Breaker.Disabled = true
		c, s := newScripted(t, []string{"dips://a:1/S/C"}, tc.opts, dropped)
		_, err := c.Call(tc.ctx, "m")
		require.Error(t, err)
		assert.True(t, Reached(err), name)
		assert.Len(t, s.urls(), tc.want, name)
	}
	// A handler's failure is not transient: never sent again.
	c, s := newScripted(t, []string{"dips://a:1/S/C"}, Options{Idempotent: []string{"m"}},
		func(context.Context, *Attempt) (*Result, error) {
			return nil, &Error{Message: "Server error while serving m: boom"}
		})
	_, err := c.Call(context.Background(), "m")
	require.ErrorIs(t, err, ErrServerFailure)
	assert.Len(t, s.urls(), 1)
}

// TestWrongProtocolMovesOn: a server of the other protocol ran nothing and
// would answer the same again: its URL is not tried again in the call, the
// others are.
func TestWrongProtocolMovesOn(t *testing.T) {
	wrong := "https://a:1/S/C"
	c, s := newScripted(t, []string{wrong}, Options{FailoverURLs: []string{"https://b:1/S/C"}, Breaker: BreakerSettings{Disabled: true}},
		func(_ context.Context, a *Attempt) (*Result, error) {
			if a.URL == wrong {
				return nil, &TransportError{Protocol: HTTPS, URL: a.URL, Code: CodeProtocol,
					Err: &WrongProtocolError{URL: a.URL, Other: DIPS, Answer: []byte(`31:{"OK": false}`)}}
			}
			return ok(a), nil
		})
	res, err := c.Call(context.Background(), "m")
	require.NoError(t, err)
	assert.Equal(t, "https://b:1/S/C", res.URL)
	assert.Equal(t, []string{wrong, "https://b:1/S/C"}, s.urls())

	// Alone, it is tried once.
	c, s = newScripted(t, []string{wrong}, Options{Breaker: BreakerSettings{Disabled: true}},
		func(_ context.Context, a *Attempt) (*Result, error) {
			return nil, &TransportError{Protocol: HTTPS, URL: a.URL, Code: CodeProtocol,
				Err: &WrongProtocolError{URL: a.URL, Other: DIPS}}
		})
	_, err = c.Call(context.Background(), "m")
	require.ErrorIs(t, err, ErrWrongProtocol)
	assert.Equal(t, CodeProtocol, CodeOf(err))
	assert.False(t, Reached(err))
	assert.Len(t, s.urls(), 1)
}

func TestLoopHonoursContextDuringBackoff(t *testing.T) {
	s := &scripted{answer: func(_ context.Context, a *Attempt) (*Result, error) { return nil, refused(a) }}
	c, err := NewClient([]string{"dips://a:1/S/C"}, Options{BackoffMin: time.Hour, Logger: quiet},
		func(*TransportConfig) (Transport, error) { return s, nil })
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Call(ctx, "m")
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, CodeCanceled, CodeOf(err))
	assert.Less(t, time.Since(start), 5*time.Second)

	// A pause that would outlast the deadline is not started: the last
	// attempt's failure is returned at once.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.Call(ctx, "m")
	require.ErrorIs(t, err, ErrNoURL)
	assert.Equal(t, CodeUnreachable, CodeOf(err))
}

func TestBansExpire(t *testing.T) {
	now := time.Unix(0, 0)
	p := newPool([]string{"a", "b"}, nil, time.Minute)
	p.now = func() time.Time { return now }
	p.ban("a")
	for range 10 {
		u, _ := p.pick(p.order(), nil)
		assert.Equal(t, "b", u)
	}
	now = now.Add(2 * time.Minute)
	seen := map[string]bool{}
	for range 50 {
		u, _ := p.pick(p.order(), nil)
		seen[u] = true
	}
	assert.True(t, seen["a"], "a is back once its ban expired")
	_, found := p.pick(p.order(), map[string]bool{"a": true, "b": true})
	assert.False(t, found)
}

func TestNewClientChecks(t *testing.T) {
	never := func(*TransportConfig) (Transport, error) { t.Fatal("no transport expected"); return nil, nil }
	_, err := NewClient(nil, Options{}, never)
	require.ErrorIs(t, err, ErrNoURL)
	_, err = NewClient([]string{"dips://a:1/S/C"}, Options{DelegatedDN: "/CN=x"}, never)
	require.Error(t, err)
}

// TestBreakerRules: failures of the server open the breaker; answers and the
// caller's cancellation do not; an open breaker sends nothing.
func TestBreakerRules(t *testing.T) {
	var answer error
	c, s := newScripted(t, []string{"dips://a:1/S/C"}, Options{Attempts: 1,
		Breaker: BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Hour}},
		func(context.Context, *Attempt) (*Result, error) { return nil, answer })
	for _, harmless := range []error{
		&Error{Message: "S_ERROR"},
		&TransportError{Code: CodeUnauthorized, Err: errors.New("401")},
		&TransportError{Code: CodeNotImplemented, Err: errors.New("501")},
		&TransportError{Code: CodeCanceled, Err: context.Canceled},
	} {
		answer = harmless
		for range 3 {
			_, err := c.Call(context.Background(), "m")
			require.Error(t, err)
			assert.NotErrorIs(t, err, ErrCircuitOpen, "%v", harmless)
		}
	}
	answer = &TransportError{Code: CodeTimeout, Reached: true, Err: errors.New("slow")}
	for range 2 {
		_, err := c.Call(context.Background(), "m")
		assert.NotErrorIs(t, err, ErrCircuitOpen)
	}
	n := len(s.urls())
	_, err := c.Call(context.Background(), "m")
	require.ErrorIs(t, err, ErrCircuitOpen)
	assert.Equal(t, CodeCircuitOpen, CodeOf(err))
	assert.False(t, Reached(err))
	assert.Len(t, s.urls(), n, "nothing sent while open")
}

// TestFallbackRoute: the fallback route is used only when every breaker of
// the primary one is open, so that nothing was sent.
func TestFallbackRoute(t *testing.T) {
	var primaryErr error
	primary, ps := newScripted(t, []string{"https://a:1/S/TornadoC"}, Options{Service: "S/C", Attempts: 1,
		Breaker: BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Hour}},
		func(_ context.Context, a *Attempt) (*Result, error) {
			if primaryErr != nil {
				return nil, primaryErr
			}
			return ok(a), nil
		})
	fallback, fs := newScripted(t, []string{"dips://a:2/S/C"}, Options{},
		func(_ context.Context, a *Attempt) (*Result, error) { return ok(a), nil })
	c := Fallback(primary, fallback)
	assert.Equal(t, HTTPS, c.Protocol())
	assert.Equal(t, []string{"https://a:1/S/TornadoC", "dips://a:2/S/C"}, c.URLs())
	res, err := c.Call(context.Background(), "m")
	require.NoError(t, err)
	assert.Equal(t, "https://a:1/S/TornadoC", res.URL)
	assert.Equal(t, "S/C", res.Stub.Service)

	primaryErr = &TransportError{Code: CodeUnreachable, Reached: true, Err: errors.New("dropped")}
	_, err = c.Call(context.Background(), "m")
	require.Error(t, err, "a failure that may have reached the service is returned")
	assert.Empty(t, fs.urls())

	res, err = c.Call(context.Background(), "m")
	require.NoError(t, err, "the primary's breaker is open: the fallback serves")
	assert.Equal(t, "dips://a:2/S/C", res.URL)
	assert.Len(t, ps.urls(), 2)
}

func TestKeywords(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want any
	}{
		{Options{}, ""},
		{Options{UseCertificates: true}, "hosts"},
		{Options{UseCertificates: true, ProxyLocation: "/p"}, ""},
		{Options{ExtraCredentials: "dirac_admin"}, "dirac_admin"},
		{Options{UseCertificates: true, ExtraCredentials: "g"}, "g"},
		{Options{ExtraCredentials: "g", DelegatedDN: "/CN=u", DelegatedGroup: "users"}, []any{"/CN=u", "users"}},
	} {
		assert.Equal(t, tc.want, tc.o.extraCredentials(), "%+v", tc.o)
	}

	o := Options{Setup: "Production", VO: "lhcb", ExtraCredentials: "g", DelegatedDN: "/CN=u", DelegatedGroup: "users",
		ProxyLocation: "/tmp/p", SkipCACheck: true, Timeout: 200 * time.Second, UseCertificates: true}
	stub := o.stubOptions()
	assert.True(t, value.Equal(value.NewDict("setup", "Production", "VO", "lhcb", "extraCredentials", "g",
		"delegatedDN", "/CN=u", "delegatedGroup", "users", "proxyLocation", "/tmp/p", "skipCACheck", true,
		"timeout", int64(200)), stub), "useCertificates is left out, as DIRAC does")

	// Back from a stub: everything but skipCACheck.
	back, err := Options{}.WithStub(stub)
	require.NoError(t, err)
	assert.False(t, back.SkipCACheck)
	back.SkipCACheck, back.UseCertificates = true, true
	assert.Equal(t, o, back)

	// DIRAC's derived pair in extraCredentials.
	back, err = Options{}.WithStub(value.NewDict("extraCredentials", []any{"/CN=v", "admins"}, "timeout", 130.5))
	require.NoError(t, err)
	assert.Equal(t, "/CN=v", back.DelegatedDN)
	assert.Equal(t, "admins", back.DelegatedGroup)
	assert.Equal(t, 130500*time.Millisecond, back.Timeout)
	for _, bad := range []*value.Dict{value.NewDict("timeout", "soon"), value.NewDict("setup", int64(1)),
		value.NewDict("extraCredentials", []any{"dn", int64(2)})} {
		_, err := Options{}.WithStub(bad)
		assert.Error(t, err)
	}
}

func TestCodeOf(t *testing.T) {
	for err, want := range map[error]Code{
		nil:                               CodeUnknown,
		errors.New("x"):                   CodeUnknown,
		&Error{Message: "boom"}:           CodeServiceError,
		NewError(ENOAUTH, "Unauthorized"): CodeUnauthorized,
		&Error{Message: "Unknown method doesNotExist"}:            CodeNotImplemented,
		NewError(ENOSYS, "m is not implemented"):                  CodeNotImplemented,
		&Error{Message: "Server error while serving crash: boom"}: CodeServerFailure,
		context.Canceled:         CodeCanceled,
		context.DeadlineExceeded: CodeTimeout,
		ErrCircuitOpen:           CodeCircuitOpen,
		&CallError{Err: &TransportError{Code: CodeTLS, Err: errors.New("bad certificate")}}: CodeTLS,
	} {
		assert.Equal(t, want, CodeOf(err), "%v", err)
		if s := want.sentinel(); s != nil && err != nil && want != CodeCanceled && want != CodeTimeout {
			assert.ErrorIs(t, err, s, "%v matches the sentinel of %s", err, want)
		}
	}
	assert.ErrorIs(t, &Error{Message: "Unknown method x"}, ErrNotImplemented)
	assert.Equal(t, "not_implemented", CodeNotImplemented.String())
}
