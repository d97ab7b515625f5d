package testharness_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// captureAnswers returns, per call label ("add(2, 3)"), the final s2c
// payload of a DISET capture.
func captureAnswers(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(captures.Dir(), name))
	require.NoError(t, err)
	defer f.Close()
	txt := map[string]string{}
	var label string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	header := regexp.MustCompile(`^=== connection \d+: (.*)$`)
	frame := regexp.MustCompile(`^  s2c \d+:(.*)$`)
	for sc.Scan() {
		if m := header.FindStringSubmatch(sc.Text()); m != nil {
			label = m[1]
		} else if m := frame.FindStringSubmatch(sc.Text()); m != nil && label != "" {
			txt[label] = m[1] // the last s2c frame of the connection wins
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, txt)
	return txt
}

func call(t *testing.T, c diracrpc.Caller, method string, args ...any) (*diracrpc.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, method, args...)
}

func TestHarnessServesTheRecordedBehaviour(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	require.Len(t, h.URLs(), 3)
	for _, k := range []string{"X509_USER_PROXY", "X509_CERT_DIR", "X509_USER_CERT", "X509_USER_KEY"} {
		_, err := os.Stat(h.Env[k])
		assert.NoError(t, err, k)
	}
	captured := captureAnswers(t, "diset_dip_json.txt")
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.DIP, diracrpc.HTTPS} {
		t.Run(string(p), func(t *testing.T) {
			c, err := h.Client(p)
			require.NoError(t, err)
			// S_OK answers: byte for byte what the recorded DIRAC service sent.
			for label, args := range map[string][]any{
				"echo('hello',)": {"hello"},
				"add(2, 3)":      {int64(2), int64(3)},
				"echoAny({'s': 'café', 'i': -7, 'f': 2.5, 'n': None, 'b': True, 'l': [1, 2], 't': (3, 4), 'k': {1: 'x'}},)": {
					value.NewDict("s", "café", "i", int64(-7), "f", 2.5, "n", nil, "b", true, "l", []any{int64(1), int64(2)},
						"t", value.Tuple{int64(3), int64(4)}, "k", value.NewDict(int64(1), "x"))},
				"now()": nil,
			} {
				method := label[:strings.IndexByte(label, '(')]
				res, err := call(t, c, method, args...)
				require.NoError(t, err, label)
				assert.Equal(t, captured[label], string(res.Raw), label)
				assert.Equal(t, p, res.Protocol)
			}
			// S_ERROR answers.
			_, err = call(t, c, "fail", "boom")
			var se *diracrpc.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 0, se.Errno)
			assert.Equal(t, "boom", se.Message)
			_, err = call(t, c, "failErrno", 1111, "custom")
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 1111, se.Errno)
			assert.Equal(t, "Unauthorized query ( 1111 : custom)", se.Message)
			_, err = call(t, c, "add", "2", 3)
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected <class 'int'>", se.Message)
			_, err = call(t, c, "crash")
			require.Error(t, err)
			_, err = call(t, c, "doesNotExist")
			require.Error(t, err)
			assert.True(t, errors.Is(err, diracrpc.ErrNotImplemented) || strings.Contains(err.Error(), "Unknown method doesNotExist"), err)

			res, err := call(t, c, "types")
			require.NoError(t, err)
			d := res.Value.(*value.Dict)
			assert.Equal(t, []any{"int", "negint", "bigint", "float", "str", "bool", "none", "list", "tuple", "dict",
				"intkeys", "datetime", "date"}, d.Keys())
			res, err = call(t, c, "many", 1, "a", nil)
			require.NoError(t, err)
			assert.True(t, value.Equal([]any{int64(1), "a", nil}, res.Value))
			res, err = call(t, c, "sleep", 0.01)
			require.NoError(t, err)
			assert.Equal(t, 0.01, res.Value)
			res, err = call(t, c, "utcnow")
			require.NoError(t, err)
			now, ok := res.Value.(time.Time)
			require.True(t, ok)
			assert.WithinDuration(t, time.Now(), now, time.Minute)
			res, err = call(t, c, "creds")
			require.NoError(t, err)
			creds := res.Value.(*value.Dict).StringMap()
			if p == diracrpc.DIP {
				assert.Empty(t, creds["DN"])
			} else {
				assert.Contains(t, creds["DN"], "CN=testuser")
				assert.Equal(t, "dirac_user", creds["group"])
				assert.Equal(t, []any{"NormalUser"}, creds["properties"])
			}
		})
	}
}

func TestHarnessDEncodeMatchesTheDEncodeCapture(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{Encoding: server.DEncode, HTTPSAddr: "-", DIPSAddr: "-"})
	assert.Equal(t, "no", h.Env["DIRAC_USE_JSON_ENCODE"])
	assert.Empty(t, h.HTTPSURL)
	captured := captureAnswers(t, "diset_dip_dencode.txt")
	c, err := h.Client(diracrpc.DIP)
	require.NoError(t, err)
	res, err := call(t, c, "now")
	require.NoError(t, err)
	assert.Equal(t, captured["now()"], string(res.Raw))
	assert.Equal(t, testharness.FixedTime, res.Value)
}

func TestHarnessArityAndOwnService(t *testing.T) {
	svc := server.NewService("My/Service")
	svc.DefaultAuth = []string{"all"}
	svc.HandleFunc("hello", func(context.Context, *server.Request) (any, error) { return "hi", nil })
	h := testharness.NewT(t, testharness.Options{Service: svc})
	assert.True(t, strings.HasSuffix(h.DIPSURL, "/My/Service"), h.DIPSURL)
	c, err := h.Client(diracrpc.DIPS)
	require.NoError(t, err)
	res, err := call(t, c, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hi", res.Value)

	h2 := testharness.NewT(t, testharness.Options{HTTPSAddr: "-", DIPAddr: "-"})
	c, err = h2.Client(diracrpc.DIPS)
	require.NoError(t, err)
	_, err = call(t, c, "echoAny")
	var se *diracrpc.Error
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Message, "export_echoAny() missing 1 required positional argument: 'x'")
	_, err = h2.Client(diracrpc.HTTPS)
	assert.Error(t, err)
}

func TestStartAndCloseWithDirAndJSONEnv(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := testharness.Start(ctx, testharness.Options{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, dir, h.Dir)
	b, err := json.Marshal(h.Env)
	require.NoError(t, err)
	assert.Contains(t, string(b), dir)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	_, err = os.Stat(filepath.Join(dir, "proxy.pem"))
	assert.NoError(t, err, "a given directory is kept")
}

func TestConfigFileResolvesTheService(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	data, err := os.ReadFile(h.ConfigFile)
	require.NoError(t, err)
	assert.Contains(t, string(data), "TestHarness = "+h.DIPSURL+", "+h.HTTPSURL)
	assert.Equal(t, h.ConfigFile, h.Env["DIRACSYSCONFIG"])
	conf, err := cfg.LoadFiles(h.ConfigFile)
	require.NoError(t, err)
	r := &endpoint.Resolver{Source: endpoint.Static(conf), Shuffle: func([]string) {}}
	res, err := r.Resolve(context.Background(), testharness.DefaultService)
	require.NoError(t, err)
	assert.Equal(t, []string{h.DIPSURL, h.HTTPSURL}, res.URLs())
}

// TestStartFailsCleanly: a harness that cannot start returns its error (the
// busy address, nothing to serve) instead of panicking, and leaves nothing
// running.
func TestStartFailsCleanly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	for name, opts := range map[string]testharness.Options{
		"busy dips port":   {DIPSAddr: busy.Addr().String()},
		"busy https port":  {HTTPSAddr: busy.Addr().String()},
		"nothing to serve": {DIPSAddr: "-", DIPAddr: "-", HTTPSAddr: "-"},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Dir = t.TempDir()
			var h *testharness.Harness
			require.NotPanics(t, func() { h, err = testharness.Start(ctx, opts) })
			assert.Nil(t, h)
			require.Error(t, err)
			if name != "nothing to serve" {
				assert.ErrorContains(t, err, busy.Addr().String())
			}
		})
	}
}
