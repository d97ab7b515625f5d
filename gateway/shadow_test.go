package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/shadow"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// candidate starts a second service (the candidate) issued by ca, with
// change applied to its test service.
func candidate(t *testing.T, ca *pki.CA, change func(*server.Service)) *testharness.Harness {
	svc := testharness.NewTestService(service)
	if change != nil {
		change(svc)
	}
	return testharness.NewT(t, testharness.Options{Service: svc, CA: ca})
}

func newShadow(t *testing.T, cfg shadow.Config) *shadow.Shadow {
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s, err := shadow.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func methodReport(t *testing.T, s *shadow.Shadow, method string) shadow.MethodReport {
	for _, m := range s.Report().Methods {
		if m.Method == method {
			return m
		}
	}
	t.Fatalf("no report for %s", method)
	return shadow.MethodReport{}
}

// TestShadowNeverDelaysPrimary: with a candidate that hangs, every call
// through the gateway still gets the primary's answer, while the candidate
// holds its single worker; the copies that do not fit are dropped.
func TestShadowNeverDelaysPrimary(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	hang := make(chan struct{})
	var hung atomic.Int64
	cand := candidate(t, ca, func(s *server.Service) {
		s.Handle("echoAny", server.Method{Auth: []string{"all"}, Func: func(ctx context.Context, req *server.Request) (any, error) {
			hung.Add(1)
			select {
			case <-hang:
			case <-ctx.Done():
			}
			return nil, ctx.Err()
		}})
	})
	defer close(hang)
	sh := newShadow(t, shadow.Config{Candidates: map[string]string{service: cand.HTTPSURL}, ReadOnly: []string{"echoAny"},
		Workers: 1, Queue: 1, Timeout: time.Minute})
	w := newWorld(t, worldOpts{mode: selector.DISET, shadow: sh, ca: ca})
	ctx := ctxT(t)
	gc := w.viaGateway(t, nil)
	const n = 10
	for i := range n {
		// Each call is bounded well below the candidate's timeout: a delay
		// by the hanging candidate would fail it.
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		res, err := gc.Call(cctx, "echoAny", i)
		cancel()
		require.NoError(t, err)
		assert.EqualValues(t, i, res.Value)
	}
	require.Eventually(t, func() bool { return hung.Load() >= 1 }, 20*time.Second, 5*time.Millisecond)
	m := methodReport(t, sh, "echoAny")
	assert.Equal(t, n, m.Calls)
	assert.Equal(t, 0, m.Compared, "the candidate has not answered")
	assert.Positive(t, m.Dropped, "a full queue drops copies instead of waiting")
	assert.LessOrEqual(t, m.Mirrored, 2, "one running, one queued")
}

// TestShadowWritesNeverMirrored: only read-only methods reach the
// candidate; a write reaches it only with its own opt-in.
func TestShadowWritesNeverMirrored(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	var adds, echoes, fails atomic.Int64
	cand := candidate(t, ca, func(s *server.Service) {
		testharness.CountCalls(s, "add", &adds)
		testharness.CountCalls(s, "echoAny", &echoes)
		testharness.CountCalls(s, "fail", &fails)
	})
	sh := newShadow(t, shadow.Config{Candidates: map[string]string{service: cand.HTTPSURL},
		ReadOnly: []string{"echoAny"}, MirrorWrites: []string{service + "/fail"}})
	w := newWorld(t, worldOpts{mode: selector.DISET, shadow: sh, ca: ca})
	ctx := ctxT(t)
	gc := w.viaGateway(t, nil)
	for i := range 5 {
		_, err := gc.Call(ctx, "add", i, 1)
		require.NoError(t, err)
		_, err = gc.Call(ctx, "echoAny", i)
		require.NoError(t, err)
		_, err = gc.Call(ctx, "fail", "x")
		require.Error(t, err)
	}
	require.NoError(t, sh.Drain(ctx))
	assert.Zero(t, adds.Load(), "a write is never mirrored")
	assert.EqualValues(t, 5, echoes.Load())
	assert.EqualValues(t, 5, fails.Load(), "opted in")
	assert.Equal(t, 5, methodReport(t, sh, "add").NotMirrored)
	assert.Equal(t, 5, methodReport(t, sh, "echoAny").Identical)
	assert.Equal(t, 5, methodReport(t, sh, "fail").Compared)
}

// TestShadowNoiseLearning: a clock read differs between two answers of the
// same service, so the baseline explains it; without the baseline it is a
// divergence. A method answering differently is a divergence with its path
// and both values.
func TestShadowNoiseLearning(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	// stamp answers a value and a per-service counter: two answers of the
	// same service differ at $['served'].
	stamp := func(s *server.Service) {
		var n atomic.Int64
		s.Handle("stamp", server.Method{Auth: []string{"all"}, Func: func(ctx context.Context, req *server.Request) (any, error) {
			return map[string]any{"value": 42, "served": n.Add(1)}, nil
		}})
	}
	cand := candidate(t, ca, func(s *server.Service) {
		stamp(s)
		// The broken candidate: add answers one too many for 2 + 2.
		s.Handle("add", server.Method{Auth: []string{"all"}, Func: func(ctx context.Context, req *server.Request) (any, error) {
			a, b := req.Args[0].(int64), req.Args[1].(int64)
			if a == 2 && b == 2 {
				return map[string]any{"sum": 5}, nil
			}
			return map[string]any{"sum": a + b}, nil
		}})
	})
	primary := testharness.NewTestService(service)
	stamp(primary)
	primary.Handle("add", server.Method{Auth: []string{"all"}, Func: func(ctx context.Context, req *server.Request) (any, error) {
		return map[string]any{"sum": req.Args[0].(int64) + req.Args[1].(int64)}, nil
	}})
	for _, baseline := range []bool{true, false} {
		name := map[bool]string{true: "baseline", false: "no baseline"}[baseline]
		t.Run(name, func(t *testing.T) {
			sh := newShadow(t, shadow.Config{Candidates: map[string]string{service: cand.HTTPSURL},
				ReadOnly: []string{"stamp", "add", "types"}, NoBaseline: !baseline})
			w := newWorld(t, worldOpts{mode: selector.DISET, shadow: sh, ca: ca, svc: primary, enc: server.DEncode})
			ctx := ctxT(t)
			gc := w.viaGateway(t, nil)
			for range 5 {
				_, err := gc.Call(ctx, "stamp")
				require.NoError(t, err)
			}
			_, err := gc.Call(ctx, "types")
			require.NoError(t, err)
			for _, ab := range [][2]int{{1, 2}, {2, 2}, {3, 4}} {
				_, err := gc.Call(ctx, "add", ab[0], ab[1])
				require.NoError(t, err)
			}
			require.NoError(t, sh.Drain(ctx))
			now := methodReport(t, sh, "stamp")
			assert.Equal(t, 5, now.Compared)
			if baseline {
				assert.Equal(t, 0, now.Divergent, "%+v", now)
				// (a candidate's counter may happen to match the primary's)
				assert.Equal(t, 5, now.NoiseOnly+now.Identical)
				assert.Positive(t, now.NoiseOnly)
				assert.Equal(t, []string{"value-mismatch $['served']"}, now.Noise)
			} else {
				assert.Positive(t, now.Divergent)
			}
			types := methodReport(t, sh, "types")
			assert.Equal(t, 1, types.ExpectedOnly, "protocol differences are counted apart: %+v", types)
			add := methodReport(t, sh, "add")
			assert.Equal(t, 3, add.Compared)
			assert.Equal(t, 1, add.Divergent)
			require.Len(t, add.Examples, 1)
			ex := add.Examples[0]
			assert.Equal(t, "$['sum']", ex.Path)
			assert.Equal(t, "4", ex.Primary)
			assert.Equal(t, "5", ex.Candidate)
			assert.Equal(t, "[2, 2]", ex.Args)

			var j, x bytes.Buffer
			require.NoError(t, sh.Report().WriteJSON(&j))
			assert.Contains(t, j.String(), `"path": "$['sum']"`)
			require.NoError(t, sh.Report().WriteJUnit(&x))
			assert.Contains(t, x.String(), `<failure message="1 of 3 compared calls diverged" type="divergence">`)
		})
	}
}

// TestShadowReportPage: the gateway serves the live report; a real headless
// browser renders it (the divergent method's row and its example), and the
// JSON and JUnit exports are served next to it. Skipped without chromium
// (DIRACRPC_CHROMIUM names another binary).
func TestShadowReportPage(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	cand := candidate(t, ca, func(s *server.Service) {
		s.Handle("echoAny", server.Method{Auth: []string{"all"}, Func: func(ctx context.Context, req *server.Request) (any, error) {
			return map[string]any{"echo": req.Args[0], "extra": "<b>not html</b>"}, nil
		}})
	})
	sh := newShadow(t, shadow.Config{Candidates: map[string]string{service: cand.HTTPSURL}, ReadOnly: []string{"echoAny"}})
	w := newWorld(t, worldOpts{mode: selector.DISET, shadow: sh, ca: ca,
		admin: map[string]http.Handler{"/shadow/": http.StripPrefix("/shadow", sh.Handler())}})
	ctx := ctxT(t)
	gc := w.viaGateway(t, nil)
	for i := range 3 {
		_, err := gc.Call(ctx, "echoAny", i)
		require.NoError(t, err)
	}
	require.NoError(t, sh.Drain(ctx))

	get := func(path string) (string, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.adminURL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, body := get("/shadow/report.json")
	assert.Equal(t, "application/json", ct)
	var rep shadow.Report
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.Len(t, rep.Methods, 1)
	assert.Equal(t, 3, rep.Methods[0].Divergent)
	_, body = get("/shadow/junit.xml")
	assert.Contains(t, body, `<failure message="3 of 3 compared calls diverged"`)
	ct, body = get("/shadow/")
	assert.Contains(t, ct, "text/html")
	assert.Contains(t, body, "report.json")

	browser := os.Getenv("DIRACRPC_CHROMIUM")
	if browser == "" {
		browser, _ = exec.LookPath("chromium")
	}
	if browser == "" {
		t.Skip("no chromium on PATH (set DIRACRPC_CHROMIUM): the page was checked as HTML only")
	}
	bctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(bctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000",
		"--dump-dom", w.adminURL+"/shadow/").Output()
	require.NoError(t, err)
	dom := string(out)
	assert.Contains(t, dom, `data-loaded="true"`, "the script ran and rendered the report")
	assert.Contains(t, dom, `<tr data-method="Framework/TestHarness/echoAny" class="divergent">`)
	assert.Contains(t, dom, "type-mismatch at $ (args [0])\n  primary:   0")
	assert.Contains(t, dom, "&lt;b&gt;not html&lt;/b&gt;", "values are text, never markup")
}
