package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/testharness"
)

// call -v adds the call's span tree under the timing breakdown, on stderr.
func TestCallVerboseSpanTree(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		r := runInProcess(t, ctxT(t), h.Env, "call", "-v", u, "add", "2", "3")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "5\n", r.stdout)
		_, tree, ok := strings.Cut(r.stderr, "spans:\n")
		require.True(t, ok, r.stderr)
		lines := strings.Split(strings.TrimSuffix(tree, "\n"), "\n")
		require.Len(t, lines, 2, tree)
		assert.Regexp(t, `^Framework/TestHarness/add  client  dirac\.(diset|https)  \d+\.\d\dms  ok$`, lines[0])
		assert.Regexp(t, `^└─ attempt 1  `+regexp.QuoteMeta(u)+`  \d+\.\d\dms  ok  .*tls \d+\.\d\dms`, lines[1])
		t.Log("\n" + r.stderr)

		// An S_ERROR: its code and errno.
		r = runInProcess(t, ctxT(t), h.Env, "call", "-v", u, "failErrno", "2", `"gone"`)
		require.Equal(t, exitFail, r.code, r.stderr)
		assert.Contains(t, r.stderr, "Framework/TestHarness/failErrno  client")
		assert.Contains(t, r.stderr, "service_error (errno 2)")
	}
}

// The tree of a call failed over from a dead URL: the banned attempt, the
// pause, the attempt that answered.
func TestSpanTreeFailover(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{DIPAddr: "-", HTTPSAddr: "-"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "dips://" + l.Addr().String() + "/" + testharness.DefaultService
	require.NoError(t, l.Close())
	tp, rec := newSpanRecorder()
	o := h.Options()
	o.TracerProvider, o.Attempts, o.FailoverURLs = tp, 2, []string{h.DIPSURL}
	o.BackoffMin, o.BackoffMax = time.Millisecond, time.Millisecond
	c, err := disetclient.New([]string{dead}, o, disetclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.Call(diracrpc.WithTiming(ctx, &diracrpc.Timing{}), "ping")
	require.NoError(t, err)
	var b strings.Builder
	writeSpanTree(&b, rec.ended())
	t.Log("\n" + b.String())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 4)
	assert.Regexp(t, `^Framework/TestHarness/ping  client  dirac\.diset  \S+ms  ok$`, lines[0])
	assert.Regexp(t, `^├─ attempt 1  `+regexp.QuoteMeta(dead)+`  \S+ms  unreachable, URL banned`, lines[1])
	assert.Regexp(t, `^├─ pause  \S+ms before the next attempt$`, lines[2])
	assert.Regexp(t, `^└─ attempt 2  `+regexp.QuoteMeta(h.DIPSURL)+`  \S+ms  ok  `, lines[3])
}
