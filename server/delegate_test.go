package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

// delegationService has a method that asks for the caller's proxy and
// reports what it got.
func delegationService() *server.Service {
	svc := testharness.NewTestService("Framework/Delegation")
	svc.Handle("delegated", server.Method{Delegate: true, Auth: []string{"authenticated"},
		Func: func(ctx context.Context, req *server.Request) (any, error) {
			if req.Delegated == nil {
				return nil, diracrpc.NewError(0, "nothing delegated")
			}
			pc, err := credentials.CredentialsFromChain(req.Delegated.Chain, time.Now())
			if err != nil {
				return nil, err
			}
			return map[string]any{"DN": pc.DN, "group": pc.Group, "limited": pc.IsLimitedProxy,
				"issuer": credentials.SubjectDN(req.Delegated.Chain[1]), "hasKey": req.Delegated.PrivateKey != nil}, nil
		}})
	return svc
}

// TestDelegationGoClientToGoServer: the Go DISET client delegates its
// credential to a Go service method that asks for it, keeping its identity,
// group and limitation; over HTTPS the method runs without a delegation.
func TestDelegationGoClientToGoServer(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{Service: delegationService()})
	must := pki.Must(t)
	limited := must(h.CA.Proxy(h.Files.User, pki.Limited))
	for name, cred := range map[string]*credentials.Credential{
		"proxy":         h.Files.ProxyCred,
		"limited proxy": limited,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			opts := h.Options()
			opts.Credential = cred
			c, err := newDISETClient(h.DIPSURL, opts)
			require.NoError(t, err)
			res, err := c.Call(ctx, "delegated")
			require.NoError(t, err)
			var got struct {
				DN, Group, Issuer string
				Limited, HasKey   bool
			}
			require.NoError(t, res.Decode(&got))
			want, err := credentials.CredentialsFromChain(cred.Chain, time.Now())
			require.NoError(t, err)
			assert.Equal(t, want.DN, got.DN)
			assert.Equal(t, want.Group, got.Group)
			assert.Equal(t, want.IsLimitedProxy, got.Limited)
			assert.Equal(t, want.Subject, got.Issuer)
			assert.True(t, got.HasKey)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := h.Client(diracrpc.HTTPS)
	require.NoError(t, err)
	_, err = c.Call(ctx, "delegated")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing delegated")
}

func newDISETClient(url string, opts diracrpc.Options) (*diracrpc.Client, error) {
	return disetclient.New([]string{url}, opts, disetclient.Options{})
}

// TestDelegationRefusedOnTheWire: a client answering the delegation request
// with a chain that is not a proxy of its own (another user's, or garbage)
// gets DIRAC's "Error in receiving delegated proxy" and the method never
// runs.
func TestDelegationRefusedOnTheWire(t *testing.T) {
	svc := delegationService()
	var ran atomic.Int64
	testharness.CountCalls(svc, "delegated", &ran)
	h := testharness.NewT(t, testharness.Options{Service: svc})
	must := pki.Must(t)
	other := must(h.CA.Proxy(must(h.CA.User("mallory")), pki.RFC3820))
	u, err := endpoint.ParseURL(h.DIPSURL)
	require.NoError(t, err)
	for name, answer := range map[string]func(csr string) any{
		"another user's proxy": func(csr string) any {
			chain, err := credentials.SignProxyRequest(other, []byte(csr), 0)
			require.NoError(t, err)
			return string(chain)
		},
		"garbage":        func(string) any { return "not a chain" },
		"not a string":   func(string) any { return diracrpc.OK(nil) },
		"own chain only": func(string) any { return string(pki.CertPEM(h.Files.ProxyCred)) },
	} {
		t.Run(name, func(t *testing.T) {
			ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: h.Files.ProxyCred, CAs: h.CA.Store()})
			require.NoError(t, err)
			d := tls.Dialer{Config: ct.Config("localhost")}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(u.Port)))
			require.NoError(t, err)
			defer nc.Close()
			require.NoError(t, nc.SetDeadline(time.Now().Add(20*time.Second)))
			conn := diset.NewConn(nc, diset.JSON)
			require.NoError(t, conn.Send(diracrpc.OK([]any{[]any{"Framework/Delegation", "Test", "vo"}, []any{"RPC", "delegated"}, "", "test"})))
			r1, _, err := conn.Recv(0)
			require.NoError(t, err)
			v, err := diracrpc.ParseResult(r1)
			require.NoError(t, err)
			csr, ok := v.(*value.Dict).Lookup("delegate")
			require.True(t, ok)
			require.NoError(t, conn.Send(answer(csr.(string))))
			r2, _, err := conn.Recv(0)
			require.NoError(t, err)
			_, err = diracrpc.ParseResult(r2)
			var de *diracrpc.Error
			require.ErrorAs(t, err, &de)
			assert.Contains(t, de.Message, "Error in receiving delegated proxy")
		})
	}
	assert.Zero(t, ran.Load())
}
