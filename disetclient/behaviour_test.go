package disetclient_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

func TestUnauthorizedIsFinal(t *testing.T) {
	w := newWorld(t)
	svc := w.oracle()
	svc.Authorization = map[string][]string{"add": {"ServiceAdministrator"}}
	r := w.serve(svc, true, server.JSON)
	// Two URLs of the same server: a retry would show as a second connection.
	c := w.client([]string{r.url, r.url}, diracrpc.Options{})
	_, err := c.Call(ctxT(t), "add", 1, 2)
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 1111, de.Errno)
	assert.Equal(t, "Unauthorized query ( 1111 : Unauthorized query)", de.Message)
	assert.Empty(t, de.CallStack, "no CallStack before the handler by default")
	assert.Equal(t, int64(1), r.accepted.n.Load(), "ENOAUTH must not be retried")
	assert.Equal(t, int64(0), w.counts.Add.Load())
}

func TestPlainDIPIsAnonymous(t *testing.T) {
	w := newWorld(t)
	svc := w.oracle()
	svc.DefaultAuth = nil // secure default: authenticated
	svc.Authorization = map[string][]string{"add": {"authenticated"}}
	r := w.serve(svc, false, server.JSON)
	c := w.client([]string{r.url}, diracrpc.Options{})
	res, err := c.Call(ctxT(t), "whoami")
	require.NoError(t, err)
	assert.True(t, value.Equal(value.NewDict("properties", []any{}), res.Value))
	_, err = c.Call(ctxT(t), "add", 1, 2)
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized)
	_, err = c.Call(ctxT(t), "echo", "x")
	require.ErrorIs(t, err, diracrpc.ErrUnauthorized, "echo has no rule of its own: the secure default applies")
}

func TestRefusedCredentials(t *testing.T) {
	w := newWorld(t)
	svc := w.oracle()
	var pings atomic.Int64
	testharness.CountCalls(svc, "ping", &pings)
	r := w.serve(svc, true, server.JSON)
	must := pki.Must(t)
	other, err := w.ca.Untrusted()
	require.NoError(t, err)
	for name, cred := range map[string]*credentials.Credential{
		"forged proxy":      must(w.ca.ForgedProxy(w.user)),
		"untrusted user":    must(other.User("mallory")),
		"no clientAuth EKU": must(w.ca.UserWithoutClientAuth("eve")),
		"expired proxy":     must(w.ca.ExpiredProxy(w.user)),
	} {
		t.Run(name, func(t *testing.T) {
			c := w.client([]string{r.url}, diracrpc.Options{Credential: cred, Attempts: 1})
			_, err := c.Call(ctxT(t), "ping")
			require.Error(t, err)
			assert.ErrorIs(t, err, diracrpc.ErrNoURL)
			assert.Zero(t, pings.Load(), "the service never ran")
		})
	}
}

// The client refuses a server whose certificate does not name the host of
// the URL: a server on 127.0.0.1 (so the connection is made) with a valid
// certificate for another name, called as localhost.
func TestWrongServerNameIsRefused(t *testing.T) {
	w := newWorld(t)
	w.host = pki.Must(t)(w.ca.WrongHost())
	svc := w.oracle()
	var pings atomic.Int64
	testharness.CountCalls(svc, "ping", &pings)
	r := w.serve(svc, true, server.JSON)
	require.True(t, strings.HasPrefix(r.url, "dips://localhost:"), r.url)
	c := w.client([]string{r.url}, diracrpc.Options{Attempts: 1})
	_, err := c.Call(ctxT(t), "ping")
	require.Error(t, err)
	assert.Equal(t, diracrpc.CodeTLS, diracrpc.CodeOf(err), "%v", err)
	var ve *credentials.VerifyError
	require.ErrorAs(t, err, &ve, "refused by the host-name check: %v", err)
	assert.Equal(t, credentials.ReasonHostnameMismatch, ve.Reason)
	assert.Contains(t, ve.Names, "DNS:wrong.example.invalid")
	assert.False(t, diracrpc.Reached(err))
	assert.Zero(t, pings.Load(), "never sent")
}

func TestMissingProxyIsReportedByNew(t *testing.T) {
	_, err := disetclient.New([]string{"dips://localhost:9135/Configuration/Server"}, diracrpc.Options{Locator: emptyLocator(t)}, disetclient.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "No proxy found")
	// dip:// needs no credentials.
	_, err = disetclient.New([]string{"dip://localhost:9135/Configuration/Server"}, diracrpc.Options{Locator: emptyLocator(t)}, disetclient.Options{})
	require.NoError(t, err)
	_, err = disetclient.New([]string{"https://localhost/Configuration/Server"}, diracrpc.Options{}, disetclient.Options{})
	require.Error(t, err)
	// URLs are called as given: they may name the service differently.
	_, err = disetclient.New([]string{"dip://a:1/S/C", "dip://a:1/S/D"}, diracrpc.Options{}, disetclient.Options{})
	require.NoError(t, err)
}

func TestFailover(t *testing.T) {
	w := newWorld(t)
	r := w.serve(w.oracle(), true, server.JSON)
	// A port that refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "dips://localhost:" + portOf(l.Addr()) + "/Framework/Oracle"
	l.Close()
	c := w.client([]string{dead, r.url}, diracrpc.Options{})
	for range 5 {
		res, err := c.Call(ctxT(t), "add", 1, 1)
		require.NoError(t, err)
		assert.Equal(t, r.url, res.URL)
	}
	assert.Equal(t, int64(5), w.counts.Add.Load())

	// A service name the server does not have is a proposal refusal:
	// retried elsewhere (here: exhausted, the only URL is wrong).
	wrong := w.client([]string{r.url[:len(r.url)-len("Oracle")] + "NoSuch"}, diracrpc.Options{Attempts: 2})
	_, err = wrong.Call(ctxT(t), "add", 1, 1)
	require.ErrorIs(t, err, diracrpc.ErrNoURL)
	var de *diracrpc.Error
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "Framework/NoSuch is not up in this server", de.Message)
}

func TestTimeoutAndCancellation(t *testing.T) {
	w := newWorld(t)
	r := w.serve(w.oracle(), true, server.JSON)
	c := w.client([]string{r.url, r.url}, diracrpc.Options{})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The machine may be loaded: bounds are loose, the sleep is long.
	_, err := c.Call(ctx, "sleep", 60)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
	var te *diracrpc.TransportError
	require.ErrorAs(t, err, &te)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.Call(ctx, "sleep", 60.0)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)
	// Each call ran at most once (under load a call may be cancelled before
	// it reaches the handler), even though the client has two URLs.
	assert.LessOrEqual(t, w.counts.Sleep.Load(), int64(2), "never sent twice")
	// That idempotent methods are sent again when the connection drops
	// after the arguments is TestNotIdempotentNotResent's second half.
}

func TestNotIdempotentNotResent(t *testing.T) {
	w := newWorld(t)
	var runs atomic.Int64
	srv := fakeServer(t, func(c *diset.Conn) error {
		if _, _, err := c.Recv(0); err != nil {
			return err
		}
		if err := c.Send(diracrpc.OK(nil)); err != nil {
			return err
		}
		if _, _, err := c.Recv(0); err != nil {
			return err
		}
		runs.Add(1)
		return nil // drop the connection without answering
	})
	url := "dip://127.0.0.1:" + portOf(srv.Addr()) + "/Framework/Oracle"
	c := w.client([]string{url}, diracrpc.Options{})
	_, err := c.Call(ctxT(t), "add", 1, 2)
	require.Error(t, err)
	var te *diracrpc.TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, diracrpc.CodeUnreachable, te.Code)
	assert.True(t, diracrpc.Reached(err), "the arguments were sent")
	assert.Equal(t, int64(1), runs.Load())

	ci := w.client([]string{url}, diracrpc.Options{Attempts: 3, Idempotent: []string{"add"}})
	_, err = ci.Call(ctxT(t), "add", 1, 2)
	require.ErrorIs(t, err, diracrpc.ErrNoURL)
	assert.Equal(t, int64(4), runs.Load(), "an idempotent call is sent again")
}

// TestKeepAliveFrames drives the client against a server that sends
// keep-alive pings before each of its answers, and the Go server with a
// client that pings before its arguments.
func TestKeepAliveFrames(t *testing.T) {
	w := newWorld(t)
	pongs := make(chan string, 4)
	srv := fakeServer(t, func(c *diset.Conn) error {
		steps := []func() error{
			func() error { _, _, err := c.Recv(0); return err },
			c.SendPing,
			func() error { return c.Send(diracrpc.OK(nil)) },
			func() error { return readPong(c, pongs) }, // the pong comes before the arguments
			func() error { _, _, err := c.Recv(0); return err },
			c.SendPing,
			func() error { return c.Send(diracrpc.OK("done")) },
			func() error { return readPong(c, pongs) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	url := "dip://127.0.0.1:" + portOf(srv.Addr()) + "/Framework/Oracle"
	c := w.client([]string{url}, diracrpc.Options{})
	res, err := c.Call(ctxT(t), "anything")
	require.NoError(t, err)
	assert.Equal(t, "done", res.Value)
	for range 2 {
		select {
		case p := <-pongs:
			assert.Contains(t, p, `"kaping": false`)
		case <-time.After(5 * time.Second):
			t.Fatal("no pong")
		}
	}

	// The Go server answers a ping that arrives before the arguments.
	r := w.serve(w.oracle(), false, server.JSON)
	nc, err := net.DialTimeout("tcp", r.accepted.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(5*time.Second)))
	conn := diset.NewConn(nc, diset.JSON)
	require.NoError(t, conn.Send(diracrpc.OK([]any{[]any{"Framework/Oracle", "Test", "unknown"}, []any{"RPC", "add"}, "", "x"})))
	_, _, err = conn.Recv(0)
	require.NoError(t, err)
	require.NoError(t, conn.SendPing())
	p, ka, err := conn.RecvFrame(0)
	require.NoError(t, err)
	assert.True(t, ka)
	assert.Contains(t, string(p), `"kaping": false`)
	require.NoError(t, conn.Send(diracrpc.OK([]any{1, 2})))
	require.NoError(t, conn.SendPing()) // a stray ping after the arguments is tolerated
	v, _, err := conn.Recv(0)
	require.NoError(t, err)
	assert.True(t, value.Equal(diracrpc.OK(int64(3)), v))
}

func TestSessionResumption(t *testing.T) {
	w := newWorld(t)
	r := w.serve(w.oracle(), true, server.JSON)
	c := w.client([]string{r.url}, diracrpc.Options{}, disetclient.Options{ResumeSessions: true})
	for range 3 {
		_, err := c.Call(ctxT(t), "ping")
		require.NoError(t, err)
	}
	assert.Equal(t, int64(2), r.resumed.Load(), "calls after the first resume the TLS session")
	// Off by default: DIRAC's servers cannot serve resumed sessions.
	c = w.client([]string{r.url}, diracrpc.Options{})
	for range 2 {
		_, err := c.Call(ctxT(t), "ping")
		require.NoError(t, err)
	}
	assert.Equal(t, int64(2), r.resumed.Load())
}

func TestGracefulShutdown(t *testing.T) {
	w := newWorld(t)
	r := w.serve(w.oracle(), false, server.JSON)
	c := w.client([]string{r.url}, diracrpc.Options{})
	done := make(chan error, 1)
	go func() {
		res, err := c.Call(ctxT(t), "sleep", 0.3)
		if err == nil && res.Value != 0.3 {
			err = errors.New("bad value")
		}
		done <- err
	}()
	// Wait until the call is in the handler.
	require.Eventually(t, func() bool { return w.counts.Sleep.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, r.srv.Shutdown(ctx))
	require.NoError(t, <-done, "the running call finished")
	_, err := c.Call(ctxT(t), "ping")
	require.Error(t, err, "no new calls after Shutdown")
}

func readPong(c *diset.Conn, pongs chan<- string) error {
	p, ka, err := c.RecvFrame(0)
	if err != nil {
		return err
	}
	if !ka {
		return errors.New("expected a keep-alive frame, got " + string(p))
	}
	pongs <- string(p)
	return nil
}

// fakeServer accepts plain connections on 127.0.0.1 and runs handle on each.
func fakeServer(t *testing.T, handle func(*diset.Conn) error) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = handle(diset.NewConn(nc, diset.JSON))
			}()
		}
	}()
	return l
}

func portOf(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

// emptyLocator finds nothing: no proxy, no CAs.
func emptyLocator(t *testing.T) credentials.Locator {
	uid := 424242
	return credentials.Locator{
		LookupEnv:   func(string) (string, bool) { return "", false },
		Home:        t.TempDir(),
		UID:         &uid,
		TmpDir:      t.TempDir(),
		DIRACRoot:   t.TempDir(),
		SystemCADir: t.TempDir() + "/none",
	}
}

// TestServerCertificates checks the client's view of server certificates:
// CN-only host certificates are accepted (as DIRAC's M2Crypto client does),
// expired, not yet valid and untrusted ones are refused at connect time,
// before anything reaches the service.
func TestServerCertificates(t *testing.T) {
	w := newWorld(t)
	must := pki.Must(t)
	other, err := w.ca.Untrusted()
	require.NoError(t, err)
	cases := map[string]struct {
		host *credentials.Credential
		ok   bool
	}{
		"CN only":       {must(w.ca.HostCNOnly("localhost")), true},
		"expired":       {must(w.ca.ExpiredHost("localhost")), false},
		"not yet valid": {must(w.ca.NotYetValidHost("localhost")), false},
		"untrusted CA":  {must(other.Host("localhost")), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			saved := w.host
			w.host = c.host
			svc := w.oracle()
			var pings atomic.Int64
			testharness.CountCalls(svc, "ping", &pings)
			r := w.serve(svc, true, server.JSON)
			w.host = saved
			cl := w.client([]string{r.url}, diracrpc.Options{Attempts: 1})
			_, err := cl.Call(ctxT(t), "ping")
			if c.ok {
				require.NoError(t, err)
				return
			}
			var te *diracrpc.TransportError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, diracrpc.CodeTLS, te.Code)
			assert.False(t, diracrpc.Reached(err))
			assert.Zero(t, pings.Load(), "the service never ran")
		})
	}
}

// A large string answer is held once: its bytes are those of Result.Raw,
// the frame as read, in either encoding.
func TestLargeStringSharesRaw(t *testing.T) {
	w := newWorld(t)
	long := strings.Repeat("configuration ", 100_000)
	for _, enc := range []server.Encoding{server.JSON, server.DEncode} {
		r := w.serve(w.oracle(), true, enc)
		c := w.client([]string{r.url}, diracrpc.Options{})
		res, err := c.Call(ctxT(t), "echo", long)
		require.NoError(t, err)
		s, _ := res.Value.(string)
		require.Equal(t, long, s)
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		raw := uintptr(unsafe.Pointer(unsafe.SliceData(res.Raw)))
		assert.True(t, p >= raw && p < raw+uintptr(len(res.Raw)), "%v: the string is a copy", enc)
	}
}

// A call made WithRawResult gets undecoded only an answer that starts as an
// S_OK: one that decodes to None is no S_OK, and fails as it does without
// the option, rather than coming back as an undecoded success.
func TestRawResultOfANoneAnswerIsAProtocolError(t *testing.T) {
	w := newWorld(t)
	srv := fakeServer(t, func(c *diset.Conn) error {
		if _, _, err := c.Recv(0); err != nil {
			return err
		}
		if err := c.Send(diracrpc.OK(nil)); err != nil {
			return err
		}
		if _, _, err := c.Recv(0); err != nil {
			return err
		}
		return c.Send(nil)
	})
	url := "dip://127.0.0.1:" + portOf(srv.Addr()) + "/Framework/Oracle"
	c := w.client([]string{url}, diracrpc.Options{Attempts: 1})
	for _, ctx := range []context.Context{ctxT(t), diracrpc.WithRawResult(ctxT(t))} {
		res, err := c.Call(ctx, "anything")
		require.Error(t, err, "%+v", res)
		assert.Equal(t, diracrpc.CodeProtocol, diracrpc.CodeOf(err))
	}
}
