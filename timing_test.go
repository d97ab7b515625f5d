package diracrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/testharness"
)

// Both transports fill a Timing carried by the call's context.
func TestTimingBothTransports(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.DIP, diracrpc.HTTPS} {
		c, err := h.Client(p)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var tm diracrpc.Timing
		_, err = c.Call(diracrpc.WithTiming(ctx, &tm), "add", 2, 3)
		require.NoError(t, err)
		ph := tm.Phases()
		assert.Equal(t, h.URL(p), ph.URL, p)
		assert.Equal(t, 1, ph.Attempts, p)
		assert.Positive(t, ph.DNS, "%s: localhost is looked up", p)
		assert.Positive(t, ph.Connect, p)
		assert.Positive(t, ph.Server, p)
		assert.Positive(t, ph.Total, p)
		sum := ph.DNS + ph.Connect + ph.TLS + ph.Proposal + ph.Server + ph.Transfer
		assert.LessOrEqual(t, sum, ph.Total, p)
		switch p {
		case diracrpc.DIPS:
			assert.Positive(t, ph.TLS, p)
			assert.Positive(t, ph.Proposal, p)
		case diracrpc.DIP:
			assert.Zero(t, ph.TLS, p)
			assert.Positive(t, ph.Proposal, p)
		case diracrpc.HTTPS:
			assert.Positive(t, ph.TLS, p)
			assert.Zero(t, ph.Proposal, "HTTPS has no proposal")
			// The second call reuses the kept-alive connection.
			var again diracrpc.Timing
			_, err = c.Call(diracrpc.WithTiming(ctx, &again), "add", 2, 3)
			require.NoError(t, err)
			ph = again.Phases()
			assert.True(t, ph.Reused)
			assert.Zero(t, ph.TLS)
			assert.Positive(t, ph.Server)
		}
		// No Timing in the context: nothing recorded, nothing fails.
		_, err = c.Call(ctx, "add", 2, 3)
		require.NoError(t, err)
		cancel()
		require.NoError(t, c.Close())
	}
}
