package testharness_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/testharness"
)

// DIRAC's own Python clients (RPCClient over dips:// and dip://,
// TornadoClient over https://) call the harness with the environment it
// gives. Opt-in: set DIRACRPC_ORACLE_ENV to ../shared/oracle/env.sh of a
// machine prepared with ../shared/oracle/setup_oracle.sh.
func TestDIRACPythonClientsCallTheHarness(t *testing.T) {
	envSh := oracle.Require(t, oracle.Env, "the path to ../shared/oracle/env.sh")
	demo := filepath.Join(filepath.Dir(envSh), "client_demo.py")
	h := testharness.NewT(t, testharness.Options{})
	// A DIRAC root of our own, so that no other dirac.cfg names other CAs.
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	cfg, err := os.ReadFile(h.ConfigFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc", "dirac.cfg"), cfg, 0o644))
	for _, u := range h.URLs() {
		scheme, _, _ := strings.Cut(u, "://")
		t.Run(scheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			script := `. "$1" && export DIRAC_ROOT_PATH="$2" X509_CERT_DIR="$3" X509_USER_PROXY="$4" && exec /usr/bin/python3 "$5" "$6"`
			cmd := exec.CommandContext(ctx, "bash", "-c", script, "bash", envSh, root,
				h.Env["X509_CERT_DIR"], h.Env["X509_USER_PROXY"], demo, u)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "add(2, 3) -> {'OK': True, 'Value': 5}")
			assert.Contains(t, string(out), "failErrno(1111, 'custom') -> {'OK': False, 'Errno': 1111, 'Message': 'Unauthorized query ( 1111 : custom)'}")
			assert.Contains(t, string(out), "now() -> {'OK': True, 'Value': datetime.datetime(2024, 1, 2, 3, 4, 5)}")
		})
	}
}
