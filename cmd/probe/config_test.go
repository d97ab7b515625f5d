package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/csserver"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// scanLines reads the --json output of scan: one row per line.
func scanLines(t *testing.T, out string) []scanRow {
	t.Helper()
	var rows []scanRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r scanRow
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		rows = append(rows, r)
	}
	return rows
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startCS serves conf as a Configuration Server over dip:// on loopback
// and returns its URL.
func startCS(t *testing.T, conf *cfg.Config) string {
	u, _ := startCSServer(t, conf)
	return u
}

// startCSServer is startCS that also returns the CS, to update what it serves.
func startCSServer(t *testing.T, conf *cfg.Config) (string, *csserver.CS) {
	t.Helper()
	cs := csserver.New(conf)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.NewDISET(cs.Service(), server.DISETConfig{})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "dip://" + l.Addr().String() + "/Configuration/Server", cs
}

// testSetupCfg is a dirac.cfg of the setup Test, whose Framework instance
// is Production; sections are the sections of Systems/Framework/Production
// (URLs, FailoverURLs).
func testSetupCfg(sections string) string {
	return `DIRAC
{
  Setup = Test
  Setups
  {
    Test
    {
      Framework = Production
    }
  }
}
Systems
{
  Framework
  {
    Production
    {
` + sections + `    }
  }
}
`
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dirac.cfg")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// TestNamesThroughTheConfigurationService: a client dirac.cfg that holds
// only the setup and the Configuration Servers (a dead one first) resolves
// names through the CS, from --config, DIRACSYSCONFIG or $DIRAC; -v shows
// the CS step; --no-cs and unknown names are configuration errors (4); a
// dead CS is 3; scan lists every main and failover URL in the same order
// on every run.
func TestNamesThroughTheConfigurationService(t *testing.T) {
	h := startHarness(t)
	env := h.info.Env
	dead := deadAddr(t)
	served := cfg.MustParse(testSetupCfg(fmt.Sprintf(`      URLs
      {
        TestHarness = %[1]s, %[2]s
        Failover = dips://%[3]s/Framework/TestHarness
        TwoURLs = dips://%[3]s/Framework/TestHarness, %[1]s
      }
      FailoverURLs
      {
        Failover = %[1]s
      }
`, h.info.DIPSURL, h.info.HTTPSURL, dead)))
	// TestHarness has URLs of both protocols: the CS chooses DISET for it.
	require.NoError(t, served.Set("/DIRAC/Selector/Services/Framework/TestHarness", "dips"))
	csURL := startCS(t, served)
	client := fmt.Sprintf("DIRAC\n{\n  Setup = Test\n  Configuration\n  {\n    Servers = dips://%s/Configuration/Server, %s\n  }\n}\n", dead, csURL)
	local := writeFile(t, client)

	r := probe(t, env, "", "call", "-v", "--config", local, "Framework/TestHarness", "add", "40", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "42\n", r.stdout)
	assert.Contains(t, r.stderr, "probe: configuration: local "+local+" (from --config)")
	assert.Contains(t, r.stderr, csURL+" getCompressedDataIfNewer: answered")
	assert.Contains(t, r.stderr, "Configuration Service version ")

	r = probe(t, env, "", "call", "--config", local, "Framework/Failover", "add", "1", "2")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)

	// The harness's environment names its own dirac.cfg in DIRACSYSCONFIG.
	withEnv := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range env {
			m[k] = v
		}
		delete(m, "DIRACSYSCONFIG")
		m[k] = v
		return m
	}
	r = probe(t, withEnv("DIRACSYSCONFIG", local), "", "call", "Framework/TestHarness", "add", "1", "1")
	assert.Equal(t, 0, r.code, r.stderr)
	root := filepath.Dir(filepath.Dir(writeFile(t, "")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "dirac.cfg"), []byte(client), 0o600))
	r = probe(t, withEnv("DIRAC", root), "", "ping", "-v", "Framework/TestHarness")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "probe: configuration: local "+filepath.Join(root, "etc", "dirac.cfg")+" (from $DIRAC/etc/dirac.cfg")

	r = probe(t, env, "", "call", "--no-cs", "--config", local, "Framework/TestHarness", "ping")
	assert.Equal(t, exitConfig, r.code, r.stderr)
	r = probe(t, env, "", "call", "--config", local, "Framework/Unknown", "ping")
	assert.Equal(t, exitConfig, r.code, r.stderr)
	assert.Contains(t, r.stderr, "/Systems/Framework/Production/URLs/Unknown")

	onlyDead := writeFile(t, fmt.Sprintf("DIRAC\n{\n  Setup = Test\n  Configuration\n  {\n    Servers = dips://%s/Configuration/Server\n  }\n}\n", dead))
	r = probe(t, env, "", "call", "--timeout", "5s", "--config", onlyDead, "Framework/TestHarness", "ping")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no Configuration Server answered")

	var first []scanRow
	for run := 0; run < 3; run++ {
		r = probe(t, env, "", "scan", "--json", "--parallel", "3", "--config", local)
		assert.Equal(t, exitFail, r.code, "a dead URL, but every service works: %s", r.stderr)
		rows := scanLines(t, r.stdout)
		var got []string
		for _, row := range rows {
			got = append(got, fmt.Sprintf("%s %s %s %v", row.Service, row.Role, row.URL, row.OK))
			assert.Equal(t, row.OK, row.Error == "", "%+v", row)
		}
		assert.Equal(t, []string{
			"Framework/Failover main dips://" + dead + "/Framework/TestHarness false",
			"Framework/Failover failover " + h.info.DIPSURL + " true",
			"Framework/TestHarness main " + h.info.DIPSURL + " true",
			"Framework/TestHarness main " + h.info.HTTPSURL + " true",
			"Framework/TwoURLs main dips://" + dead + "/Framework/TestHarness false",
			"Framework/TwoURLs main " + h.info.DIPSURL + " true",
		}, got)
		if run == 0 {
			first = rows
			assert.Contains(t, r.stderr, "both protocols:        Framework/TestHarness")
			assert.Contains(t, r.stderr, "DISET only:            Framework/Failover, Framework/TwoURLs")
		}
	}
	require.Len(t, first, 6)
	assert.Equal(t, "dips", first[0].Protocol)
	assert.Equal(t, "https", first[3].Protocol)

	junit := filepath.Join(t.TempDir(), "scan.xml")
	r = probe(t, env, "", "scan", "--config", local, "--junit", junit)
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stdout, "3 services in setup Test, 6 URLs checked, 2 failed")
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(x), `<testsuite name="Framework/Failover" tests="2" failures="1" errors="0">`)
	assert.Contains(t, string(x), `name="failover `+h.info.DIPSURL+`"`)
	assert.NotContains(t, r.stderr, "\r", "no progress line when stderr is not a terminal")
}

// TestScanProgressOnATerminal: with stderr on a terminal, scan draws a
// progress line there (and erases it before the summary).
func TestScanProgressOnATerminal(t *testing.T) {
	h := startHarness(t)
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return h.info.Env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"scan", "--parallel", "1"}, &env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		getenv: getenv, isTerminal: true})
	require.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stderr.String(), "\r\033[K[1/2] ")
	assert.Contains(t, stderr.String(), "\r\033[K[2/2] ")
	assert.True(t, strings.HasSuffix(stderr.String(), "\r\033[K"), "the line is erased: %q", stderr.String())
	assert.Contains(t, stdout.String(), "1 services in setup Test, 2 URLs checked, 0 failed")
}

// TestNamesGoWhereTheSelectorSends: a name's calls take the protocol and
// URLs DIRAC's client selector picks, not always DISET: main URLs over
// HTTPS with a DISET failover go over HTTPS, main URLs that mix the
// protocols are a configuration error until /DIRAC/Selector chooses.
func TestNamesGoWhereTheSelectorSends(t *testing.T) {
	h := startHarness(t)
	conf := testSetupCfg(fmt.Sprintf(`      URLs
      {
        HTTPSMain = %[2]s
        Mixed = %[1]s, %[2]s
      }
      FailoverURLs
      {
        HTTPSMain = %[1]s
      }
`, h.info.DIPSURL, h.info.HTTPSURL))
	local := writeFile(t, conf)
	protocol := func(r result) string {
		var out struct{ Protocol string }
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
		return out.Protocol
	}
	for _, cmd := range [][]string{{"call", "Framework/HTTPSMain", "ping"}, {"ping", "Framework/HTTPSMain"}} {
		r := probe(t, h.info.Env, "", append([]string{cmd[0], "--json", "--config", local}, cmd[1:]...)...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "https", protocol(r), "%v", cmd)
	}

	r := probe(t, h.info.Env, "", "call", "--json", "--config", local, "Framework/Mixed", "ping")
	assert.Equal(t, exitConfig, r.code, r.stderr)
	assert.Contains(t, r.stderr, "mix dips:// and https://")
	assert.Contains(t, r.stderr, "/DIRAC/Selector/Services/Framework/Mixed = dips or https")

	withChoice := cfg.MustParse(conf)
	require.NoError(t, withChoice.Set("/DIRAC/Selector/Services/Framework/Mixed", "https"))
	chosen := writeFile(t, withChoice.String())
	r = probe(t, h.info.Env, "", "call", "--json", "--config", chosen, "Framework/Mixed", "ping")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "https", protocol(r))
}

// TestCALocationOfTheConfiguration: as in DIRAC, the local configuration's
// /DIRAC/Security/CALocation wins over X509_CERT_DIR, for names and URLs
// alike (the harness's dirac.cfg names its CA directory there).
func TestCALocationOfTheConfiguration(t *testing.T) {
	h := startHarness(t)
	env := map[string]string{}
	for k, v := range h.info.Env {
		env[k] = v
	}
	env["X509_CERT_DIR"] = t.TempDir() // no CA there
	r := probe(t, env, "", "call", "--config", h.info.Config, "Framework/TestHarness", "add", "1", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)
	r = probe(t, env, "", "call", h.info.DIPSURL, "add", "1", "2") // the config from DIRACSYSCONFIG
	require.Equal(t, 0, r.code, r.stderr)

	delete(env, "DIRACSYSCONFIG") // no configuration: X509_CERT_DIR it is
	r = probe(t, env, "", "call", h.info.DIPSURL, "add", "1", "2")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
}

// TestCredentialFailureBeforeTheConfigurationService: a proxy that cannot
// be used fails the first Configuration Server already; the fix says what
// is wrong with it rather than to check the servers.
func TestCredentialFailureBeforeTheConfigurationService(t *testing.T) {
	cs := csserver.New(cfg.MustParse(testSetupCfg("")))
	h := testharness.NewT(t, testharness.Options{Service: cs.Service()})
	client := writeFile(t, fmt.Sprintf("DIRAC\n{\n  Setup = Test\n  Configuration\n  {\n    Servers = %s\n  }\n}\n", h.DIPSURL))
	expired := writeProxy(t, t.TempDir(), "expired.pem", pki.Must(t)(h.CA.ExpiredProxy(h.Files.User)))
	env := map[string]string{"X509_CERT_DIR": h.Files.CADir, "X509_USER_PROXY": expired}
	r := runInProcess(t, ctxT(t), env, "call", "--config", client, "Framework/Anything", "ping")
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no Configuration Server answered")
	assert.Contains(t, r.stderr, "fix: your credential has expired")
}

// TestTLSOfANameTriesItsURLs: probe tls NAME inspects the first URL that
// can be connected to, failover URLs included, as a call would reach it.
func TestTLSOfANameTriesItsURLs(t *testing.T) {
	h := startHarness(t)
	dead := deadAddr(t)
	local := writeFile(t, testSetupCfg(fmt.Sprintf(`      URLs
      {
        Failover = dips://%[2]s/Framework/TestHarness
      }
      FailoverURLs
      {
        Failover = %[1]s
      }
`, h.info.DIPSURL, dead)))
	r := probe(t, h.info.Env, "", "tls", "--config", local, "Framework/Failover")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	assert.Contains(t, r.stderr, "dips://"+dead+"/Framework/TestHarness: ")
	assert.Contains(t, r.stderr, "trying "+h.info.DIPSURL)
	assert.Contains(t, r.stdout, "verdict: OK")
}
