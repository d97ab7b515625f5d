package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/gateway"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/shadow"
	"github.com/diracgo/diracrpc/testharness"
)

// The real DIRAC oracle (../shared/oracle): its DISET and HTTPS services,
// CA, host certificate and user proxy.
type realDIRAC struct {
	envSh, dir string
	host       *credentials.Credential
	cas        *credentials.CAStore
	proxy      string
}

const (
	oracleDIPS  = "dips://localhost:9150/Framework/Oracle"
	oracleHTTPS = "https://localhost:8443/Framework/OracleTornado"
	userDN      = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
)

// oracleEnv needs DIRACRPC_ORACLE_ENV (../shared/oracle/env.sh) with the
// oracle's servers running (start_servers.sh).
func oracleEnv(t *testing.T) *realDIRAC {
	envSh := oracle.Require(t, oracle.Env, "the path to ../shared/oracle/env.sh (servers started)")
	dir := os.Getenv(oracle.Dir)
	if dir == "" {
		dir = "/tmp/dirac-oracle"
	}
	gs := oracle.GridSecurity(dir)
	host, err := credentials.LoadCertKey(filepath.Join(gs, "hostcert.pem"), filepath.Join(gs, "hostkey.pem"), credentials.LoadOptions{})
	require.NoError(t, err)
	cas, err := credentials.LoadCADir(filepath.Join(gs, "certificates"))
	require.NoError(t, err)
	return &realDIRAC{envSh: envSh, dir: dir, host: host, cas: cas, proxy: filepath.Join(gs, "user", "proxy_dirac.pem")}
}

// oracleURLs is the Framework URLs section naming the oracle's services,
// OracleTornado at tornado.
func oracleURLs(tornado string) string {
	return "      URLs\n      {\n" +
		"        Oracle = dips://localhost:9150/Framework/Oracle\n" +
		"        OracleTornado = " + tornado + "\n" +
		"        TransferOracle = dips://localhost:9236/Framework/TransferOracle\n" +
		"      }\n"
}

// gatewayConfig is the configuration the gateway resolves with: the real
// services, under their own names.
var gatewayConfig = oracle.Config("", oracleURLs("https://localhost:8443/Framework/OracleTornado"), "")

// startOracleGateway runs a Go gateway with the oracle's host certificate
// (a TrustedHost of the oracle's Registry) on 127.0.0.1; it returns its
// DISET and HTTPS ports.
func startOracleGateway(t *testing.T, o *realDIRAC, mirror gateway.Mirror) (dport, hport int) {
	conf, err := cfg.Parse("gateway.cfg", []byte(gatewayConfig))
	require.NoError(t, err)
	g, err := gateway.New(gateway.Config{
		Selector: selector.Options{
			Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)},
			Client:   diracrpc.Options{CAs: o.cas, Logger: quiet},
		},
		TrustedHost: true, HostCredential: o.host, Shadow: mirror, Logger: quiet,
	})
	require.NoError(t, err)
	ports := serveGateway(t, g, o.host, o.cas, gateway.ServerConfig{
		HTTPSServices: []string{"Framework/Oracle", "Framework/OracleTornado"},
	})
	return ports.dips, ports.https
}

// runDIRAC runs testdata/dirac_client.py with DIRAC's environment and a
// DIRAC root whose dirac.cfg is clientCfg, and returns its JSON result.
func runDIRAC(t *testing.T, o *realDIRAC, clientCfg, target string) map[string]map[string]any {
	return runDIRACScript(t, o, "dirac_client.py", clientCfg, target)
}

// runDIRACScript runs testdata/<script> (see runDIRAC).
func runDIRACScript(t *testing.T, o *realDIRAC, script, clientCfg, target string) map[string]map[string]any {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "dirac.cfg"), []byte(clientCfg), 0o644))
	path, err := filepath.Abs(filepath.Join("testdata", script))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`. "$1" && export DIRAC_ROOT_PATH="$2" X509_USER_PROXY="$3" && exec /usr/bin/python3 "$4" "$5"`,
		"bash", o.envSh, root, o.proxy, path, target)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	_, line, ok := strings.Cut(string(out), "RESULT ")
	require.True(t, ok, "%s", out)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &res), "%s", out)
	t.Logf("DIRAC client (%v) -> %s: %s", res["class"], target, strings.TrimSpace(line))
	got := map[string]map[string]any{}
	for k, v := range res {
		if m, ok := v.(map[string]any); ok {
			got[k] = m
		}
	}
	return got
}

// clientConfig is the DIRAC client's dirac.cfg: the oracle's CAs, a site
// with a gateway, and the services under dips:// URLs (DIRAC's gateway
// logic only applies to DISET; the host and port are replaced by the
// gateway's).
func clientConfig(o *realDIRAC, gatewayURL string) string {
	gateways := ""
	if gatewayURL != "" {
		gateways = "  Gateways\n  {\n    gw.test.site = " + gatewayURL + "\n  }\n"
	}
	security := "  Security\n  {\n    CALocation = " + filepath.Join(o.dir, "etc", "grid-security", "certificates") + "\n  }\n"
	return oracle.Config(security+gateways, oracleURLs("dips://localhost:1/Framework/OracleTornado"), "LocalSite\n{\n  Site = gw.test.site\n}\n")
}

func checkOracleAnswers(t *testing.T, got map[string]map[string]any) {
	who := got["whoami"]
	require.Equal(t, true, who["OK"], "%v", who)
	v := who["Value"].(map[string]any)
	assert.Equal(t, userDN, v["DN"], "the service sees the real user")
	assert.Equal(t, "dirac_user", v["group"])
	assert.Equal(t, "ciuser", v["username"])
	assert.Equal(t, map[string]any{"OK": true, "Value": float64(5)}, got["add"])
	assert.Equal(t, map[string]any{"OK": true, "Value": "hello"}, got["echo"])
	assert.Equal(t, false, got["failErrno"]["OK"])
	assert.Equal(t, float64(1111), got["failErrno"]["Errno"])
	assert.Contains(t, got["failErrno"]["Message"], "custom")
	assert.Equal(t, false, got["doesNotExist"]["OK"])
}

// TestOracleDIRACClientsThroughGateway: DIRAC's own Python clients,
// configured with /DIRAC/Gateways/<site>, call the real DISET-only oracle
// service (DISET in, DISET out) and the real HTTPS-only one (DISET in,
// HTTPS out) through the Go gateway, delegating their proxy; and DIRAC's
// TornadoClient calls the DISET-only one through the gateway's HTTPS side
// (HTTPS in, DISET out, the gateway as a trusted host). whoami checks the
// identity the service sees.
func TestOracleDIRACClientsThroughGateway(t *testing.T) {
	o := oracleEnv(t)
	dport, hport := startOracleGateway(t, o, nil)
	ccfg := clientConfig(o, fmt.Sprintf("dips://localhost:%d/Framework/Gateway", dport))
	t.Run("DISET in, DISET out", func(t *testing.T) {
		got := runDIRAC(t, o, ccfg, "Framework/Oracle")
		checkOracleAnswers(t, got)
	})
	t.Run("DISET in, HTTPS out", func(t *testing.T) {
		got := runDIRAC(t, o, ccfg, "Framework/OracleTornado")
		checkOracleAnswers(t, got)
	})
	// DIRAC's TornadoClient also obeys /DIRAC/Gateways (it would call the
	// gateway's DISET URL over HTTP): HTTPS callers use no gateway entry.
	hcfg := clientConfig(o, "")
	t.Run("HTTPS in, DISET out", func(t *testing.T) {
		got := runDIRAC(t, o, hcfg, fmt.Sprintf("https://localhost:%d/Framework/Oracle", hport))
		checkOracleAnswers(t, got)
	})
	t.Run("HTTPS in, HTTPS out", func(t *testing.T) {
		got := runDIRAC(t, o, hcfg, fmt.Sprintf("https://localhost:%d/Framework/OracleTornado", hport))
		checkOracleAnswers(t, got)
	})
}

// oracleCalls is a mix of the oracle service's methods: values of every
// kind, S_ERRORs, an unknown method, a crash, the clock, the caller.
func oracleCalls(n int) [][]any {
	mix := [][]any{
		{"echo", "hello"},
		{"echoAny", map[string]any{"a": []any{1, 2.5, nil, true}, "s": "x"}},
		{"echoAny", []any{int64(1) << 40, "é", map[string]any{"k": []any{}}}},
		{"add", 2, 3},
		{"add", -7, 1 << 33},
		{"fail", "boom"},
		{"failErrno", 1111, "custom"},
		{"failErrno", 2, "missing"},
		{"doesNotExist"},
		{"crash"},
		{"now"},
		{"utcnow"},
		{"types"},
		{"many", 1, "two", []any{3}},
		{"whoami"},
		{"creds"},
		{"sleep", 0.01},
	}
	out := make([][]any, n)
	for i := range out {
		out[i] = mix[i%len(mix)]
	}
	return out
}

var oracleReadOnly = []string{"echo", "echoAny", "add", "fail", "failErrno", "doesNotExist", "crash", "now",
	"utcnow", "types", "many", "whoami", "creds", "sleep"}

// driveThroughGateway makes the calls through the gateway's DISET side as
// the oracle user, as live traffic would.
func driveThroughGateway(t *testing.T, o *realDIRAC, dport int, service string, calls [][]any) {
	proxy, err := credentials.LoadProxy(o.proxy, credentials.LoadOptions{})
	require.NoError(t, err)
	c, err := disetclient.New([]string{fmt.Sprintf("dips://localhost:%d/%s", dport, service)},
		diracrpc.Options{Credential: proxy, CAs: o.cas, Logger: quiet, Attempts: 1}, disetclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, call := range calls {
		_, err := c.Call(ctx, call[0].(string), call[1:]...)
		if err != nil && !errors.As(err, new(*diracrpc.Error)) {
			require.NoError(t, err, "%v", call)
		}
	}
}

// TestOracleShadow: live traffic through the Go gateway to the real DISET
// oracle service, mirrored to the real HTTPS one: a few hundred mixed calls,
// no unexplained divergence (the clocks are learned as noise, the protocol
// differences counted apart).
func TestOracleShadow(t *testing.T) {
	o := oracleEnv(t)
	n := 340
	sh, err := shadow.New(shadow.Config{Candidates: map[string]string{"Framework/Oracle": oracleHTTPS},
		ReadOnly: oracleReadOnly, Logger: quiet, Workers: 2, Queue: 1024})
	require.NoError(t, err)
	defer sh.Close()
	dport, _ := startOracleGateway(t, o, sh)
	driveThroughGateway(t, o, dport, "Framework/Oracle", oracleCalls(n))
	rep := drainedReport(t, sh, 5*time.Minute, "real dips vs real https")
	assert.Equal(t, n, rep.Totals.Calls)
	assert.Equal(t, n, rep.Totals.Compared, "every call compared")
	assert.Zero(t, rep.Totals.Divergent, "no unexplained divergence")
	assert.Zero(t, rep.Totals.CandidateErrors)
	assert.Zero(t, rep.Totals.Dropped)
}

// drainedReport waits up to wait for sh's comparisons, then returns its
// report, logged as JSON with label.
func drainedReport(t *testing.T, sh *shadow.Shadow, wait time.Duration, label string) *shadow.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, sh.Drain(ctx))
	rep := sh.Report()
	var buf strings.Builder
	require.NoError(t, rep.WriteJSON(&buf))
	t.Logf("shadow report (%s):\n%s", label, buf.String())
	return rep
}

// TestOracleShadowBrokenCandidate: the candidate is a Go HTTPS service that
// answers like the oracle except add(2, 2); the shadow run reports that
// method, with the path and both values, and nothing else.
func TestOracleShadowBrokenCandidate(t *testing.T) {
	o := oracleEnv(t)
	conf, err := cfg.ParseFile(filepath.Join(o.dir, "root", "etc", "dirac.cfg"))
	require.NoError(t, err)
	svc := testharness.NewRecordedService("Framework/Oracle", server.RegistryFromConfig(conf))
	orig, _ := svc.Lookup("add")
	broken := *orig
	broken.Func = func(ctx context.Context, req *server.Request) (any, error) {
		if len(req.Args) == 2 && req.Args[0] == int64(2) && req.Args[1] == int64(2) {
			return int64(5), nil
		}
		return orig.Func(ctx, req)
	}
	svc.Handle("add", broken)
	htls, err := server.NewHTTPSTLSConfig(o.host, o.cas)
	require.NoError(t, err)
	hs := server.NewHTTPS(server.HTTPSConfig{TLS: htls, Logger: quiet}, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = hs.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}()
	candURL := fmt.Sprintf("https://localhost:%d/Framework/Oracle", l.Addr().(*net.TCPAddr).Port)

	sh, err := shadow.New(shadow.Config{Candidates: map[string]string{"Framework/Oracle": candURL},
		ReadOnly: []string{"add", "echo", "echoAny"}, Logger: quiet})
	require.NoError(t, err)
	defer sh.Close()
	dport, _ := startOracleGateway(t, o, sh)
	driveThroughGateway(t, o, dport, "Framework/Oracle", [][]any{
		{"add", 1, 2}, {"add", 2, 2}, {"echo", "x"}, {"add", 3, 4}, {"echoAny", []any{1, "a"}}, {"add", 2, 2},
	})
	rep := drainedReport(t, sh, time.Minute, "real dips vs broken Go https")
	assert.Equal(t, 2, rep.Totals.Divergent)
	for _, m := range rep.Methods {
		if m.Method != "add" {
			assert.Zero(t, m.Divergent, m.Method)
			continue
		}
		assert.Equal(t, 4, m.Compared)
		assert.Equal(t, 2, m.Divergent)
		require.NotEmpty(t, m.Examples)
		ex := m.Examples[0]
		assert.Equal(t, "value-mismatch", ex.Kind)
		assert.Equal(t, "$", ex.Path)
		assert.Equal(t, "4", ex.Primary)
		assert.Equal(t, "5", ex.Candidate)
		assert.Equal(t, "[2, 2]", ex.Args)
	}
}

// TestOracleDIRACTransfersThroughGateway: DIRAC's own TransferClient,
// configured with a gateway, downloads and uploads files of the real DIRAC
// transfer service through the Go gateway (3 MB down, 2.5 MB up, an unknown
// file refused by the service).
func TestOracleDIRACTransfersThroughGateway(t *testing.T) {
	o := oracleEnv(t)
	dport, _ := startOracleGateway(t, o, nil)
	ccfg := clientConfig(o, fmt.Sprintf("dips://localhost:%d/Framework/Gateway", dport))
	got := runDIRACScript(t, o, "dirac_transfer.py", ccfg, "Framework/TransferOracle")
	assert.Equal(t, true, got["get text"]["OK"], "%v", got["get text"])
	assert.EqualValues(t, len("hello DIRAC transfer\n"), got["get text"]["len"])
	assert.Equal(t, true, got["get gen:3000000"]["OK"], "%v", got["get gen:3000000"])
	assert.EqualValues(t, 3000000, got["get gen:3000000"]["len"])
	assert.Equal(t, false, got["get nope"]["OK"])
	assert.Equal(t, "unknown file 'nope'", got["get nope"]["Message"], "the service's own answer, as without the gateway")
	put := got["put up-gw"]
	require.Equal(t, true, put["OK"], "%v", put)
	assert.Equal(t, put["want"], put["md5"])
	assert.EqualValues(t, 2500000, put["size"])
}

// TestOracleGatewayErrorsAsDirect: a service the Go gateway's
// configuration does not define, and a method the real service refuses to
// the caller, give through the gateway what real DIRAC gives directly: the
// same S_ERROR (message, errno) to DIRAC's own Python client and the same
// code to diracrpc's.
func TestOracleGatewayErrorsAsDirect(t *testing.T) {
	o := oracleEnv(t)
	dport, _ := startOracleGateway(t, o, nil)
	proxy, err := credentials.LoadProxy(o.proxy, credentials.LoadOptions{})
	require.NoError(t, err)
	call := func(url, method string, args ...any) error {
		c, err := disetclient.New([]string{url}, diracrpc.Options{Credential: proxy, CAs: o.cas, Logger: quiet, Attempts: 1},
			disetclient.Options{})
		require.NoError(t, err)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err = c.Call(ctx, method, args...)
		require.Error(t, err)
		return err
	}
	gw := fmt.Sprintf("dips://localhost:%d/", dport)
	for _, c := range []struct {
		name, method string
		args         []any
	}{
		{"Framework/Nope", "ping", nil},
		{"Framework/Oracle", "refreshConfiguration", []any{false}}, // CSAdministrator only
	} {
		derr := call("dips://localhost:9150/"+c.name, c.method, c.args...)
		gerr := call(gw+c.name, c.method, c.args...)
		assert.Equal(t, diracrpc.CodeOf(derr), diracrpc.CodeOf(gerr), "direct: %v\nthrough the gateway: %v", derr, gerr)
		var de, ge *diracrpc.Error
		require.ErrorAs(t, derr, &de)
		require.ErrorAs(t, gerr, &ge)
		assert.Equal(t, de.Errno, ge.Errno, c.method)
		assert.Equal(t, de.Message, ge.Message, c.method)
	}

	// DIRAC's client: through the gateway as directly to a real server.
	direct := runDIRAC(t, o, clientConfig(o, ""), "dips://localhost:9150/Framework/Nope")
	through := runDIRAC(t, o, clientConfig(o, gw+"Framework/Gateway"), "Framework/Nope")
	for _, m := range []string{"whoami", "add"} {
		assert.Equal(t, false, through[m]["OK"], m)
		assert.Equal(t, "Framework/Nope is not up in this server", through[m]["Message"], m)
		assert.Equal(t, direct[m]["Message"], through[m]["Message"], m)
		assert.Equal(t, direct[m]["Errno"], through[m]["Errno"], m)
	}
}
