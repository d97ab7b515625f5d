package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// startPlain serves the recorded service on dip://; adds counts the runs of
// its add handler.
func startPlain(t *testing.T, cfg server.DISETConfig) (adds *atomic.Int64, addr string) {
	t.Helper()
	svc := testharness.NewRecordedService("Framework/OraclePlain", nil)
	svc.Logger = quiet
	adds = new(atomic.Int64)
	testharness.CountCalls(svc, "add", adds)
	cfg.Logger = quiet
	srv := server.NewDISET(svc, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return adds, l.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	return nc
}

const addProposal = `{"OK": true, "Value": [["Framework/OraclePlain", "Oracle", "unknown"], ["RPC", "add"], "", "9.0.0"]}`

func TestHostileClients(t *testing.T) {
	adds, addr := startPlain(t, server.DISETConfig{ReadTimeout: 300 * time.Millisecond, MaxFrameSize: 1 << 10})

	// Silent client: the read deadline ends it.
	silent := dial(t, addr)
	start := time.Now()
	p, _, err := frame.NewReader(silent).Next(0)
	require.NoError(t, err)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Invalid action proposal"}`, string(p))
	assert.Less(t, time.Since(start), 5*time.Second)

	// A declared 999999999-byte argument frame: closed without an answer,
	// before any byte of it is buffered.
	big := dial(t, addr)
	_, err = big.Write(frame.Append(nil, []byte(addProposal), false))
	require.NoError(t, err)
	r := frame.NewReader(big)
	_, _, err = r.Next(0)
	require.NoError(t, err)
	_, err = big.Write([]byte("999999999:{"))
	require.NoError(t, err)
	_, _, err = r.Next(0)
	require.ErrorIs(t, err, io.EOF)

	// Garbage instead of a proposal.
	junk := dial(t, addr)
	_, err = junk.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	p, _, err = frame.NewReader(junk).Next(0)
	require.NoError(t, err)
	assert.Contains(t, string(p), "Invalid action proposal")

	// Deeply nested, unbalanced arguments: refused by the decoder (no
	// recursion blow-up), the connection closed without an answer.
	deep := dial(t, addr)
	_, err = deep.Write(frame.Append(nil, []byte(addProposal), false))
	require.NoError(t, err)
	r = frame.NewReader(deep)
	_, _, err = r.Next(0)
	require.NoError(t, err)
	nested := []byte(`{"OK": true, "Value": ` + string(repeat('[', 1000)) + `]}`)
	_, err = deep.Write(frame.Append(nil, nested, false))
	require.NoError(t, err)
	_, _, err = r.Next(0)
	require.Error(t, err)

	// A well-behaved client is still served.
	ok := dial(t, addr)
	_, err = ok.Write(frame.Append(frame.Append(nil, []byte(addProposal), false), []byte(`{"OK": true, "Value": [1, 2]}`), false))
	require.NoError(t, err)
	r = frame.NewReader(ok)
	_, _, err = r.Next(0)
	require.NoError(t, err)
	p, _, err = r.Next(0)
	require.NoError(t, err)
	assert.Equal(t, `{"OK": true, "Value": 3}`, string(p))
	assert.Equal(t, int64(1), adds.Load(), "only the well-behaved call reached the handler")
}

func repeat(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestConnectionLimit(t *testing.T) {
	_, addr := startPlain(t, server.DISETConfig{MaxConns: 1, ReadTimeout: 5 * time.Second})
	hog := dial(t, addr)
	_ = hog
	// The second connection is accepted by the kernel but not served until
	// the first one ends.
	second := dial(t, addr)
	_, err := second.Write(frame.Append(frame.Append(nil, []byte(addProposal), false), []byte(`{"OK": true, "Value": [1, 2]}`), false))
	require.NoError(t, err)
	require.NoError(t, second.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = second.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "not served while the limit is reached")
	hog.Close()
	require.NoError(t, second.SetReadDeadline(time.Now().Add(10*time.Second)))
	r := frame.NewReader(second)
	_, _, err = r.Next(0)
	require.NoError(t, err)
	p, _, err := r.Next(0)
	require.NoError(t, err)
	assert.Equal(t, `{"OK": true, "Value": 3}`, string(p))
}

// TestDISETUnencodableResultIsLoggedAsError: a result DIRAC's JSON encoder
// refuses closes the connection unanswered, as DIRAC's server does; the
// server's log is the only place the fault shows, so it is an Error there
// (the HTTPS side logs it so too), unlike a client that went away. A value
// whose encoding panics (a Marshaler's) is such a result too: it does not
// take the server down.
func TestDISETUnencodableResultIsLoggedAsError(t *testing.T) {
	svc := server.NewService("Framework/Clock")
	svc.DefaultAuth = []string{"all"}
	svc.Logger = quiet
	svc.HandleFunc("panics", func(context.Context, *server.Request) (any, error) {
		return panickingMarshaler{}, nil
	})
	svc.HandleFunc("clock", func(context.Context, *server.Request) (any, error) {
		return value.TimeOfDay{Hour: 1}, nil
	})
	logs := &testkit.SyncBuffer{}
	srv := server.NewDISET(svc, server.DISETConfig{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	for _, method := range []string{"panics", "clock"} {
		nc := dial(t, l.Addr().String())
		proposal := `{"OK": true, "Value": [["Framework/Clock", "Test", "unknown"], ["RPC", "` + method + `"], "", "9.0.0"]}`
		_, err = nc.Write(frame.Append(nil, []byte(proposal), false))
		require.NoError(t, err)
		r := frame.NewReader(nc)
		p, _, err := r.Next(0)
		require.NoError(t, err, method)
		require.Equal(t, `{"OK": true, "Value": null}`, string(p))
		_, err = nc.Write(frame.Append(nil, []byte(`{"OK": true, "Value": []}`), false))
		require.NoError(t, err)
		_, _, err = r.Next(0)
		require.ErrorIs(t, err, io.EOF, "%s: no answer: the connection closes", method)
	}

	// The server logs before it closes the connection.
	assert.Regexp(t, `level=ERROR msg="diracrpc server: cannot encode answer" .*method=panics .*encoding panicked: boom`, logs.String())
	assert.Regexp(t, `level=ERROR msg="diracrpc server: cannot encode answer" .*method=clock`, logs.String())
}

// panickingMarshaler's encoding panics.
type panickingMarshaler struct{}

func (panickingMarshaler) DiracValue() (any, error) { panic("boom") }
