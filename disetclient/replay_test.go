package disetclient_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/value"
)

// TestClientReplay makes the Go client perform the recorded calls against a
// server that answers with the recorded server frames, and checks that the
// client wrote exactly the frames DIRAC's client wrote.
//
// Fields that may differ, and why: the client version (element 3 of the
// proposal) is DefaultVersion unless Config.Version is set (here "9.0.0", as
// recorded), and the setup ("Oracle" in the captures, from the oracle's CS) is
// Config.Setup; everything else is produced by the client. The call arguments
// are taken from the recorded argument frame, decoded into the value model
// (tuples, non-string keys and all), so the test checks that the Go encoders
// and framing reproduce DIRAC's bytes for those values.
func TestClientReplay(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		file   string
		enc    disetclient.Encoding
		secure bool
	}{
		{"diset_dip_json.jsonl", disetclient.JSON, false},
		{"diset_dip_dencode.jsonl", disetclient.DEncode, false},
		{"diset_dip_client_dencode_server_json.jsonl", disetclient.DEncode, false},
		{"diset_dips_plaintext_json.jsonl", disetclient.JSON, true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			convs, err := captures.Load(filepath.Join(captures.Dir(), c.file))
			require.NoError(t, err, "captures must be present in ../shared/captures")
			require.NotEmpty(t, convs)
			for _, conv := range convs {
				require.Len(t, conv.C2S, 2)
				require.Len(t, conv.S2C, 2)
				service, method := proposalOf(t, conv.C2S[0].Payload)
				args := argsOf(t, conv.C2S[1].Payload)

				written := make(chan []byte, 1)
				l := w.replayServer(t, c.secure, conv.S2C, written)
				scheme, host := "dip", "127.0.0.1"
				if c.secure {
					scheme, host = "dips", "localhost"
				}
				url := scheme + "://" + host + ":" + portOf(l.Addr()) + "/" + service
				cl := w.client([]string{url}, diracrpc.Options{Setup: "Oracle", Attempts: 1}, disetclient.Options{Version: "9.0.0", Encoding: c.enc})
				res, callErr := cl.Call(ctxT(t), method, args...)

				var got []byte
				select {
				case got = <-written:
				case <-time.After(5 * time.Second):
					t.Fatal("server saw nothing")
				}
				want := append(append([]byte(nil), conv.C2S[0].Bytes...), conv.C2S[1].Bytes...)
				assert.Equal(t, string(want), string(got), "conn %d: %s", conv.N, method)

				// The outcome is the recorded answer.
				wantVal, wantErr := diracrpc.ParseResult(decodeT(t, conv.S2C[1].Payload))
				if wantErr != nil {
					var de, wantDE *diracrpc.Error
					require.ErrorAs(t, callErr, &de, method)
					require.True(t, errors.As(wantErr, &wantDE))
					assert.Equal(t, wantDE.Message, de.Message)
					assert.Equal(t, wantDE.Errno, de.Errno)
					continue
				}
				require.NoError(t, callErr, method)
				assert.True(t, value.Equal(wantVal, res.Value), "%s: %v", method, res.Value)
				assert.Equal(t, conv.S2C[1].Payload, res.Raw)
			}
		})
	}
}

// replayServer answers one connection with the recorded frames, one after
// each client frame, and reports every byte the client wrote.
func (w *world) replayServer(t *testing.T, secure bool, answers []captures.Frame, written chan<- []byte) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	var tc *tls.Config
	if secure {
		tc, err = credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: w.host, CAs: w.ca.Store(), RequireClientCert: true})
		require.NoError(t, err)
	}
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc != nil {
			nc = tls.Server(nc, tc)
		}
		var rec bytes.Buffer
		r := frame.NewReader(teeReader{nc, &rec})
		for _, a := range answers {
			if _, _, err := r.Next(0); err != nil {
				break
			}
			if _, err := nc.Write(a.Bytes); err != nil {
				break
			}
		}
		written <- rec.Bytes()
	}()
	return l
}

type teeReader struct {
	r   net.Conn
	buf *bytes.Buffer
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func decodeT(t *testing.T, p []byte) any {
	t.Helper()
	v, _, err := diset.Decode(p)
	require.NoError(t, err)
	return v
}

func proposalOf(t *testing.T, p []byte) (service, method string) {
	t.Helper()
	v, err := diracrpc.ParseResult(decodeT(t, p))
	require.NoError(t, err)
	items := v.([]any)
	svc := items[0].([]any)
	act := items[1].([]any)
	require.Equal(t, "Oracle", svc[1])
	require.Equal(t, "unknown", svc[2])
	require.Equal(t, "", items[2])
	require.True(t, strings.HasPrefix(items[3].(string), "9."))
	return svc[0].(string), act[1].(string)
}

func argsOf(t *testing.T, p []byte) []any {
	t.Helper()
	v, err := diracrpc.ParseResult(decodeT(t, p))
	require.NoError(t, err)
	return v.([]any)
}
