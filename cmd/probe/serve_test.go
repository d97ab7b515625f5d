package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// serviceCfg is an installation's configuration for Framework/GoHello: its
// rules, the harness user in the Registry, and optionally the CS.
func serviceCfg(userDN, echoRule, extra string) string {
	return fmt.Sprintf(`DIRAC
{
  Setup = Test
  Setups
  {
    Test
    {
      Framework = Production
    }
  }
  %[3]s
}
Systems
{
  Framework
  {
    Production
    {
      Services
      {
        GoHello
        {
          Authorization
          {
            Default = authenticated
            add = NormalUser
            echo = %[2]s
          }
        }
      }
    }
  }
}
Registry
{
  DefaultGroup = dirac_user
  Users
  {
    testuser
    {
      DN = %[1]s
    }
  }
  Groups
  {
    dirac_user
    {
      Users = testuser
      Properties = NormalUser
    }
  }
}
`, userDN, echoRule, extra)
}

// TestHarnessJoinsAnInstallation: probe harness with a host certificate, a
// CA directory and a configuration serves with the configuration's
// Registry and Authorization (the HTTPS side as System/Tornado<Component>),
// and follows the Configuration Service the configuration names.
func TestHarnessJoinsAnInstallation(t *testing.T) {
	pkiH := startHarness(t) // only for its PKI
	env := pkiH.info.Env
	r := probe(t, env, "", "call", "--format", "typed-json", pkiH.info.DIPSURL, "whoami")
	require.Equal(t, 0, r.code, r.stderr)
	var dn string
	for _, part := range strings.Split(r.stdout, `["DN","`)[1:] {
		dn, _, _ = strings.Cut(part, `"`)
	}
	require.True(t, strings.HasSuffix(dn, "CN=testuser"), r.stdout)
	dir := pkiH.info.Dir
	install := func(conf string, args ...string) *harnessProc {
		return startHarness(t, append([]string{"--service", "Framework/GoHello",
			"--host-cert", filepath.Join(dir, "hostcert.pem"), "--host-key", filepath.Join(dir, "hostkey.pem"),
			"--ca-dir", env["X509_CERT_DIR"], "--config", writeFile(t, conf)}, args...)...)
	}

	t.Run("local configuration", func(t *testing.T) {
		h := install(serviceCfg(dn, "group:dirac_admin", ""))
		require.NotEmpty(t, h.info.DIPSURL)
		require.True(t, strings.HasSuffix(h.info.HTTPSURL, "/Framework/TornadoGoHello"), h.info.HTTPSURL)
		for _, u := range []string{h.info.DIPSURL, h.info.HTTPSURL} {
			r := probe(t, env, "", "call", u, "add", "2", "3")
			assert.Equal(t, 0, r.code, "%s: %s", u, r.stderr)
			r = probe(t, env, "", "call", u, "echo", `"x"`)
			assert.NotEqual(t, 0, r.code, "%s: the rule refuses a non-member of dirac_admin", u)
		}
	})

	t.Run("follows the Configuration Service", func(t *testing.T) {
		csURL, cs := startCSServer(t, cfg.MustParse(serviceCfg(dn, "group:dirac_admin", "Configuration\n  {\n    RefreshTime = 1\n  }")))
		h := install("DIRAC\n{\n  Configuration\n  {\n    Servers = "+csURL+"\n  }\n}\n", "--https-port", "-1", "--dips-port", "0")
		require.Empty(t, h.info.HTTPSURL, "only the ports asked for")
		r := probe(t, env, "", "call", h.info.DIPSURL, "echo", `"x"`)
		require.Equal(t, exitFail, r.code, r.stderr)
		cs.Update(cfg.MustParse(serviceCfg(dn, "NormalUser", "Configuration\n  {\n    RefreshTime = 1\n  }")))
		assert.Eventually(t, func() bool {
			return probe(t, env, "", "call", h.info.DIPSURL, "echo", `"x"`).code == 0
		}, 30*time.Second, 200*time.Millisecond, "the new rule is applied by the running service")
	})

	r = probe(t, env, "", "harness", "--host-cert", filepath.Join(dir, "hostcert.pem"))
	assert.Equal(t, exitUsage, r.code, r.stderr)

	// No Configuration Server answers at start: exit 3, with the fix.
	r = probe(t, env, "", "harness", "--service", "Framework/GoHello",
		"--host-cert", filepath.Join(dir, "hostcert.pem"), "--host-key", filepath.Join(dir, "hostkey.pem"),
		"--ca-dir", env["X509_CERT_DIR"],
		"--config", writeFile(t, "DIRAC\n{\n  Configuration\n  {\n    Servers = dips://"+deadAddr(t)+"/Configuration/Server\n  }\n}\n"))
	assert.Equal(t, exitUnreachable, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no Configuration Server answered")
	assert.Contains(t, r.stderr, "fix: check /DIRAC/Configuration/Servers")
}
