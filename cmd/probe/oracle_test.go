package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oracleEnv skips the test unless variable names the directory of the
// oracle extension of ../shared/oracle/<doc> with its servers running; it
// returns the directory and the credentials of the environment.
func oracleEnv(t *testing.T, variable, doc string) (string, map[string]string) {
	t.Helper()
	dir := oracle.Require(t, variable, "the directory of ../shared/oracle/"+doc+" (servers running), and X509_USER_PROXY, X509_CERT_DIR,")
	env := map[string]string{}
	for _, k := range []string{"X509_USER_PROXY", "X509_CERT_DIR"} {
		env[k] = os.Getenv(k)
	}
	return dir, env
}

// TestOracleProbeByName: probe resolves names through DIRAC's real
// Configuration Servers from client configurations that list only them
// (dips JSON, dips DEncode, https, a dead CS first), over both protocols,
// with aliases and failover entries.
func TestOracleProbeByName(t *testing.T) {
	dir, env := oracleEnv(t, oracle.CSDir, "CS.md")
	for _, client := range []string{"client-dips", "client-denc", "client-https", "client-all"} {
		file := filepath.Join(dir, client, "etc", "dirac.cfg")
		for _, name := range []string{"Framework/Oracle", "Framework/OracleTornado", "Framework/OracleTornadoAlias",
			"Framework/OracleFailover", "Framework/OracleTornadoFailover", "Framework/OracleTwoURLs", "Framework/OraclePlainDEnc"} {
			r := probe(t, env, "", "call", "--config", file, name, "echo", `"x"`)
			assert.Equal(t, 0, r.code, "%s %s: %s", client, name, r.stderr)
			assert.Equal(t, "\"x\"\n", r.stdout, "%s %s", client, name)
		}
		r := probe(t, env, "", "call", "--config", file, "Framework/NotThere", "echo", `"x"`)
		assert.Equal(t, exitConfig, r.code, "%s: %s", client, r.stderr)
	}
	r := probe(t, env, "", "ping", "-v", "--config", filepath.Join(dir, "client-all", "etc", "dirac.cfg"), "Framework/OracleTornadoAlias")
	require.Equal(t, 0, r.code, r.stderr)
	// The servers are asked in random order, as DIRAC asks them: the dead
	// one may or may not come first, and when it does, it fails.
	if strings.Contains(r.stderr, "9299/Configuration/Server getCompressedDataIfNewer") {
		assert.Contains(t, r.stderr, "dips://localhost:9299/Configuration/Server getCompressedDataIfNewer: failed")
	}
	assert.Contains(t, r.stderr, "getCompressedDataIfNewer: answered")
	assert.Contains(t, r.stderr, "Configuration Service version 2024-10-17 12:00:00.000000")
	assert.Contains(t, r.stdout, "https://localhost:8443/Framework/OracleTornado")
	r = probe(t, env, "", "call", "--no-cs", "--config", filepath.Join(dir, "client-dips", "etc", "dirac.cfg"), "Framework/Oracle", "ping")
	assert.Equal(t, exitConfig, r.code, r.stderr)

	// The client configurations name the CA directory (CALocation): as for
	// DIRAC's clients, it wins over X509_CERT_DIR, here one without CAs.
	noCAs := map[string]string{"X509_USER_PROXY": env["X509_USER_PROXY"], "X509_CERT_DIR": t.TempDir()}
	for _, client := range []string{"client-dips", "client-https"} {
		r = probe(t, noCAs, "", "ping", "--config", filepath.Join(dir, client, "etc", "dirac.cfg"), "Framework/Oracle")
		assert.Equal(t, 0, r.code, "%s: %s", client, r.stderr)
	}
}

// TestOracleScan: probe scan --json against the real CS lists every URL of
// the test entries with the right status, in the same order on every run.
func TestOracleScan(t *testing.T) {
	dir, env := oracleEnv(t, oracle.CSDir, "CS.md")
	want := []string{
		"Framework/OracleFailover main dips://localhost:9299/Framework/Oracle false",
		"Framework/OracleFailover failover dips://localhost:9150/Framework/Oracle true",
		"Framework/OracleTornadoFailover main https://localhost:8499/Framework/OracleTornado false",
		"Framework/OracleTornadoFailover failover https://localhost:8443/Framework/OracleTornado true",
		"Framework/OracleTwoURLs main dips://localhost:9299/Framework/Oracle false",
		"Framework/OracleTwoURLs main dips://localhost:9150/Framework/Oracle true",
	}
	var first string
	for run := range 3 {
		r := probe(t, env, "", "scan", "--json", "--config", filepath.Join(dir, "client-all", "etc", "dirac.cfg"))
		assert.Equal(t, exitFail, r.code, "dead URLs, but every service has a working one: %s", r.stderr)
		var got []string
		for _, row := range scanLines(t, r.stdout) {
			switch row.Service {
			case "Framework/OracleFailover", "Framework/OracleTornadoFailover", "Framework/OracleTwoURLs":
				got = append(got, fmt.Sprintf("%s %s %s %v", row.Service, row.Role, row.URL, row.OK))
			}
		}
		assert.Equal(t, want, got, "run %d", run)
		order := ""
		for _, row := range scanLines(t, r.stdout) {
			order += row.Service + " " + row.URL + "\n"
		}
		if run == 0 {
			first = order
			t.Logf("scan --json:\n%s", r.stdout)
		} else {
			assert.Equal(t, first, order, "run %d lists the rows in the same order", run)
		}
		assert.True(t, strings.Contains(r.stderr, "HTTPS only:") && strings.Contains(r.stderr, "DISET only:"), r.stderr)
	}
}

// TestOracleProbeWMS: the client configurations of DIRAC's real WMS
// (dips:// services, and https:// Tornado<Handler> services) work by name
// through probe.
func TestOracleProbeWMS(t *testing.T) {
	dir, env := oracleEnv(t, oracle.WMSDir, "WMS.md")
	for client, proto := range map[string]string{"client-dips": "dips", "client-https": "https"} {
		file := filepath.Join(dir, client, "etc", "dirac.cfg")
		r := probe(t, env, "", "call", "--json", "--config", file, "WorkloadManagement/JobMonitoring", "getJobs", "{}")
		require.Equal(t, 0, r.code, "%s: %s", client, r.stderr)
		assert.Contains(t, r.stdout, `"protocol":"`+proto+`"`)
		r = probe(t, env, "", "call", "--config", file, "WorkloadManagement/JobMonitoring", "getJobsStatus", "[1]")
		assert.Equal(t, 0, r.code, "%s: %s", client, r.stderr)
		r = probe(t, env, "", "call", "--config", file, "WorkloadManagement/JobManager", "getMaxParametricJobs")
		assert.Equal(t, 0, r.code, "%s: %s", client, r.stderr)
		assert.Equal(t, "100\n", r.stdout)
		r = probe(t, env, "", "scan", "--json", "--config", file)
		assert.Equal(t, 0, r.code, "%s: %s", client, r.stderr)
		assert.Len(t, scanLines(t, r.stdout), 4, "%s: the four WMS services", client)
	}
}

// TestOracleProbeTakesTheSelectorsProtocol: a Tornado service whose
// failover URL is DISET is called over HTTPS, as DIRAC's client selector
// calls it (real WMS services, WMS.md).
func TestOracleProbeTakesTheSelectorsProtocol(t *testing.T) {
	_, env := oracleEnv(t, oracle.WMSDir, "WMS.md")
	conf := writeFile(t, `DIRAC
{
  Setup = Oracle
  Setups
  {
    Oracle
    {
      WorkloadManagement = Production
    }
  }
}
Systems
{
  WorkloadManagement
  {
    Production
    {
      URLs
      {
        JobMonitoring = https://localhost:8446/WorkloadManagement/TornadoJobMonitoring
      }
      FailoverURLs
      {
        JobMonitoring = dips://localhost:9331/WorkloadManagement/JobMonitoring
      }
    }
  }
}
`)
	r := probe(t, env, "", "call", "--json", "--config", conf, "WorkloadManagement/JobMonitoring", "getJobsStatus", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"url":"https://localhost:8446/WorkloadManagement/TornadoJobMonitoring"`)
}
