package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// probeBin is the probe binary, built once for the package.
var probeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "probe-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	probeBin = filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-o", probeBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building probe:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// probe runs the binary with env (only) and stdin.
func probe(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, probeBin, args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// runCmd runs cmd and returns its exit code and output.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, out.String(), errb.String()}
}

// writeProxy writes c as a proxy file dir/name.
func writeProxy(t *testing.T, dir, name string, c *credentials.Credential) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, credentials.WriteProxyFile(p, c))
	return p
}

// stopAtCleanup interrupts cmd (a harness) when the test ends and checks
// that it stops cleanly.
func stopAtCleanup(t testing.TB, cmd *exec.Cmd, stderr *testkit.SyncBuffer) {
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			assert.NoError(t, err, "harness exit: %s", stderr.String())
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("harness did not stop on SIGINT")
		}
	})
}

// harnessProc is `probe harness --json` running in the background.
type harnessProc struct {
	info harnessInfo
}

func startHarness(t testing.TB, args ...string) *harnessProc {
	t.Helper()
	hp := &harnessProc{}
	// Registered first, so that it runs after probe has stopped.
	t.Cleanup(func() {
		_, err := os.Stat(hp.info.Dir)
		assert.True(t, os.IsNotExist(err), "the temporary PKI directory is removed")
	})
	line := startBanner(t, append([]string{"harness", "--json"}, args...), func(string) bool { return true })
	require.NoError(t, json.Unmarshal([]byte(line), &hp.info), line)
	return hp
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"call"},
		{"call", "dips://h:1/A/B"},
		{"call", "--encoding", "xml", "dips://h:1/A/B", "m"},
		{"call", "dips://h:1/A/B", "m", "not json"},
		{"call", "ftp://h/A/B", "m"},
		{"call", "--cert", "x", "dips://h:1/A/B", "m"},
		{"ping"},
		{"tls", "dip://h:1/A/B"},
		{"compare", "dips://h:1/A/B"},
		{"bench", "dips://h:1/A/B", "-n", "0"},
		{"bench", "dips://h:1/A/B", "--args", "{}"},
		{"scan", "extra"},
		{"scan", "--parallel", "0"},
		{"codec", "encode"},
		{"codec", "frobnicate", "--format", "json"},
		{"harness", "extra"},
		{"demo", "extra"},
		{"call", "--no-such-flag"},
	} {
		r := probe(t, nil, "", args...)
		assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		assert.NotEmpty(t, r.stderr, "%v", args)
	}
	// Without any configuration a name cannot be resolved: a configuration
	// error, not a usage error.
	for _, args := range [][]string{{"call", "Framework/Foo", "m"}, {"scan"}} {
		r := probe(t, nil, "", args...)
		assert.Equal(t, exitConfig, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "DIRACSYSCONFIG", "%v", args)
	}
	r := probe(t, nil, "", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "probe compare")
	r = probe(t, nil, "", "call", "-h")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stderr, "-insecure")
}

func TestCodec(t *testing.T) {
	r := probe(t, nil, `{"a": [1, 2.5], "d": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}`, "codec", "encode", "--format", "dencode")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "ds1:ali1ef2.5ees1:dzati2024ei1ei2ei3ei4ei5ei0enee", r.stdout)
	r = probe(t, nil, "ds1:tti3ei4ees1:kdi1es1:xeeXX", "codec", "decode", "--format", "dencode", "--repr")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "{'t': (3, 4), 'k': {1: 'x'}}\n", r.stdout)
	assert.Contains(t, r.stderr, "2 bytes after the value")
	r = probe(t, nil, "ds1:tti3ei4ees1:kdi1es1:xeee", "codec", "decode", "--format", "dencode")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "{\"t\": [3, 4], \"k\": {\"1\": \"x\"}}\n", r.stdout)
	r = probe(t, nil, `{"OK": true, "Value": NaN}`, "codec", "decode", "--format", "json", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"repr":"{'OK': True, 'Value': nan}"`)
	r = probe(t, nil, `[1, {"__dCls": "b64", "obj": "AP8="}]`, "codec", "encode", "--format", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, `[1, {"__dCls": "b64", "obj": "AP8="}]`, r.stdout)
	r = probe(t, nil, "x", "codec", "decode", "--format", "dencode")
	assert.Equal(t, exitFail, r.code)
	r = probe(t, nil, "{", "codec", "encode", "--format", "json")
	assert.Equal(t, exitFail, r.code)
}

func TestAgainstHarness(t *testing.T) {
	h := startHarness(t)
	env := h.info.Env
	require.NotEmpty(t, h.info.DIPSURL)
	require.NotEmpty(t, h.info.DIPURL)
	require.NotEmpty(t, h.info.HTTPSURL)
	require.FileExists(t, env["X509_USER_PROXY"])
	require.DirExists(t, env["X509_CERT_DIR"])

	t.Run("call", func(t *testing.T) {
		for _, u := range []string{h.info.DIPSURL, h.info.DIPURL, h.info.HTTPSURL} {
			r := probe(t, env, "", "call", u, "add", "2", "3")
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, "5\n", r.stdout)
			r = probe(t, env, "", "call", u, "echoAny", `{"t": [-7, {"__dCls": "date", "obj": "2024-01-02"}]}`)
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Equal(t, `{"t": [-7, {"__dCls": "date", "obj": "2024-01-02"}]}`+"\n", r.stdout)
			r = probe(t, env, "", "call", u, "fail", `"boom"`)
			assert.Equal(t, exitFail, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, "Errno 0: boom")
			r = probe(t, env, "", "call", u, "failErrno", "1111", `"custom"`)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, "Errno 1111: Unauthorized query ( 1111 : custom)")
			r = probe(t, env, "", "call", u, "crash")
			assert.Equal(t, exitFail, r.code, r.stderr)
			assert.Contains(t, r.stderr, "Errno 0:")
			r = probe(t, env, "", "call", u, "doesNotExist")
			assert.Equal(t, exitFail, r.code, r.stderr)
		}
		r := probe(t, env, "", "call", "--json", h.info.HTTPSURL, "now")
		assert.Equal(t, 0, r.code, r.stderr)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		assert.Equal(t, true, out["ok"])
		assert.Equal(t, "https", out["protocol"])
		assert.Equal(t, h.info.HTTPSURL, out["url"])
		assert.Equal(t, map[string]any{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, out["value"])
		assert.Contains(t, out, "elapsed_ms")
		r = probe(t, env, "", "call", "--json", h.info.DIPSURL, "fail", `"x"`)
		assert.Equal(t, exitFail, r.code)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		assert.Equal(t, false, out["ok"])
		assert.Equal(t, "x", out["message"])
		// Flags after the positionals and DEncode payloads.
		r = probe(t, env, "", "call", h.info.DIPURL, "--encoding", "dencode", "echoAny", "-7")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "-7\n", r.stdout)
		// Explicit credentials.
		r = probe(t, nil, "", "call", "--proxy", env["X509_USER_PROXY"], "--ca-dir", env["X509_CERT_DIR"], h.info.DIPSURL, "whoami")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "CN=testuser")
		r = probe(t, nil, "", "call", "--cert", env["X509_USER_CERT"], "--key", env["X509_USER_KEY"], "--ca-dir", env["X509_CERT_DIR"], h.info.HTTPSURL, "creds")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"group": "dirac_user"`)
		// As a host, as DIRAC's clients with UseServerCertificate: the host
		// certificate (DIRAC_X509_HOST_CERT/KEY here), announced as "hosts".
		for _, u := range []string{h.info.DIPSURL, h.info.HTTPSURL} {
			r = probe(t, env, "", "call", "--use-server-certificate", "--json", u, "whoami")
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, `"group":"hosts"`, u)
			assert.Contains(t, r.stdout, "TrustedHost", u)
		}
		// The same from the local configuration.
		useCert := filepath.Join(t.TempDir(), "dirac.cfg")
		require.NoError(t, os.WriteFile(useCert, []byte("DIRAC\n{\n  Security\n  {\n    UseServerCertificate = yes\n  }\n}\n"), 0o600))
		r = probe(t, env, "", "call", "--config", useCert, "--json", h.info.DIPSURL, "whoami")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"group":"hosts"`)
		r = probe(t, env, "", "call", "--use-server-certificate", "--proxy", env["X509_USER_PROXY"], h.info.DIPSURL, "whoami")
		assert.Equal(t, exitUsage, r.code, r.stderr)
	})

	t.Run("refused credential", func(t *testing.T) {
		// A proxy a trusted CA issued but that servers refuse: the fix
		// names what in it they refuse.
		user, err := credentials.LoadCertKey(env["X509_USER_CERT"], env["X509_USER_KEY"], credentials.LoadOptions{})
		require.NoError(t, err)
		for name, tc := range map[string]struct {
			opts credentials.ProxyOptions
			fix  string
		}{
			"legacy":  {credentials.ProxyOptions{Type: credentials.Legacy}, "legacy (Globus) proxy"},
			"rsa1024": {credentials.ProxyOptions{KeyBits: 1024}, "1024-bit RSA key"},
		} {
			proxy, err := credentials.NewProxy(user, tc.opts)
			require.NoError(t, err)
			file := filepath.Join(t.TempDir(), name+".pem")
			require.NoError(t, credentials.WriteProxyFile(file, proxy))
			for _, u := range []string{h.info.DIPSURL, h.info.HTTPSURL} {
				r := probe(t, env, "", "call", "--proxy", file, u, "ping")
				assert.Equal(t, exitUnreachable, r.code, "%s %s: %s", name, u, r.stderr)
				assert.Contains(t, r.stderr, tc.fix, "%s %s", name, u)
			}
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		dead := deadAddr(t)
		r := probe(t, env, "", "call", "--timeout", "5s", "dips://"+dead+"/A/B", "ping")
		assert.Equal(t, exitUnreachable, r.code)
		assert.Contains(t, r.stderr, "fix:")
		r = probe(t, env, "", "ping", "--timeout", "5s", "https://"+dead+"/A/B")
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		// No proxy anywhere.
		noProxy := map[string]string{"X509_CERT_DIR": env["X509_CERT_DIR"], "X509_USER_PROXY": filepath.Join(t.TempDir(), "none")}
		for _, u := range []string{h.info.DIPSURL, h.info.HTTPSURL} {
			r = probe(t, noProxy, "", "call", u, "ping")
			assert.Equal(t, exitUnreachable, r.code, r.stderr)
			assert.Contains(t, r.stderr, "proxy", u)
		}
		// No CAs.
		noCA := map[string]string{"X509_USER_PROXY": env["X509_USER_PROXY"], "X509_CERT_DIR": t.TempDir()}
		r = probe(t, noCA, "", "call", h.info.DIPSURL, "ping")
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "CA")
		// --insecure gets through without CAs.
		r = probe(t, noCA, "", "call", "--insecure", h.info.HTTPSURL, "add", "1", "1")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "2\n", r.stdout)
		assert.Contains(t, r.stderr, "WARNING: --insecure")
	})

	t.Run("wrong protocol", func(t *testing.T) {
		// An https:// URL for the DISET port: refused there at once.
		r := probe(t, env, "", "call", "--timeout", "30s", "https://"+strings.TrimPrefix(h.info.DIPSURL, "dips://"), "ping")
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "answered like a DISET server")
		assert.Contains(t, r.stderr, "\n  fix: call "+h.info.DIPSURL+", or use the service's https:// port")
		// A dips:// URL for the HTTPS port: silence, until --timeout.
		r = probe(t, env, "", "ping", "--timeout", "500ms", "dips://"+strings.TrimPrefix(h.info.HTTPSURL, "https://"))
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "\n  fix: the service did not answer in time: check it is up, or raise --timeout; "+
			"if this is an HTTPS port, call "+h.info.HTTPSURL)
	})

	t.Run("ping", func(t *testing.T) {
		r := probe(t, env, "", "ping", h.info.DIPSURL)
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "OK over dips")
		assert.Contains(t, r.stdout, "name:")
		r = probe(t, env, "", "ping", "--json", h.info.HTTPSURL)
		assert.Equal(t, 0, r.code, r.stderr)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		assert.Equal(t, "ping", out["method"])
	})

	t.Run("tls", func(t *testing.T) {
		for _, u := range []string{h.info.DIPSURL, h.info.HTTPSURL} {
			r := probe(t, env, "", "tls", u)
			assert.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "verdict: OK")
			assert.Contains(t, r.stdout, "SANs:    DNS:localhost, IP:127.0.0.1")
			assert.Contains(t, r.stdout, "EKU:     serverAuth")
		}
		r := probe(t, env, "", "tls", "--json", h.info.DIPSURL)
		assert.Equal(t, 0, r.code, r.stderr)
		var out tlsReport
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		assert.True(t, out.Verdict.OK)
		require.NotEmpty(t, out.Chain)
		assert.Contains(t, out.Chain[0].SANs, "IP:127.0.0.1")
		// Without a proxy the dips server refuses the handshake: the chain
		// is still judged, the missing credential explained, and the
		// verdict fails.
		r = probe(t, map[string]string{"X509_CERT_DIR": env["X509_CERT_DIR"], "X509_USER_PROXY": "/nonexistent"}, "", "tls", h.info.DIPSURL)
		assert.Equal(t, exitUnreachable, r.code, r.stderr+r.stdout)
		assert.Contains(t, r.stdout, "client credential: PROBLEM")
		assert.Contains(t, r.stdout, "verdict: FAIL")
		assert.Contains(t, r.stdout, "SANs:    DNS:localhost", "the server's chain is shown all the same")
	})

	t.Run("compare", func(t *testing.T) {
		r := probe(t, env, "", "compare", h.info.DIPSURL, h.info.HTTPSURL, "echoAny", `{"a": [1, 2]}`)
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "1 calls: 1 identical")
		calls := filepath.Join(t.TempDir(), "calls.yaml")
		require.NoError(t, os.WriteFile(calls, []byte(`
calls:
  - method: types
  - method: doesNotExist
  - method: add
    args: [2, 3]
    expect: {value: 6}
`), 0o600))
		junit := filepath.Join(t.TempDir(), "report.xml")
		r = probe(t, env, "", "compare", "--encoding", "dencode", "--calls", calls, "--junit", junit, h.info.DIPSURL, h.info.HTTPSURL)
		assert.Equal(t, exitFail, r.code, r.stderr)
		assert.Contains(t, r.stdout, "not-implemented-form")
		assert.Contains(t, r.stdout, "DIVERGENT  add(2, 3)")
		assert.Contains(t, r.stderr, "1 of 3 calls diverged")
		x, err := os.ReadFile(junit)
		require.NoError(t, err)
		assert.Contains(t, string(x), `failures="1"`)
		r = probe(t, env, "", "compare", "--json", h.info.DIPURL, h.info.HTTPSURL, "now")
		assert.Equal(t, 0, r.code, r.stderr)
		var rep map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		assert.Equal(t, 1.0, rep["summary"].(map[string]any)["total"])
		r = probe(t, env, "", "compare", "--strict", h.info.DIPSURL, h.info.HTTPSURL, "doesNotExist")
		assert.Equal(t, exitFail, r.code, r.stdout)
		r = probe(t, env, "", "compare", "--allow", "nope", h.info.DIPSURL, h.info.HTTPSURL, "ping")
		assert.Equal(t, exitUsage, r.code)
	})

	t.Run("bench", func(t *testing.T) {
		r := probe(t, env, "", "bench", h.info.HTTPSURL, "--method", "add", "--args", "[2, 3]", "-n", "30", "-c", "3", "--json")
		assert.Equal(t, 0, r.code, r.stderr)
		var out benchResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
		assert.Equal(t, 30, out.Calls)
		assert.Positive(t, out.CallsPerSec)
		assert.LessOrEqual(t, out.P50MS, out.P99MS)
		r = probe(t, env, "", "bench", h.info.DIPSURL, "-n", "10")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "calls/s")
		assert.Contains(t, r.stdout, "p99")
		r = probe(t, env, "", "bench", h.info.DIPSURL, "--method", "fail", "--args", `["x"]`, "-n", "5")
		assert.Equal(t, exitFail, r.code)
	})

	t.Run("config and scan", func(t *testing.T) {
		dead := deadAddr(t)
		write := func(extra string) string {
			c := cfg.MustParse(testSetupCfg(fmt.Sprintf("      URLs\n      {\n        TestHarness = %s, %s\n        %s\n      }\n",
				h.info.DIPSURL, h.info.HTTPSURL, extra)))
			// URLs of both protocols: calls by name need the choice said.
			require.NoError(t, c.Set(selector.CfgServices+"/Framework/TestHarness", "dips"))
			return writeFile(t, c.String())
		}
		r0 := probe(t, env, "", "scan", "--config", h.info.Config)
		assert.Equal(t, 0, r0.code, r0.stderr+r0.stdout)
		assert.Contains(t, r0.stdout, "1 services in setup Test, 2 URLs checked, 0 failed")
		assert.Contains(t, r0.stdout, "both protocols:        Framework/TestHarness")
		good := write("")
		r := probe(t, env, "", "call", "--config", good, "Framework/TestHarness", "add", "40", "2")
		assert.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "42\n", r.stdout)
		r = probe(t, env, "", "scan", "--config", good)
		assert.Equal(t, 0, r.code, r.stderr+r.stdout)
		assert.Contains(t, r.stdout, "Framework/TestHarness")
		assert.Contains(t, r.stdout, "dips")
		assert.Contains(t, r.stdout, "https")
		bad := write("Dead = dips://" + dead + "/Framework/Dead")
		r = probe(t, env, "", "scan", "--json", "--timeout", "5s", "--config", bad)
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		rows := scanLines(t, r.stdout)
		require.Len(t, rows, 3)
		assert.Equal(t, "Framework/Dead", rows[0].Service)
		assert.False(t, rows[0].OK)
		assert.Contains(t, r.stderr, "no working URL:        Framework/Dead")
		r = probe(t, env, "", "compare", "--config", good, "Framework/TestHarness", "types")
		assert.Equal(t, 0, r.code, r.stderr+r.stdout)
		assert.Contains(t, r.stdout, "A = dips")
		assert.Contains(t, r.stdout, "B = https")
		r = probe(t, env, "", "compare", "--config", h.info.Config, "--encoding", "dencode", "Framework/TestHarness", "echoAny", `{"1": 2}`)
		assert.Equal(t, 0, r.code, r.stderr+r.stdout)
		r = probe(t, env, "", "call", "--config", good, "Framework/Nothing", "ping")
		assert.Equal(t, exitConfig, r.code, r.stderr)
	})
}

func TestDemo(t *testing.T) {
	r := probe(t, nil, "", "demo", "-n", "20")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	for _, s := range []string{"verdict: OK", "add(2, 3) = 5", "tuple-became-list", "key-became-string",
		"microseconds-dropped", "bytes-became-str", "0 divergent", "calls/s"} {
		assert.Contains(t, r.stdout, s)
	}
	r = probe(t, nil, "", "demo", "-n", "5", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.Contains(t, out, "compare")
}

// brokenServer serves TLS with cred and answers nothing.
func brokenServer(t *testing.T, cred *credentials.Credential) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cred.TLSCertificate()}})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return l.Addr().String()
}

func TestTLSExplainsBrokenCertificates(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	env := map[string]string{"X509_CERT_DIR": files.CADir, "X509_USER_PROXY": files.Proxy}
	untrusted, err := ca.Untrusted()
	require.NoError(t, err)
	cases := []struct {
		name  string
		cred  *credentials.Credential
		wants []string
	}{
		{"expired", pki.Must(t)(ca.ExpiredHost("localhost", "127.0.0.1")), []string{"certificate expired", "EXPIRED", "renew"}},
		{"not yet valid", pki.Must(t)(ca.NotYetValidHost("localhost", "127.0.0.1")), []string{"not yet valid", "clocks"}},
		{"unknown CA", pki.Must(t)(untrusted.Host("localhost", "127.0.0.1")), []string{"unknown certificate authority", "CA directory"}},
		{"host-name mismatch", pki.Must(t)(ca.WrongHost()), []string{"host name mismatch", "DNS:wrong.example.invalid"}},
		{"no serverAuth", pki.Must(t)(ca.Issue(pki.CertSpec{CommonName: "localhost", DNSNames: []string{"localhost"},
			IPs: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})),
			[]string{"key usage", "serverAuth"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := brokenServer(t, tc.cred)
			r := probe(t, env, "", "tls", "https://"+addr+"/A/B")
			assert.Equal(t, exitUnreachable, r.code, r.stderr)
			assert.Contains(t, r.stdout, "verdict: FAIL")
			for _, w := range tc.wants {
				assert.Contains(t, r.stdout, w)
			}
			r = probe(t, env, "", "tls", "--json", "dips://"+addr+"/A/B")
			assert.Equal(t, exitUnreachable, r.code, r.stderr)
			var out tlsReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
			assert.False(t, out.Verdict.OK)
			assert.NotEmpty(t, out.Verdict.Fix)
			// A call explains the same problem and exits 3.
			r = probe(t, env, "", "call", "--timeout", "5s", "https://"+addr+"/A/B", "ping")
			assert.Equal(t, exitUnreachable, r.code, r.stderr)
			assert.Contains(t, r.stderr, "fix:")
		})
	}
}

// The client-side variants of the broken PKI: what the user holds is wrong.
func TestClientCredentialProblems(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{CA: pki.NewT(t, pki.Options{})})
	dir := t.TempDir()
	write := func(name string, c *credentials.Credential) string { return writeProxy(t, dir, name, c) }
	expired := write("expired.pem", pki.Must(t)(h.CA.ExpiredProxy(h.Files.User)))
	forged := write("forged.pem", pki.Must(t)(h.CA.ForgedProxy(h.Files.User)))
	base := map[string]string{"X509_CERT_DIR": h.Files.CADir}

	env := map[string]string{"X509_CERT_DIR": h.Files.CADir, "X509_USER_PROXY": expired}
	r := probe(t, env, "", "tls", h.DIPSURL)
	assert.Contains(t, r.stdout, "client credential: PROBLEM")
	assert.Contains(t, r.stdout, "expired")
	assert.Contains(t, r.stdout, "dirac-proxy-init")
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		r = probe(t, env, "", "call", u, "ping")
		assert.Equal(t, exitUnreachable, r.code, r.stderr)
		assert.Contains(t, r.stderr, "expired")
		assert.Contains(t, r.stderr, "fix:")
		r = probe(t, base, "", "call", "--proxy", forged, u, "ping")
		assert.Equal(t, exitUnreachable, r.code, "%s: %s", u, r.stderr)
		assert.NotEmpty(t, r.stderr)
	}

	// A CN-only host certificate is what DIRAC accepts: verdict OK.
	addr := brokenServer(t, pki.Must(t)(h.CA.HostCNOnly("127.0.0.1")))
	r = probe(t, map[string]string{"X509_CERT_DIR": h.Files.CADir, "X509_USER_PROXY": h.Files.Proxy}, "", "tls", "https://"+addr+"/A/B")
	assert.Equal(t, 0, r.code, r.stdout)
	assert.Contains(t, r.stdout, "(none: host name checked against the CN)")
}

// Exit 3 from compare and bench when a side cannot be reached.
func TestCompareAndBenchUnreachable(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "dips://" + l.Addr().String() + "/Framework/TestHarness"
	require.NoError(t, l.Close())
	env := h.Env
	r := probe(t, env, "", "compare", "--timeout", "5s", h.DIPSURL, dead, "ping")
	assert.Equal(t, exitUnreachable, r.code, r.stderr+r.stdout)
	assert.Contains(t, r.stdout, "FAILED")
	assert.Contains(t, r.stderr, "fix:")
	r = probe(t, env, "", "bench", "--timeout", "5s", dead, "-n", "3")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	r = probe(t, env, "", "bench", "--json", "--timeout", "5s", dead, "-n", "3")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"ok":false`)
}

// probe tls looks the server's certificate and the client credential up in
// the CRLs of the CA directory (issue 12).
func TestTLSShowsRevocation(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	env := map[string]string{"X509_CERT_DIR": files.CADir, "X509_USER_PROXY": files.Proxy}
	addr := brokenServer(t, files.Host)

	r := probe(t, env, "", "tls", "--json", "https://"+addr+"/A/B")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	var out tlsReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.True(t, out.Verdict.OK)
	assert.Contains(t, out.Verdict.Message, "not revoked")
	require.NotNil(t, out.Client)
	assert.True(t, out.Client.OK)
	assert.Contains(t, out.Client.Message, "not revoked")

	der, err := ca.CRL(pki.CRLSpec{Revoked: []*x509.Certificate{files.Host.Leaf(), files.User.Leaf()}})
	require.NoError(t, err)
	_, err = ca.WriteCRL(files.CADir, der)
	require.NoError(t, err)
	r = probe(t, env, "", "tls", "--json", "https://"+addr+"/A/B")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	out = tlsReport{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.False(t, out.Verdict.OK)
	assert.Equal(t, "certificate revoked", out.Verdict.Reason)
	require.NotNil(t, out.Client)
	assert.False(t, out.Client.OK)
	assert.Equal(t, "certificate revoked", out.Client.Reason)
	r = probe(t, env, "", "tls", "https://"+addr+"/A/B")
	assert.Contains(t, r.stdout, "verdict: FAIL (certificate revoked)")
	assert.Contains(t, r.stdout, "client credential: PROBLEM")

	// An out-of-date CRL revoking nobody: the verdict stands, with a fix.
	der, err = ca.CRL(pki.CRLSpec{Number: 2, ThisUpdate: time.Now().Add(-48 * time.Hour), NextUpdate: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	_, err = ca.WriteCRL(files.CADir, der)
	require.NoError(t, err)
	r = probe(t, env, "", "tls", "https://"+addr+"/A/B")
	assert.Equal(t, 0, r.code, r.stdout)
	assert.Contains(t, r.stdout, "CRL expired")
	assert.Contains(t, r.stdout, "fetch-crl")
}
