package httpsclient_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/testharness"
)

// TestHTTPSURLForDISETPort: an https:// URL given for a DISET port. The Go
// DISET server refuses the HTTP request as an invalid proposal, in a DISET
// frame: the call fails at once with the hint (CodeProtocol, not reached)
// and goes on to the other URLs.
func TestHTTPSURLForDISETPort(t *testing.T) {
	svc := testharness.NewTestService("")
	var adds atomic.Int64
	testharness.CountCalls(svc, "add", &adds)
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPAddr: "-"})
	wrong := "https://" + strings.TrimPrefix(h.DIPSURL, "dips://")
	opts := h.Options()
	opts.Timeout = time.Minute // the failure must not come from a timeout

	c, err := httpsclient.New([]string{wrong}, opts, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Call(ctxT(t), "add", 1, 2)
	testkit.WrongProtocol(t, err, diracrpc.DIPS, false, h.DIPSURL)
	assert.Contains(t, err.Error(), "answered like a DISET server")
	assert.Contains(t, err.Error(), "Invalid action proposal", "what the server said")

	// Not tried again, the next URL is.
	opts.FailoverURLs, opts.Attempts = []string{h.HTTPSURL}, 0 // DIRAC's rule: 3 per URL
	c, err = httpsclient.New([]string{wrong}, opts, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	res, err := c.Call(ctxT(t), "add", 1, 2)
	require.NoError(t, err)
	assert.Equal(t, h.HTTPSURL, res.URL)
	assert.Equal(t, int64(1), adds.Load())
}

// TestSilentServerHint: DIRAC's DISET servers take an HTTPS request for the
// start of a frame whose length never ends, and wait: the client sees a
// server that completed the TLS handshake and never answers. The timeout
// keeps its code and names the possible cause, as long as the server has
// never answered this client. Here the silence is a slow handler.
func TestSilentServerHint(t *testing.T) {
	svc := testharness.NewTestService("")
	started := make(chan struct{}, 1)
	testharness.OnCall(svc, "sleep", func() { started <- struct{}{} })
	h := testharness.NewT(t, testharness.Options{Service: svc, DIPAddr: "-"})
	opts := h.Options()
	opts.Timeout = time.Minute
	c, err := httpsclient.New([]string{h.HTTPSURL}, opts, httpsclient.Options{})
	require.NoError(t, err)
	defer c.Close()
	slow := func() error {
		// The deadline passes once the server holds the request: the
		// handshake came first, however long it took on a loaded machine.
		_, err := c.Call(testkit.DeadlineOnSignal(started), "sleep", 60)
		require.Error(t, err)
		assert.Equal(t, diracrpc.CodeTimeout, diracrpc.CodeOf(err), "%v", err)
		assert.True(t, diracrpc.Reached(err), "the request was sent")
		assert.NotErrorIs(t, err, diracrpc.ErrWrongProtocol, "silence proves nothing")
		return err
	}

	err = slow()
	testkit.WrongProtocol(t, err, diracrpc.DIPS, true, "")
	assert.Contains(t, err.Error(), "is this an https:// URL for a dips:// port?")

	// Once the server has answered, it speaks HTTP: no hint.
	_, err = c.Call(ctxT(t), "ping")
	require.NoError(t, err)
	var wpe *diracrpc.WrongProtocolError
	assert.NotErrorAs(t, slow(), &wpe)
}
