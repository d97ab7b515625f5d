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
	"github.com/diracgo/diracrpc/internal/oracletest"
	"github.com/diracgo/diracrpc/server"
)

// TestDIRACHTTPSClient runs DIRAC's own TornadoClient (the oracle's
// client_demo.py) against the Go HTTPS server. Opt-in, like
// TestDIRACClients: DIRACRPC_ORACLE_DIR names the directory set up by
// ../shared/oracle/setup_oracle.sh.
func TestDIRACHTTPSClient(t *testing.T) {
	dir := os.Getenv("DIRACRPC_ORACLE_DIR")
	if dir == "" {
		t.Skip("set DIRACRPC_ORACLE_DIR to the directory made by ../shared/oracle/setup_oracle.sh to run DIRAC's HTTPS client against the Go server")
	}
	gs := filepath.Join(dir, "etc", "grid-security")
	host, err := credentials.LoadCertKey(filepath.Join(gs, "hostcert.pem"), filepath.Join(gs, "hostkey.pem"),
		credentials.LoadOptions{Kind: credentials.KeyHost, InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	cas, err := credentials.LoadCADir(filepath.Join(gs, "certificates"))
	require.NoError(t, err)
	user, err := credentials.LoadCertKey(filepath.Join(gs, "user", "usercert.pem"), filepath.Join(gs, "user", "userkey.pem"),
		credentials.LoadOptions{InsecureSkipPermissionCheck: true})
	require.NoError(t, err)
	reg := &server.Registry{
		Users:  map[string]server.User{"ciuser": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"ciuser"}, Properties: []string{"NormalUser"}}},
	}
	svc := oracletest.NewService("Framework/OracleTornado", reg, nil)
	svc.Logger = quiet
	tc, err := server.NewHTTPSTLSConfig(host, cas)
	require.NoError(t, err)
	h := server.NewHTTPS(server.HTTPSConfig{TLS: tc, Logger: quiet}, svc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	defer h.Close()
	url := "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/Framework/OracleTornado"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	scripts := filepath.Join(oracletest.CapturesDir(), "..", "oracle")
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`. "$1/env.sh" && export X509_USER_PROXY="$2" && $PY "$1/client_demo.py" "$3"`,
		"bash", scripts, filepath.Join(gs, "user", "proxy_dirac.pem"), url)
	cmd.Env = append(os.Environ(), "ORACLE="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("DIRAC TornadoClient against the Go server:\n%s", out)
	assert.NoError(t, err)
}
