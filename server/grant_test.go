package server_test

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// TestHTTPSGrantIsPerCall: the HTTPS server remembers a connection's last
// successful authorisation, and that must never let a call in that a fresh
// authorisation would refuse or demote: another method's rule, another
// extraCredentials, a new configuration, a handler that changed the
// credentials it was given. All calls share one keep-alive connection.
func TestHTTPSGrantIsPerCall(t *testing.T) {
	svc := server.NewService("Framework/Hello")
	who := func(_ context.Context, r *server.Request) (any, error) {
		c := r.Credentials
		return value.NewDict("username", c.Username, "group", c.Group, "properties", strings.Join(c.Properties, ",")), nil
	}
	for _, m := range []string{"other", "admin", "open"} {
		svc.HandleFunc(m, who)
	}
	svc.HandleFunc("tamper", func(ctx context.Context, r *server.Request) (any, error) {
		seen, err := who(ctx, r)
		r.Credentials.Properties[0] = "ServiceAdministrator"
		r.Credentials.Username, r.Credentials.Group = "root", "dirac_admin"
		return seen, err
	})
	e := startHTTPS(t, server.HTTPSConfig{}, svc)
	dn := credentials.SubjectDN(e.userCred.Leaf())
	apply := func(groupUsers string) {
		conf := strings.NewReplacer("/O=Grid/CN=alice", dn, "Users = alice, bob", "Users = "+groupUsers).Replace(installationCfg)
		_, err := svc.ApplyConfig(cfg.MustParse(conf), "")
		require.NoError(t, err)
	}
	apply("alice, bob") // the user certificate is alice's, a member of dirac_user by default

	conns := 0
	call := func(method, extra string) answer {
		t.Helper()
		body := "method=" + method + "&args=%5B%5D"
		if extra != "" {
			body += "&extraCredentials=" + extra
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				conns++
			}
		}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+"/Framework/Hello", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, e.user, req)
	}
	const member = `{"OK": true, "Value": {"username": "alice", "group": "dirac_user", "properties": "NormalUser,FileUpload"}}`
	const visitor = `{"OK": true, "Value": {"username": "anonymous", "group": "visitor", "properties": ""}}`

	a := call("other", "")
	require.Equal(t, 200, a.code)
	assert.Equal(t, member, string(a.body))
	for range 3 {
		a = call("tamper", "")
		assert.Equal(t, member, string(a.body), "a handler's changes reached the next call")
	}

	// Another method, another rule: ServiceAdministrator is not granted by
	// having called "other".
	assert.Equal(t, 401, call("admin", "").code)

	// Another extraCredentials: a group the caller does not belong to.
	a = call("open", "")
	assert.Equal(t, member, string(a.body))
	a = call("open", "%22dirac_admin%22")
	assert.Equal(t, visitor, string(a.body))
	a = call("open", "")
	assert.Equal(t, member, string(a.body))

	// A new configuration where the DN is no longer in its group.
	apply("bob")
	assert.Equal(t, 401, call("other", "").code)
	a = call("open", "")
	assert.Equal(t, visitor, string(a.body))
	apply("alice, bob")
	a = call("other", "")
	assert.Equal(t, member, string(a.body))

	assert.Equal(t, 1, conns, "the calls did not share one connection")
}
