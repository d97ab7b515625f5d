package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/shadow"
	"github.com/diracgo/diracrpc/testharness"
)

// startGateway runs probe with args (gateway or shadow) until it printed
// its addresses (--json), stopped (SIGINT) at the end of the test.
func startGateway(t *testing.T, args ...string) map[string]string {
	t.Helper()
	banner := startBanner(t, append(args, "--json", "--listen", "127.0.0.1:0", "--listen-admin", "127.0.0.1:0"),
		func(line string) bool { return strings.HasPrefix(line, "{") })
	var info map[string]string
	require.NoError(t, json.Unmarshal([]byte(banner), &info), banner)
	return info
}

// TestGatewayCommand: probe gateway forwards a DISET call to the service
// its configuration names; probe shadow mirrors read-only calls to a
// candidate and writes its reports on exit.
func TestGatewayCommand(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	env := map[string]string{}
	for k, v := range h.Env {
		env[k] = v
	}
	common := []string{"--host-cert", h.Files.HostCert, "--host-key", h.Files.HostKey, "--ca-dir", h.Files.CADir,
		"--config", h.ConfigFile, "--no-cs"}
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

	info := startGateway(t, append([]string{"gateway", "--mode", "dips"}, common...)...)
	url := "dips://localhost:" + port(info["dips"]) + "/" + testharness.DefaultService
	r := probe(t, env, "", "call", url, "add", "2", "3")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "5\n", r.stdout)
	r = probe(t, env, "", "call", url, "failErrno", "1111", `"custom"`)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "custom")
	resp, err := http.Get("http://" + info["admin"] + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cand := testharness.NewT(t, testharness.Options{CA: h.CA})
	dir := t.TempDir()
	report := filepath.Join(dir, "shadow.json")
	// Registered before the gateway starts, so run after its SIGINT stop.
	t.Cleanup(func() {
		b, err := os.ReadFile(report)
		require.NoError(t, err, "the report is written on exit")
		var rep shadow.Report
		require.NoError(t, json.Unmarshal(b, &rep))
		assert.Equal(t, 3, rep.Totals.Identical)
	})
	sinfo := startGateway(t, append([]string{"shadow", "--mode", "dips", "--candidate",
		testharness.DefaultService + "=" + cand.HTTPSURL, "--read-only", "echoAny", "--report", report}, common...)...)
	surl := "dips://localhost:" + port(sinfo["dips"]) + "/" + testharness.DefaultService
	for _, arg := range []string{"1", `"x"`, `[1, 2]`} {
		r = probe(t, env, "", "call", surl, "echoAny", arg)
		require.Equal(t, 0, r.code, r.stderr)
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + sinfo["admin"] + "/shadow/report.json")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var rep shadow.Report
		return json.NewDecoder(resp.Body).Decode(&rep) == nil && rep.Totals.Compared == 3
	}, 30*time.Second, 10*time.Millisecond)
}

// gateway --metrics: the calls in and out, scraped from the admin
// listener; an S_ERROR forwarded raw keeps its code (DISETCall.Done).
func TestGatewayMetrics(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	info := startGateway(t, "gateway", "--mode", "dips", "--metrics", "--host-cert", h.Files.HostCert,
		"--host-key", h.Files.HostKey, "--ca-dir", h.Files.CADir, "--config", h.ConfigFile, "--no-cs")
	url := "dips://localhost:" + info["dips"][strings.LastIndex(info["dips"], ":")+1:] + "/" + testharness.DefaultService
	r := probe(t, h.Env, "", "call", url, "add", "2", "3")
	require.Equal(t, 0, r.code, r.stderr)
	r = probe(t, h.Env, "", "call", url, "failErrno", "2", `"gone"`)
	require.Equal(t, 1, r.code, r.stderr)
	// The gateway ends a call after answering it: scrape until both are in.
	var in, out []string
	var b []byte
	require.Eventually(t, func() bool {
		b = scrape(t, "http://"+info["admin"]+"/metrics")
		in, out = nil, nil
		for line := range strings.Lines(string(b)) {
			switch {
			case strings.HasPrefix(line, "rpc_server_duration_milliseconds_count{"):
				in = append(in, line)
			case strings.HasPrefix(line, "rpc_client_duration_milliseconds_count{"):
				out = append(out, line)
			}
		}
		return len(in) == 2
	}, 20*time.Second, 5*time.Millisecond, string(b))
	require.Len(t, in, 2, string(b))
	require.Len(t, out, 2, string(b))
	for _, lines := range [][]string{in, out} {
		text := strings.Join(lines, "")
		assert.Contains(t, text, `rpc_method="add"`)
		assert.Contains(t, text, `error_type="service_error"`)
		assert.Contains(t, text, `rpc_service="Framework/TestHarness"`)
		assert.Contains(t, text, `rpc_system="dirac.diset"`)
	}
}

// TestGatewayExitCodesAsDirect: probe call through the gateway ends with
// the exit code of a direct call when the gateway cannot lead the call to
// its service (exit 3: no such service) or the service refuses the caller
// (exit 1 and the hint, as DISET's refusal), whichever protocol the
// gateway forwards with.
func TestGatewayExitCodesAsDirect(t *testing.T) {
	svc := testharness.NewTestService(testharness.DefaultService)
	svc.Handle("admin", server.Method{Auth: []string{"ServiceAdministrator"}, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) { return "done", nil }})
	h := testharness.NewT(t, testharness.Options{Service: svc})
	nope := func(url string) string { return strings.Replace(url, testharness.DefaultService, "Framework/Nope", 1) }
	r := probe(t, h.Env, "", "call", nope(h.DIPSURL), "ping")
	require.Equal(t, exitUnreachable, r.code, r.stderr)
	r = probe(t, h.Env, "", "call", h.DIPSURL, "admin")
	require.Equal(t, exitFail, r.code, r.stderr)
	require.Contains(t, r.stderr, "refused this identity")
	for _, mode := range []string{"dips", "https"} {
		t.Run(mode, func(t *testing.T) {
			info := startGateway(t, "gateway", "--mode", mode, "--host-cert", h.Files.HostCert, "--host-key", h.Files.HostKey,
				"--ca-dir", h.Files.CADir, "--config", h.ConfigFile, "--no-cs")
			url := "dips://localhost:" + info["dips"][strings.LastIndex(info["dips"], ":")+1:] + "/" + testharness.DefaultService
			r := probe(t, h.Env, "", "call", nope(url), "ping")
			assert.Equal(t, exitUnreachable, r.code, r.stderr)
			assert.Contains(t, r.stderr, "Framework/Nope is not up in this server")
			r = probe(t, h.Env, "", "call", url, "admin")
			assert.Equal(t, exitFail, r.code, r.stderr)
			assert.Contains(t, r.stderr, "refused this identity")
		})
	}
}
