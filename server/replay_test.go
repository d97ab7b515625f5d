package server_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

var quiet = slog.New(slog.DiscardHandler)

type replayServer struct {
	addr   string
	tlsCfg *tls.Config // client side, for dips
	srv    *server.DISET
}

func startReplayServer(t *testing.T, svc *server.Service, enc server.Encoding, secure bool) *replayServer {
	t.Helper()
	svc.Logger = quiet
	cfg := server.DISETConfig{Encoding: enc, Logger: quiet}
	rs := &replayServer{}
	if secure {
		ca, host, user, proxy := ciIdentities(t)
		tc, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: ca.Store(), RequireClientCert: true})
		require.NoError(t, err)
		cfg.TLS = tc
		ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: proxy, CAs: ca.Store()})
		require.NoError(t, err)
		rs.tlsCfg = ct.Config("localhost")
		svc.Registry = ciRegistry(user)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rs.addr = l.Addr().String()
	rs.srv = server.NewDISET(svc, cfg)
	go func() { _ = rs.srv.Serve(l) }()
	t.Cleanup(func() { rs.srv.Close() })
	return rs
}

// exchange replays the client frames of one conversation and returns the
// frames the server sent back until it closed.
func (rs *replayServer) exchange(t *testing.T, c2s []captures.Frame) []captures.Frame {
	t.Helper()
	nc, err := net.DialTimeout("tcp", rs.addr, 5*time.Second)
	require.NoError(t, err)
	if rs.tlsCfg != nil {
		nc = tls.Client(nc, rs.tlsCfg)
	}
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	r := frame.NewReader(nc)
	var got []captures.Frame
	read := func() bool {
		p, ka, err := r.Next(0)
		if err != nil {
			return false
		}
		got = append(got, captures.Frame{Payload: append([]byte(nil), p...), KeepAlive: ka, Bytes: frame.Append(nil, p, ka)})
		return true
	}
	for _, f := range c2s {
		_, err := nc.Write(f.Bytes)
		require.NoError(t, err)
		if !read() {
			break
		}
	}
	for read() {
	}
	return got
}

// TestServerReplay sends DIRAC's recorded client frames to the Go server and
// compares its answers with the real server's, byte for byte, except for the
// answers that hold the time or the server's load (ping) or the caller's
// certificate (whoami over dips), whose structure is compared instead.
func TestServerReplay(t *testing.T) {
	dir := captures.Dir()
	cases := []struct {
		file    string
		service string
		enc     server.Encoding
		secure  bool
	}{
		{"diset_dip_json.jsonl", "Framework/OraclePlain", server.JSON, false},
		{"diset_dip_dencode.jsonl", "Framework/OraclePlainDEnc", server.DEncode, false},
		{"diset_dip_client_dencode_server_json.jsonl", "Framework/OraclePlain", server.JSON, false},
		{"diset_dips_plaintext_json.jsonl", "Framework/Oracle", server.JSON, true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			convs, err := captures.Load(filepath.Join(dir, c.file))
			require.NoError(t, err, "captures must be present in ../shared/captures")
			require.NotEmpty(t, convs)
			rs := startReplayServer(t, testharness.NewRecordedService(c.service, nil), c.enc, c.secure)
			compared := 0
			for _, conv := range convs {
				method := methodOf(t, conv.C2S[0].Payload)
				got := rs.exchange(t, conv.C2S)
				require.Len(t, got, len(conv.S2C), "conn %d (%s)", conv.N, method)
				for i := range got {
					want := conv.S2C[i]
					if i == len(got)-1 && (method == "ping" || (method == "whoami" && c.secure)) {
						sameShape(t, decode(t, want.Payload), decode(t, got[i].Payload), method)
						continue
					}
					assert.Equal(t, string(want.Bytes), string(got[i].Bytes), "conn %d (%s) frame %d", conv.N, method, i)
					compared++
				}
			}
			assert.GreaterOrEqual(t, compared, 18, "frames compared byte for byte")
		})
	}
}

// TestServerRawCases replays the edge cases of diset_raw_client_cases.txt
// that do not depend on the oracle's certificates.
func TestServerRawCases(t *testing.T) {
	const proposal = `{"OK": true, "Value": [["%s", "Oracle", "unknown"], ["RPC", "%s"], "", "9.0.0"]}`
	svcJSON := startReplayServer(t, testharness.NewRecordedService("Framework/OraclePlain", nil), server.JSON, false)
	svcDEnc := startReplayServer(t, testharness.NewRecordedService("Framework/OraclePlainDEnc", nil), server.DEncode, false)
	mk := func(s string) captures.Frame {
		return captures.Frame{Payload: []byte(s), Bytes: frame.Append(nil, []byte(s), false)}
	}
	prop := func(svc, m string) captures.Frame {
		return mk(strings.Replace(strings.Replace(proposal, "%s", svc, 1), "%s", m, 1))
	}
	// Unknown service: refused after the proposal (without CallStack here).
	got := svcJSON.exchange(t, []captures.Frame{prop("Framework/NoSuch", "echo")})
	require.Len(t, got, 1)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Framework/NoSuch is not up in this server"}`, string(got[0].Payload))
	// Missing arguments.
	got = svcJSON.exchange(t, []captures.Frame{prop("Framework/OraclePlain", "add"), mk(`{"OK": true, "Value": [1]}`)})
	require.Len(t, got, 2)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Function add expects at least 2 arguments"}`, string(got[1].Payload))
	// DEncode request to both servers.
	dprop := func(svc string) captures.Frame {
		b, err := diset.Marshal(diracOK([]any{[]any{svc, "Oracle", "unknown"}, []any{"RPC", "echoAny"}, "", "9.0.0"}), diset.DEncode)
		require.NoError(t, err)
		return mk(string(b[frame.HeaderRoom:]))
	}
	args := mk("ds2:OKb1s5:Valuelds1:ali1ef2.5eeeee")
	got = svcDEnc.exchange(t, []captures.Frame{dprop("Framework/OraclePlainDEnc"), args})
	require.Len(t, got, 2)
	assert.Equal(t, "ds2:OKb1s5:Valueds1:ali1ef2.5eeee", string(got[1].Payload))
	got = svcJSON.exchange(t, []captures.Frame{dprop("Framework/OraclePlain"), args})
	require.Len(t, got, 2)
	assert.Equal(t, `{"OK": true, "Value": {"a": [1, 2.5]}}`, string(got[1].Payload))
	// Unknown action type, oversized proposal, garbage.
	got = svcJSON.exchange(t, []captures.Frame{mk(`{"OK": true, "Value": [["Framework/OraclePlain", "Oracle", "unknown"], ["Bogus", "x"], "", "9.0.0"]}`)})
	require.Len(t, got, 1)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Bogus is not a known action type"}`, string(got[0].Payload))
	got = svcJSON.exchange(t, []captures.Frame{mk(`{"OK": true, "Value": "` + strings.Repeat("x", 2000) + `"}`)})
	require.Len(t, got, 1)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Invalid action proposal"}`, string(got[0].Payload))
	got = svcJSON.exchange(t, []captures.Frame{mk(`not a proposal`)})
	require.Len(t, got, 1)
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "Invalid action proposal"}`, string(got[0].Payload))
}

func TestPreHandlerCallStackOption(t *testing.T) {
	svc := testharness.NewRecordedService("Framework/OraclePlain", nil)
	svc.PreHandlerCallStack = true
	rs := startReplayServer(t, svc, server.JSON, false)
	p := `{"OK": true, "Value": [["Framework/NoSuch", "Oracle", "unknown"], ["RPC", "echo"], "", "9.0.0"]}`
	got := rs.exchange(t, []captures.Frame{{Payload: []byte(p), Bytes: frame.Append(nil, []byte(p), false)}})
	require.Len(t, got, 1)
	assert.Contains(t, string(got[0].Payload), `"CallStack": ["  File \"`)
}

func TestShutdownWithoutCalls(t *testing.T) {
	srv := server.NewDISET(server.NewService("S/C"), server.DISETConfig{Logger: quiet})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	// An idle connection that never sends its proposal is closed.
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	require.Eventually(t, func() bool { return srv.Addr() != nil }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.ErrorIs(t, <-done, server.ErrServerClosed)
}

func diracOK(v any) *value.Dict { return value.NewDict("OK", true, "Value", v) }

func decode(t *testing.T, p []byte) any {
	t.Helper()
	v, _, err := diset.Decode(p)
	require.NoError(t, err)
	return v
}

func methodOf(t *testing.T, proposal []byte) string {
	t.Helper()
	d := decode(t, proposal).(*value.Dict)
	v, _ := d.Lookup("Value")
	items := v.([]any)
	act := items[1].([]any)
	return act[1].(string)
}

// sameShape compares two results by keys and value kinds, recursively.
func sameShape(t *testing.T, want, got any, what string) {
	t.Helper()
	switch w := want.(type) {
	case *value.Dict:
		g, ok := got.(*value.Dict)
		require.True(t, ok, "%s: got %T", what, got)
		require.Equal(t, w.Keys(), g.Keys(), what)
		for _, e := range w.Entries() {
			gv, _ := g.Get(e.Key)
			sameShape(t, e.Value, gv, what+"."+e.Key.(string))
		}
	case float64, int64:
		switch got.(type) {
		case float64, int64:
		default:
			t.Errorf("%s: want a number, got %T", what, got)
		}
	default:
		if want == nil {
			assert.Nil(t, got, what)
			return
		}
		assert.IsType(t, want, got, what)
	}
}
