package testharness_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
)

// dipsAndHTTPS returns clients of h's service over dips:// and https://.
func dipsAndHTTPS(t *testing.T, h *testharness.Harness) (dips, https *diracrpc.Client) {
	t.Helper()
	dips, err := h.Client(diracrpc.DIPS)
	require.NoError(t, err)
	https, err = h.Client(diracrpc.HTTPS)
	require.NoError(t, err)
	return dips, https
}

// The tour of the test service shows no divergence between DISET and HTTPS,
// whatever DISET writes, and each expected difference where the protocols
// really differ; the same when the caller's ctx asks for results
// undecoded (compat decodes them).
func TestCallsCompareDISETWithHTTPS(t *testing.T) {
	for _, enc := range []server.Encoding{server.JSON, server.DEncode} {
		h := testharness.NewT(t, testharness.Options{Encoding: enc, DIPAddr: "-"})
		a, b := dipsAndHTTPS(t, h)
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/raw=%v", enc, raw), func(t *testing.T) {
				compareCalls(t, enc, a, b, raw)
			})
		}
	}
}

// compareCalls runs the tour on a and b, in a ctx that asks for results
// undecoded when raw.
func compareCalls(t *testing.T, enc server.Encoding, a, b *diracrpc.Client, raw bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if raw {
		ctx = diracrpc.WithRawResult(ctx)
	}
	rep := compat.Run(ctx, a, b, testharness.Calls(), compat.Options{NameA: "dips", NameB: "https"})
	cancel()
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	s := rep.Summary()
	assert.Zero(t, s.Divergent, text.String())
	assert.Zero(t, s.Failed, text.String())
	out := text.String()
	assert.Contains(t, out, "not-implemented-form")
	assert.Contains(t, out, "exception-form")
	if enc == server.DEncode {
		for _, k := range []compat.Kind{compat.TupleBecameList, compat.KeyBecameString, compat.MicrosecondsDropped, compat.BytesBecameStr} {
			assert.Contains(t, out, string(k))
		}
	}
}

// A refused call: DISET answers ENOAUTH, HTTPS 401; compat calls both the
// same refusal.
func TestRefusedCallIsUnauthorizedFormOnBothProtocols(t *testing.T) {
	svc := testharness.NewTestService("")
	svc.Handle("admin", server.Method{Auth: []string{"ServiceAdministrator"},
		Func: func(context.Context, *server.Request) (any, error) { return "ok", nil }})
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPAddr: "-"})
	a, b := dipsAndHTTPS(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := compat.Run(ctx, a, b, []compat.Call{{Method: "admin"}}, compat.Options{})
	require.Len(t, rep.Cases, 1)
	c := rep.Cases[0]
	assert.Equal(t, compat.Expected, c.Status, "%+v", c.Differences)
	require.Len(t, c.Differences, 1)
	assert.Equal(t, compat.UnauthorizedForm, c.Differences[0].Kind)
}
