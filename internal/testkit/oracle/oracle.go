// Package oracle is what the opt-in tests against real DIRAC (the scripts
// in ../shared/oracle) share: the environment variables that switch them on
// and the skip, naming its variable, when one is not set. Such tests never
// run in CI.
package oracle

import (
	"os"
	"path/filepath"
	"testing"
)

// The variables that switch the oracle tests on.
const (
	// Dir is the directory made by setup_oracle.sh (e.g. /tmp/dirac-oracle).
	Dir = "DIRACRPC_ORACLE_DIR"
	// Env is that directory's env.sh, for tests that run DIRAC's Python.
	Env = "DIRACRPC_ORACLE_ENV"
	// DISETURLs lists, comma-separated, the URLs of DIRAC's DISET servers.
	DISETURLs = "DIRACRPC_ORACLE_DISET_URLS"
	// HTTPSURL is the URL of a DIRAC Tornado service.
	HTTPSURL = "DIRACRPC_ORACLE_HTTPS_URL"
	// CSDir and WMSDir are the directories of the CS.md and WMS.md
	// extensions, with their servers running.
	CSDir  = "DIRACRPC_ORACLE_CS_DIR"
	WMSDir = "DIRACRPC_ORACLE_WMS_DIR"
)

// Require returns the value of the environment variable, or skips the test
// with "set <variable> to <what> to run this test".
func Require(tb testing.TB, variable, what string) string {
	tb.Helper()
	v := os.Getenv(variable)
	if v == "" {
		tb.Skipf("set %s to %s to run this test", variable, what)
	}
	return v
}

// GridSecurity is the etc/grid-security directory below an oracle directory
// (Dir): host and user certificates, the user's proxy and the CAs.
func GridSecurity(dir string) string { return filepath.Join(dir, "etc", "grid-security") }

// Config is a dirac.cfg in the oracle's setup: Oracle, whose Framework
// instance is Production. dirac is more of the DIRAC section (Security,
// Gateways), framework the content of Systems/Framework/Production (URLs,
// Services; no Systems section when empty), rest the sections after
// (Registry, LocalSite).
func Config(dirac, framework, rest string) string {
	c := "DIRAC\n{\n  Setup = Oracle\n  Setups\n  {\n    Oracle\n    {\n      Framework = Production\n    }\n  }\n" + dirac + "}\n"
	if framework != "" {
		c += "Systems\n{\n  Framework\n  {\n    Production\n    {\n" + framework + "    }\n  }\n}\n"
	}
	return c + rest
}
