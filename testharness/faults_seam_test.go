package testharness_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/faults"
)

// Options.WrapListener is the seam for package faults: here the first dips
// connection is refused, the next one served.
func TestWrapListenerInjectsFaults(t *testing.T) {
	plan := faults.NewPlan(1).Add(faults.FirstN(1), faults.Fault{Kind: faults.Refuse})
	var wrapped []diracrpc.Protocol
	h := testharness.NewT(t, testharness.Options{DIPAddr: "-", HTTPSAddr: "-",
		WrapListener: func(p diracrpc.Protocol, l net.Listener) net.Listener {
			wrapped = append(wrapped, p)
			return faults.Listen(l, plan)
		}})
	assert.Equal(t, []diracrpc.Protocol{diracrpc.DIPS}, wrapped)
	c, err := h.Client(diracrpc.DIPS)
	require.NoError(t, err)
	_, err = call(t, c, "ping")
	require.Error(t, err)
	res, err := call(t, c, "add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.Value)
}

// Options.WrapHandler puts faults.HTTPMiddleware inside the HTTPS server:
// the first call gets a 503, the next one reaches the service.
func TestWrapHandlerInjectsHTTPFaults(t *testing.T) {
	plan := faults.NewPlan(1).Add(faults.FirstN(1), faults.Fault{Kind: faults.HTTPStatus, Status: 503})
	h := testharness.NewT(t, testharness.Options{DIPAddr: "-", DIPSAddr: "-",
		WrapHandler: func(next http.Handler) http.Handler { return faults.HTTPMiddleware(plan, next) }})
	c, err := h.Client(diracrpc.HTTPS)
	require.NoError(t, err)
	_, err = call(t, c, "ping")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	res, err := call(t, c, "whoami")
	require.NoError(t, err)
	assert.Contains(t, res.Value.(interface{ StringMap() map[string]any }).StringMap()["DN"], "CN=testuser")
}
