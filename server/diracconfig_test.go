package server_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
)

// prodServices opens the Services section of Framework in the setup
// Production (instance Prod); what follows are services, then
// prodServicesEnd and the other sections.
const prodServices = `
DIRAC
{
  Setup = Production
  Setups
  {
    Production
    {
      Framework = Prod
    }
  }
}
Systems
{
  Framework
  {
    Prod
    {
      Services
      {
`

// prodServicesEnd closes what prodServices opened.
const prodServicesEnd = `      }
    }
  }
}
`

// installationCfg is the shape of a real installation's configuration: the
// Registry and the service's section with its Authorization rules.
const installationCfg = prodServices + `        Hello
        {
          Port = 9199
          Protocol = https
          Authorization
          {
            Default = authenticated
            admin = ServiceAdministrator
            forUsers = group:dirac_user
            open = all
            FileTransfer
            {
              Default = authenticated
              FromClient = FileUpload
            }
          }
        }
` + prodServicesEnd + `Registry
{
  DefaultGroup = dirac_user
  Users
  {
    alice
    {
      DN = /O=Grid/CN=alice
      DN += /O=Other/CN=alice
    }
    bob
    {
      DN = /O=Grid/CN=bob
      DefaultGroup = dirac_admin
    }
  }
  Groups
  {
    dirac_user
    {
      Users = alice, bob
      Properties = NormalUser, FileUpload
      VO = vo1
    }
    dirac_admin
    {
      Users = bob
      Properties = ServiceAdministrator
    }
  }
  Hosts
  {
    box.example.org
    {
      DN = /O=Grid/CN=box.example.org
      Properties = TrustedHost, ServiceAdministrator
    }
  }
}
`

func TestRegistryAndAuthorizationFromConfig(t *testing.T) {
	c := cfg.MustParse(installationCfg)
	reg := server.RegistryFromConfig(c)
	assert.Equal(t, []string{"/O=Grid/CN=alice", "/O=Other/CN=alice"}, reg.Users["alice"].DNs)
	assert.Equal(t, []string{"dirac_admin"}, reg.Users["bob"].DefaultGroup)
	assert.Equal(t, server.Group{Users: []string{"alice", "bob"}, Properties: []string{"NormalUser", "FileUpload"}, VO: "vo1"},
		reg.Groups["dirac_user"])
	assert.Equal(t, []string{"dirac_user"}, reg.DefaultGroups)
	assert.Equal(t, "/O=Grid/CN=box.example.org", reg.Hosts["box.example.org"].DN)

	sec, err := server.ServiceSectionFromConfig(c, "Framework/Hello", "")
	require.NoError(t, err)
	assert.Equal(t, "/Systems/Framework/Prod/Services/Hello", sec.Path)
	assert.Equal(t, 9199, sec.Port)
	assert.Equal(t, "https", sec.Protocol)
	assert.Equal(t, []string{"authenticated"}, sec.DefaultAuth)
	assert.Equal(t, map[string][]string{
		"admin": {"ServiceAdministrator"}, "forUsers": {"group:dirac_user"}, "open": {"all"},
		"FileTransfer/Default": {"authenticated"}, "FileTransfer/FromClient": {"FileUpload"},
	}, sec.Authorization)

	_, err = server.ServiceSectionFromConfig(c, "Framework/Missing", "")
	assert.ErrorIs(t, err, server.ErrNotConfigured)
	_, err = server.ServiceSectionFromConfig(c, "Framework/Hello", "Other")
	assert.ErrorIs(t, err, server.ErrNotConfigured)
	_, err = server.ServiceSectionFromConfig(c, "Hello", "")
	assert.Error(t, err)

	bad := cfg.MustParse(installationCfg)
	require.NoError(t, bad.Set("/Systems/Framework/Prod/Services/Hello/Port", "http"))
	_, err = server.ServiceSectionFromConfig(bad, "Framework/Hello", "")
	assert.ErrorContains(t, err, "Port")
}

// TestApplyConfigDecisions: the rules and Registry read from the
// configuration decide as DIRAC's AuthManager does, for members, hosts,
// properties and anonymous visitors.
func TestApplyConfigDecisions(t *testing.T) {
	svc := server.NewService("Framework/Hello")
	for _, m := range []string{"admin", "forUsers", "open", "other"} {
		svc.HandleFunc(m, func(context.Context, *server.Request) (any, error) { return "ok", nil })
	}
	_, err := svc.ApplyConfig(cfg.MustParse(installationCfg), "")
	require.NoError(t, err)

	proxy := func(dn, group string) *credentials.PeerCredentials {
		return &credentials.PeerCredentials{Subject: dn + "/CN=123", Issuer: dn, DN: dn, Identity: dn, IsProxy: true, Group: group, SecondsLeft: 3600}
	}
	host := &credentials.PeerCredentials{Subject: "/O=Grid/CN=box.example.org", Issuer: "/O=Grid/CN=CA", DN: "/O=Grid/CN=box.example.org", SecondsLeft: 3600}
	for _, tc := range []struct {
		name   string
		peer   *credentials.PeerCredentials
		extra  any
		method string
		ok     bool
		user   string
		group  string
	}{
		{"member default group, default rule", proxy("/O=Grid/CN=alice", ""), nil, "other", true, "alice", "dirac_user"},
		{"member by second DN", proxy("/O=Other/CN=alice", ""), nil, "forUsers", true, "alice", "dirac_user"},
		{"user's own default group", proxy("/O=Grid/CN=bob", ""), nil, "admin", true, "bob", "dirac_admin"},
		{"property missing", proxy("/O=Grid/CN=alice", "dirac_user"), nil, "admin", false, "", ""},
		{"group rule, other group", proxy("/O=Grid/CN=bob", "dirac_admin"), nil, "forUsers", false, "", ""},
		{"host with property", host, "hosts", "admin", true, "box.example.org", "hosts"},
		{"visitor, all", nil, nil, "open", true, "", ""}, // DIRAC returns before naming a DN-less caller
		{"visitor, authenticated", nil, nil, "other", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &server.Request{Service: svc.Name, Method: tc.method,
				Credentials: server.NewCredentials(tc.peer, tc.extra, svc.CurrentRegistry())}
			err := svc.Authorize(context.Background(), req)
			if !tc.ok {
				require.NotNil(t, err)
				assert.Equal(t, 1111, err.Errno)
				return
			}
			require.Nil(t, err)
			assert.Equal(t, tc.user, req.Credentials.Username)
			assert.Equal(t, tc.group, req.Credentials.Group)
		})
	}
}
