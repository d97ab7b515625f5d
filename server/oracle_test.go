package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// oracleEnv is the directory set up by ../shared/oracle/setup_oracle.sh
// (named by DIRACRPC_ORACLE_DIR, e.g. /tmp/dirac-oracle) and what the Go
// server needs from it: its host certificate, CA directory and a registry
// knowing its user.
type oracleEnv struct {
	dir, gs string
	host    *credentials.Credential
	cas     *credentials.CAStore
	reg     *server.Registry
}

// loadOracleEnv skips the test (the DIRAC oracle is opt-in) unless
// DIRACRPC_ORACLE_DIR is set; which is the client named in the skip message.
func loadOracleEnv(t *testing.T, which string) *oracleEnv {
	t.Helper()
	dir := oracle.Require(t, oracle.Dir, "the directory made by ../shared/oracle/setup_oracle.sh, to run "+which+" against the Go server,")
	gs := oracle.GridSecurity(dir)
	host, err := credentials.LoadCertKey(filepath.Join(gs, "hostcert.pem"), filepath.Join(gs, "hostkey.pem"),
		credentials.LoadOptions{Kind: credentials.KeyHost, InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	cas, err := credentials.LoadCADir(filepath.Join(gs, "certificates"))
	require.NoError(t, err)
	user, err := credentials.LoadCertKey(filepath.Join(gs, "user", "usercert.pem"), filepath.Join(gs, "user", "userkey.pem"),
		credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	reg := ciRegistry(user)
	return &oracleEnv{dir: dir, gs: gs, host: host, cas: cas, reg: reg}
}

// runClient runs the oracle's client_demo.py (DIRAC's own client, which
// picks RPCClient or TornadoClient from the URL) against url.
func (o *oracleEnv) runClient(t *testing.T, label, url string) {
	t.Helper()
	o.runScript(t, label, filepath.Join(captures.Dir(), "..", "oracle", "client_demo.py"), url)
}

// runScript runs a Python script with DIRAC's environment and the oracle
// user's proxy, url its last argument; env is added to the environment.
func (o *oracleEnv) runScript(t *testing.T, label, script, url string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`. "$1/env.sh" && export X509_USER_PROXY="$2" && $PY "$3" "$4"`,
		"bash", filepath.Join(captures.Dir(), "..", "oracle"), filepath.Join(o.gs, "user", "proxy_dirac.pem"), script, url)
	cmd.Env = append(append(os.Environ(), "ORACLE="+o.dir), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s against the Go server:\n%s", label, out)
	assert.NoError(t, err)
}

// serveDISET serves the oracle's recorded service as Framework/Oracle
// with the Go DISET server (dips:// with secure, else dip://) until the
// test ends, and returns its URL.
func (o *oracleEnv) serveDISET(t *testing.T, secure bool, enc server.Encoding) string {
	t.Helper()
	svc := testharness.NewRecordedService("Framework/Oracle", o.reg)
	svc.Logger = quiet
	cfg := server.DISETConfig{Encoding: enc, Logger: quiet}
	scheme := "dip"
	if secure {
		var err error
		cfg.TLS, err = credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: o.host, CAs: o.cas, RequireClientCert: true})
		require.NoError(t, err)
		scheme = "dips"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.NewDISET(svc, cfg)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return scheme + "://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/Framework/Oracle"
}

// serveHTTPS is serveDISET for the Go HTTPS server, as
// Framework/OracleTornado.
func (o *oracleEnv) serveHTTPS(t *testing.T) string {
	t.Helper()
	svc := testharness.NewRecordedService("Framework/OracleTornado", o.reg)
	svc.Logger = quiet
	tc, err := server.NewHTTPSTLSConfig(o.host, o.cas)
	require.NoError(t, err)
	h := server.NewHTTPS(server.HTTPSConfig{TLS: tc, Logger: quiet}, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	t.Cleanup(func() { h.Close() })
	return "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/Framework/OracleTornado"
}

// TestDIRACClients runs DIRAC's own Python client (the oracle's
// client_demo.py, DIRAC's RPCClient) against the Go server over dips:// and
// dip://. Opt-in: see loadOracleEnv.
func TestDIRACClients(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's client")
	for _, secure := range []bool{true, false} {
		name := map[bool]string{true: "dips", false: "dip"}[secure]
		t.Run(name, func(t *testing.T) {
			o.runClient(t, "DIRAC client", o.serveDISET(t, secure, server.JSON))
		})
	}
}

// TestDIRACHTTPSClient runs DIRAC's own TornadoClient (the oracle's
// client_demo.py) against the Go HTTPS server. Opt-in, like
// TestDIRACClients.
func TestDIRACHTTPSClient(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's HTTPS client")
	o.runClient(t, "DIRAC TornadoClient", o.serveHTTPS(t))
}

// longStringsScript has DIRAC's client send and get back strings of a few
// MiB, which the Go server writes from their own memory (no escape) or
// copied (escapes, non-ASCII).
const longStringsScript = `
import sys
from DIRAC.Core.Base.Script import Script
Script.parseCommandLine(ignoreErrors=True)
from DIRAC.Core.Base.Client import Client
rpc = Client(url=sys.argv[-1])._getRPC()
bad = 0
for name, s in [("plain", "QUJD" * (1 << 19)), ("escapes", 'a"b\\c\n\u00e9' * (1 << 18))]:
    res = rpc.echo(s)
    ok = res.get("OK") and res["Value"] == s
    print(type(rpc).__name__, name, len(s), "OK" if ok else "BAD: %r" % (res.get("Message"),))
    bad += not ok
sys.exit(1 if bad else 0)
`

// TestDIRACClientsGetLongStrings: DIRAC's clients read the long strings
// the Go servers write in pieces, over dips:// in both encodings and over
// https://. Opt-in, like TestDIRACClients.
func TestDIRACClientsGetLongStrings(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's clients")
	script := filepath.Join(t.TempDir(), "long_strings.py")
	require.NoError(t, os.WriteFile(script, []byte(longStringsScript), 0o600))
	for _, enc := range []server.Encoding{server.JSON, server.DEncode} {
		t.Run("dips/"+enc.String(), func(t *testing.T) {
			o.runScript(t, "DIRAC client", script, o.serveDISET(t, true, enc))
		})
	}
	t.Run("https", func(t *testing.T) {
		o.runScript(t, "DIRAC TornadoClient", script, o.serveHTTPS(t))
	})
}

// configuredCfg is an installation's configuration for Framework/GoOracle:
// the oracle's user and host in the Registry, a group the user is not in,
// and rules of every kind.
func configuredCfg(userDN, hostDN string) string {
	return oracle.Config("", `      Services
      {
        GoOracle
        {
          Authorization
          {
            Default = authenticated
            whoami = all
            add = NormalUser
            echo = group:dirac_admin
            echoAny = ServiceAdministrator
          }
        }
      }
`, `Registry
{
  DefaultGroup = dirac_user
  Users
  {
    ciuser
    {
      DN = `+userDN+`
    }
    admin
    {
      DN = /C=ch/O=DIRAC/OU=DIRAC CI/CN=admin
    }
  }
  Groups
  {
    dirac_user
    {
      Users = ciuser
      Properties = NormalUser
    }
    dirac_admin
    {
      Users = admin
      Properties = ServiceAdministrator, NormalUser
    }
  }
  Hosts
  {
    localhost
    {
      DN = `+hostDN+`
      Properties = TrustedHost, ServiceAdministrator
    }
  }
}
`)
}

// TestDIRACClientsMeetAConfiguredService: a Go service whose Registry and
// Authorization come from a DIRAC configuration (ApplyConfig) is called by
// DIRAC's own Python clients over dips://, https:// and dip:// as a member
// (proxy), a user certificate claiming a group it is not in, a host, a
// user certificate claiming "hosts", and an anonymous visitor. What DIRAC's
// clients get must be what DIRAC's AuthManager decides for the same rules
// and credentials, and what the Go service decides in process. Opt-in: see
// loadOracleEnv (and DIRACRPC_ORACLE_ENV is not needed: env.sh is found
// beside the captures).
func TestDIRACClientsMeetAConfiguredService(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's clients against a configured service")
	user, err := credentials.LoadCertKey(filepath.Join(o.gs, "user", "usercert.pem"), filepath.Join(o.gs, "user", "userkey.pem"),
		credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	userDN, hostDN := credentials.SubjectDN(user.Leaf()), credentials.SubjectDN(o.host.Leaf())
	conf := cfg.MustParse(configuredCfg(userDN, hostDN))

	svc := testharness.NewRecordedService("Framework/GoOracle", nil)
	svc.Logger = quiet
	svc.Aliases = []string{"Framework/TornadoGoOracle"}
	sec, err := svc.ApplyConfig(conf, "")
	require.NoError(t, err)

	dipsTLS, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: o.host, CAs: o.cas, RequireClientCert: true})
	require.NoError(t, err)
	httpsTLS, err := server.NewHTTPSTLSConfig(o.host, o.cas)
	require.NoError(t, err)
	listen := func() (net.Listener, string) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return l, "localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	dl, dipsAddr := listen()
	dips := server.NewDISET(svc, server.DISETConfig{TLS: dipsTLS, Logger: quiet})
	go func() { _ = dips.Serve(dl) }()
	defer dips.Close()
	pl, dipAddr := listen()
	dip := server.NewDISET(svc, server.DISETConfig{Logger: quiet})
	go func() { _ = dip.Serve(pl) }()
	defer dip.Close()
	hl, httpsAddr := listen()
	hs := server.NewHTTPS(server.HTTPSConfig{TLS: httpsTLS, Logger: quiet}, svc)
	go func() { _ = hs.Serve(hl) }()
	defer hs.Close()

	cert := func(dn string) *credentials.PeerCredentials {
		return &credentials.PeerCredentials{Subject: dn, Issuer: "/C=ch/O=DIRAC/OU=DIRAC CI/CN=DIRAC CI CA", DN: dn, SecondsLeft: 3600}
	}
	proxy := &credentials.PeerCredentials{Subject: userDN + "/CN=1", Issuer: userDN, DN: userDN, Identity: userDN, IsProxy: true,
		Group: "dirac_user", SecondsLeft: 3600}
	hostEnv := []string{"DIRAC_X509_HOST_CERT=" + filepath.Join(o.gs, "hostcert.pem"), "DIRAC_X509_HOST_KEY=" + filepath.Join(o.gs, "hostkey.pem")}
	userEnv := []string{"DIRAC_X509_HOST_CERT=" + filepath.Join(o.gs, "user", "usercert.pem"),
		"DIRAC_X509_HOST_KEY=" + filepath.Join(o.gs, "user", "userkey.pem")}
	urls := map[string]string{
		"dips":  "dips://" + dipsAddr + "/Framework/GoOracle",
		"https": "https://" + httpsAddr + "/Framework/TornadoGoOracle",
		"dip":   "dip://" + dipAddr + "/Framework/GoOracle",
	}
	callers := []struct {
		name, mode string
		env        []string
		peer       *credentials.PeerCredentials
		extra      any
		protocols  []string
	}{
		{"member (proxy with its group)", "proxy", nil, proxy, nil, []string{"dips", "https"}},
		{"user certificate claiming a group it is not in", "cert:dirac_admin", userEnv, cert(userDN), "dirac_admin", []string{"dips", "https"}},
		{"host", "cert", hostEnv, cert(hostDN), "hosts", []string{"dips", "https"}},
		{"user certificate claiming hosts", "cert", userEnv, cert(userDN), "hosts", []string{"dips", "https"}},
		{"visitor (no certificate)", "proxy", nil, nil, nil, []string{"dip"}},
	}
	methods := []string{"whoami", "add", "echo", "echoAny", "types"}

	// DIRAC's AuthManager on the credentials each caller presents.
	type query struct {
		Method string          `json:"method"`
		Cred   json.RawMessage `json:"cred"`
		// Hardcoded is the method's own rule (DIRAC's auth_<method>), used
		// by both sides where the configuration names none.
		Hardcoded []string `json:"hardcoded,omitempty"`
	}
	var queries []query
	var goOK []bool
	for _, c := range callers {
		for _, m := range methods {
			creds := server.NewCredentials(c.peer, c.extra, svc.CurrentRegistry())
			raw, err := jencode.Marshal(creds.Dict())
			require.NoError(t, err)
			q := query{Method: m, Cred: raw}
			if mm, ok := svc.Lookup(m); ok {
				q.Hardcoded = mm.Auth
			}
			queries = append(queries, q)
			goOK = append(goOK, svc.Authorize(context.Background(), &server.Request{Service: svc.Name, Method: m, Credentials: creds}) == nil)
		}
	}
	oracleDir := filepath.Join(captures.Dir(), "..", "oracle")
	cfgFile := filepath.Join(t.TempDir(), "dirac.cfg")
	require.NoError(t, os.WriteFile(cfgFile, conf.Bytes(), 0o600))
	in, err := json.Marshal(queries)
	require.NoError(t, err)
	script := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", name))
		require.NoError(t, err)
		return p
	}
	run := func(stdin []byte, env []string, args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{"-c",
			`. "$1/env.sh" && export X509_USER_PROXY="$2" && shift 2 && exec $PY "$@"`, "bash", oracleDir,
			filepath.Join(o.gs, "user", "proxy_dirac.pem")}, args...)...)
		cmd.Env = append(append(os.Environ(), "ORACLE="+o.dir), env...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s\n%s", out, stderr.String())
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		return lines[len(lines)-1]
	}
	var verdicts []struct {
		OK       bool   `json:"ok"`
		Username string `json:"username"`
		Group    string `json:"group"`
	}
	require.NoError(t, json.Unmarshal(run(in, nil, script("authquery.py"), cfgFile, sec.Path+"/Authorization"), &verdicts))
	require.Len(t, verdicts, len(queries))

	i := 0
	for _, c := range callers {
		want := verdicts[i : i+len(methods)]
		wantGo := goOK[i : i+len(methods)]
		i += len(methods)
		for _, proto := range c.protocols {
			t.Run(c.name+"/"+proto, func(t *testing.T) {
				var got map[string]struct {
					OK    bool
					Errno int
					Value map[string]any
				}
				line := run(nil, c.env, script("configuredcalls.py"), urls[proto], c.mode)
				require.NoError(t, json.Unmarshal(line, &got), "%s", line)
				for j, m := range methods {
					t.Logf("%-48s %-5s %-8s DIRAC client got OK=%-5v | AuthManager ok=%-5v | Go ok=%v",
						c.name, proto, m, got[m].OK, want[j].OK, wantGo[j])
					assert.Equal(t, want[j].OK, got[m].OK, "%s over %s, %s: AuthManager's decision", c.name, proto, m)
					assert.Equal(t, wantGo[j], got[m].OK, "%s over %s, %s: the Go decision in process", c.name, proto, m)
				}
				if who := got["whoami"]; who.OK && c.peer != nil && want[0].Group != "visitor" {
					assert.Equal(t, want[0].Username, who.Value["username"], "%s over %s: username", c.name, proto)
					assert.Equal(t, want[0].Group, who.Value["group"], "%s over %s: group", c.name, proto)
				}
			})
		}
	}
}
