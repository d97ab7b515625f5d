package endpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

func TestSecurityLocator(t *testing.T) {
	c := cfg.MustParse(`DIRAC
{
  Security
  {
    Grid-Security = /opt/grid-security
    CALocation = /opt/cas
    CertFile = /opt/hostcert.pem
    KeyFile = /opt/hostkey.pem
  }
}
`)
	l := SecurityLocator(c, credentials.Locator{})
	assert.Equal(t, "/opt/grid-security", l.GridSecurityDir)
	assert.Equal(t, "/opt/cas", l.CALocation)
	assert.Equal(t, "/opt/hostcert.pem", l.HostCertFile)
	assert.Equal(t, "/opt/hostkey.pem", l.HostKeyFile)

	// What the caller set wins; no configuration changes nothing.
	l = SecurityLocator(c, credentials.Locator{CALocation: "/mine"})
	assert.Equal(t, "/mine", l.CALocation)
	assert.Equal(t, credentials.Locator{CALocation: "/x"}, SecurityLocator(nil, credentials.Locator{CALocation: "/x"}))
}
