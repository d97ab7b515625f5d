package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
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
