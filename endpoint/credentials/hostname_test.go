package credentials_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

func TestVerifyHostnameRules(t *testing.T) {
	ca := pki.NewT(t, pki.Options{})
	must := pki.Must(t)
	cases := []struct {
		cert  *credentials.Credential
		host  string
		match bool
	}{
		{must(ca.Host("dirac.example.org")), "DIRAC.Example.ORG", true},
		{must(ca.Host("*.example.org")), "my.example.org", true},
		{must(ca.Host("m*.example.org")), "my.example.org", true},
		{must(ca.Host("m*.example.org")), "your.example.org", false},
		{must(ca.Host("*.example.org")), "example.org", false},
		{must(ca.Host("*.*.org")), "a.b.org", false},
		{must(ca.Host("*.0.0.1")), "127.0.0.1", false},
		{must(ca.Host("127.0.0.1")), "127.0.0.1", true},
		{must(ca.Host("::1")), "::1", true},
		{must(ca.Host("::1")), "[::1]", true},
		{must(ca.Host("localhost")), "127.0.0.1", false},
		{must(ca.HostCNOnly("Host.Example.org")), "host.example.ORG", true},
		{must(ca.HostCNOnly("*.example.org")), "x.example.org", true},
		{must(ca.HostCNOnly("host.example.org")), "other.example.org", false},
		{must(ca.Host("host.example.org")), "host.example.org.", true},
	}
	for _, tc := range cases {
		err := credentials.VerifyHostname(tc.cert.Leaf(), tc.host)
		if tc.match {
			assert.NoError(t, err, "%v vs %s", tc.cert.Leaf().DNSNames, tc.host)
			continue
		}
		var ve *credentials.VerifyError
		require.True(t, errors.As(err, &ve), "%v vs %s: %v", tc.cert.Leaf().DNSNames, tc.host, err)
		assert.Equal(t, credentials.ReasonHostnameMismatch, ve.Reason)
		assert.NotEmpty(t, ve.Names)
	}
	err := credentials.VerifyHostname(must(ca.HostCNOnly("a.example.org")).Leaf(), "b.example.org")
	assert.ErrorContains(t, err, "CN:a.example.org")
}
