package endpoint

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestUseServerCertificate reads the option as DIRAC's ConfigurationData
// does: yes, true or y, in any case; anything else (1 included) is no.
func TestUseServerCertificate(t *testing.T) {
	for v, want := range map[string]bool{"yes": true, "True": true, " Y ": true, "1": false, "no": false, "": false} {
		c := cfg.New()
		require.NoError(t, c.Set(CfgUseServerCertificate, v))
		assert.Equal(t, want, UseServerCertificate(c), "%q", v)
	}
	assert.False(t, UseServerCertificate(cfg.New()))
	assert.False(t, UseServerCertificate(nil))
}
