package server_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`. "$1/env.sh" && export X509_USER_PROXY="$2" && $PY "$1/client_demo.py" "$3"`,
		"bash", filepath.Join(captures.Dir(), "..", "oracle"), filepath.Join(o.gs, "user", "proxy_dirac.pem"), url)
	cmd.Env = append(os.Environ(), "ORACLE="+o.dir)
	out, err := cmd.CombinedOutput()
	t.Logf("%s against the Go server:\n%s", label, out)
	assert.NoError(t, err)
}

// TestDIRACClients runs DIRAC's own Python client (the oracle's
// client_demo.py, DIRAC's RPCClient) against the Go server over dips:// and
// dip://. Opt-in: see loadOracleEnv.
func TestDIRACClients(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's client")
	for _, secure := range []bool{true, false} {
		name := map[bool]string{true: "dips", false: "dip"}[secure]
		t.Run(name, func(t *testing.T) {
			svc := testharness.NewRecordedService("Framework/Oracle", o.reg)
			svc.Logger = quiet
			cfg := server.DISETConfig{Logger: quiet}
			if secure {
				var err error
				cfg.TLS, err = credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: o.host, CAs: o.cas, RequireClientCert: true})
				require.NoError(t, err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			srv := server.NewDISET(svc, cfg)
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			o.runClient(t, "DIRAC client", name+"://localhost:"+strconv.Itoa(l.Addr().(*net.TCPAddr).Port)+"/Framework/Oracle")
		})
	}
}

// TestDIRACHTTPSClient runs DIRAC's own TornadoClient (the oracle's
// client_demo.py) against the Go HTTPS server. Opt-in, like
// TestDIRACClients.
func TestDIRACHTTPSClient(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's HTTPS client")
	svc := testharness.NewRecordedService("Framework/OracleTornado", o.reg)
	svc.Logger = quiet
	tc, err := server.NewHTTPSTLSConfig(o.host, o.cas)
	require.NoError(t, err)
	h := server.NewHTTPS(server.HTTPSConfig{TLS: tc, Logger: quiet}, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	defer h.Close()
	o.runClient(t, "DIRAC TornadoClient", "https://localhost:"+strconv.Itoa(l.Addr().(*net.TCPAddr).Port)+"/Framework/OracleTornado")
}
