package httpsclient_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/value"
)

// captureRequests returns the request bodies DIRAC's TornadoClient sent in
// https_tornadoclient.jsonl, in order.
func captureRequests(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join(captures.Dir(), "https_tornadoclient.jsonl"))
	require.NoError(t, err, "the captures must be in ../shared/captures")
	defer f.Close()
	c2s := map[int][]byte{}
	var order []int
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec struct {
			Conn int    `json:"conn"`
			Dir  string `json:"dir"`
			Hex  string `json:"hex"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		if rec.Dir != "c2s" {
			continue
		}
		b, err := hex.DecodeString(rec.Hex)
		require.NoError(t, err)
		if _, ok := c2s[rec.Conn]; !ok {
			order = append(order, rec.Conn)
		}
		c2s[rec.Conn] = append(c2s[rec.Conn], b...)
	}
	require.NoError(t, sc.Err())
	var bodies [][]byte
	for _, conn := range order {
		r := bufio.NewReader(bytes.NewReader(c2s[conn]))
		for {
			req, err := http.ReadRequest(r)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b, err := io.ReadAll(req.Body)
			require.NoError(t, err)
			bodies = append(bodies, b)
		}
	}
	return bodies
}

// TestReplayRequestBodies: the Go client's request bodies equal DIRAC's,
// byte for byte, for the calls of the capture.
func TestReplayRequestBodies(t *testing.T) {
	want := captureRequests(t)
	require.Len(t, want, 10)
	e := newEnv(t)
	var mu sync.Mutex
	var got [][]byte
	base := e.startRaw(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		assert.Equal(t, "/"+svcName, r.URL.Path)
		assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		assert.Empty(t, r.Header.Get("Idempotency-Key"))
		io.WriteString(w, `{"OK": true, "Value": null}`)
	}))
	c := e.client(t, base+"/"+svcName, diracrpc.Options{Setup: "Oracle"})
	ctx := ctxT(t)
	calls := []struct {
		method string
		args   []any
	}{
		{"echo", []any{"hello"}},
		{"add", []any{2, 3}},
		{"echoAny", []any{value.NewDict("s", "café", "i", -7, "f", 2.5, "n", nil, "b", true, "l", []any{1, 2},
			"t", value.Tuple{3, 4}, "k", value.NewDict(1, "x"))}},
		{"fail", []any{"boom"}},
		{"failErrno", []any{1111, "custom"}},
		{"now", nil},
		{"crash", nil},
		{"doesNotExist", nil},
		{"whoami", nil},
		{"ping", nil},
	}
	for _, call := range calls {
		_, err := c.Call(ctx, call.method, call.args...)
		require.NoError(t, err)
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, string(want[i]), string(got[i]), "call %d (%s)", i, calls[i].method)
	}
}
