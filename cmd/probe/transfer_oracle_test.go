package main

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/testharness"
)

// TestOracleProbeTransfer: probe get, put and compare --get against DIRAC's
// TransferOracle, by URL and by name through the real Configuration
// Service, over both protocols; an unknown file leaves no output file.
func TestOracleProbeTransfer(t *testing.T) {
	dir, env := oracleEnv(t, "DIRACRPC_ORACLE_CS_DIR", "CS.md")
	cfg := filepath.Join(dir, "client-dips", "etc", "dirac.cfg")
	tmp := t.TempDir()
	data := make([]byte, 3_000_000)
	_, _ = testharness.GenReader(3_000_000).Read(data)
	src := filepath.Join(tmp, "src")
	require.NoError(t, os.WriteFile(src, data, 0o600))
	sum := md5.Sum(data)
	for _, ep := range []string{"Framework/TransferOracle", "Framework/TransferOracleTornado",
		"dips://localhost:9236/Framework/TransferOracle", "https://localhost:8445/Framework/TransferOracleTornado"} {
		out := filepath.Join(tmp, "out")
		r := probe(t, env, "", "get", "--config", cfg, "-o", out, ep, `"gen:3000000"`)
		require.Equal(t, 0, r.code, "%s: %s", ep, r.stderr)
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, data, got, ep)

		id := `"go-probe-` + hex.EncodeToString(sum[:4]) + `"`
		r = probe(t, env, "", "put", "--config", cfg, "--token", "tok", ep, id, src)
		require.Equal(t, 0, r.code, "%s: %s", ep, r.stderr)
		r = probe(t, env, "", "call", "--config", cfg, ep, "lastUpload", id)
		require.Equal(t, 0, r.code, "%s: %s", ep, r.stderr)
		assert.Contains(t, r.stdout, hex.EncodeToString(sum[:]), ep)

		missing := filepath.Join(tmp, "missing")
		r = probe(t, env, "", "get", "--config", cfg, "-o", missing, ep, `"nope"`)
		assert.Equal(t, exitFail, r.code, r.stderr)
		assert.Contains(t, r.stderr, "unknown file")
		assert.NoFileExists(t, missing)
	}
	r := probe(t, env, "", "compare", "--config", cfg, "--get", `"gen:3000000"`, "Framework/TransferOracle", "Framework/TransferOracleTornado")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "identical bytes")
	assert.Contains(t, r.stdout, hex.EncodeToString(sum[:]))
	assert.Equal(t, 2, strings.Count(r.stdout, "3000000 bytes"))

	// BundleDelivery's CA bundle by name; the current version is no error.
	out := filepath.Join(tmp, "cas.pem")
	r = probe(t, env, "", "get", "--config", cfg, "-o", out, "Framework/BundleDelivery", `"CAs"`)
	require.Equal(t, 0, r.code, r.stderr)
	pem, _ := os.ReadFile(out)
	assert.Contains(t, string(pem), "BEGIN CERTIFICATE")
}
