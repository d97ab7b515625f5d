package endpoint

import (
	"strings"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// The options of a DIRAC configuration that say where credentials are
// (DIRAC's Locations module reads them).
const (
	CfgGridSecurity = "/DIRAC/Security/Grid-Security"
	CfgCALocation   = "/DIRAC/Security/CALocation"
	CfgCertFile     = "/DIRAC/Security/CertFile"
	CfgKeyFile      = "/DIRAC/Security/KeyFile"
	// CfgUseServerCertificate makes DIRAC's clients present the host
	// certificate and announce themselves as a host (useCertificates),
	// as services, agents and admin scripts run with
	// "-o /DIRAC/Security/UseServerCertificate=yes" do.
	CfgUseServerCertificate = "/DIRAC/Security/UseServerCertificate"
)

// UseServerCertificate reports whether the configuration c sets
// /DIRAC/Security/UseServerCertificate, read as DIRAC reads it: yes, true
// or y, in any case ("1" is not). Give it the local configuration, as for
// SecurityLocator: which credential a client presents is the machine's
// decision.
func UseServerCertificate(c *cfg.Config) bool {
	if c == nil {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(c.GetDefault(CfgUseServerCertificate, ""))) {
	case "yes", "true", "y":
		return true
	}
	return false
}

// SecurityLocator returns l completed by what the configuration c says
// about credential files, where l leaves them empty: Grid-Security,
// CALocation, CertFile and KeyFile of /DIRAC/Security. l then finds them in
// DIRAC's order (credentials.Locator.CADir: a CALocation directory wins
// over X509_CERT_DIR, as in DIRAC).
//
// Give it the local configuration (the files of the machine, cfg.Load):
// DIRAC also reads these options from the Configuration Service's data,
// but which CAs a client trusts is the machine's decision, not the remote
// configuration's.
func SecurityLocator(c *cfg.Config, l credentials.Locator) credentials.Locator {
	if c == nil {
		return l
	}
	fill := func(field *string, path string) {
		if *field == "" {
			*field = strings.TrimSpace(c.GetDefault(path, ""))
		}
	}
	fill(&l.GridSecurityDir, CfgGridSecurity)
	fill(&l.CALocation, CfgCALocation)
	fill(&l.HostCertFile, CfgCertFile)
	fill(&l.HostKeyFile, CfgKeyFile)
	return l
}
