package diracrpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/value"
)

// job is a row of the listing the tests below move.
type job struct {
	JobID  int64     `dirac:"JobID"`
	Status string    `dirac:"Status"`
	Sites  []string  `dirac:"Sites"`
	Since  time.Time `dirac:"Since"`
}

// encodeCounter counts the encodings of a value (value.Marshaler).
type encodeCounter struct {
	v any
	n *atomic.Int32
}

func (c encodeCounter) DiracValue() (any, error) { c.n.Add(1); return c.v, nil }

// TestRawResultAndEncodedAnswerBothProtocols: a listing answered as a
// value.Encoded is encoded once per encoding however many calls get it,
// and reaches every client as the same value; a call made WithRawResult
// gets the same answer undecoded, which Decode decodes, while an S_ERROR is
// still the service's *Error.
func TestRawResultAndEncodedAnswerBothProtocols(t *testing.T) {
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	rows := []job{{1, "Done", []string{"LCG.CERN.cern"}, since}, {2, "Waiting", []string{}, since.Add(time.Second)}}
	for _, enc := range []server.Encoding{server.JSON, server.DEncode} {
		t.Run(enc.String(), func(t *testing.T) {
			var encodings atomic.Int32
			listing := value.NewEncoded(encodeCounter{v: rows, n: &encodings})
			svc := testharness.NewTestService("")
			svc.HandleFunc("listing", func(context.Context, *server.Request) (any, error) { return listing, nil })
			svc.HandleFunc("refuse", func(context.Context, *server.Request) (any, error) {
				return nil, &diracrpc.Error{Message: "refused", Errno: 1111}
			})
			h := testharness.NewT(t, testharness.Options{Service: svc, Logger: quiet, Encoding: enc})
			for _, p := range protocols {
				c := builders[0].build(t, p, []string{h.URL(p)}, h.Options())
				for range 2 {
					res, err := c.Call(ctxT(t), "listing")
					require.NoError(t, err)
					assert.False(t, res.Undecoded)
					var got []job
					require.NoError(t, res.Decode(&got))
					assert.Equal(t, rows, got, "%s", p)

					raw, err := c.Call(diracrpc.WithRawResult(ctxT(t)), "listing")
					require.NoError(t, err)
					assert.True(t, raw.Undecoded, "%s", p)
					assert.Nil(t, raw.Value)
					assert.Equal(t, string(res.Raw), string(raw.Raw), "the same answer, undecoded")
					got = nil
					require.NoError(t, raw.Decode(&got))
					assert.Equal(t, rows, got, "%s", p)
				}
				_, err := c.Call(diracrpc.WithRawResult(ctxT(t)), "refuse")
				var de *diracrpc.Error
				require.ErrorAs(t, err, &de, "%s: an S_ERROR is decoded and reported", p)
				assert.Equal(t, "refused", de.Message)
			}
			// DISET answers in the harness's encoding, HTTPS in JSON: one
			// encoding each when they are the same, else two.
			want := int32(2)
			if enc == server.JSON {
				want = 1
			}
			assert.Equal(t, want, encodings.Load())
		})
	}
}

func TestOKHead(t *testing.T) {
	for _, tc := range []struct {
		payload string
		enc     mixed.Encoding
		ok      bool
	}{
		{`{"OK": true, "Value": 1}`, mixed.JSON, true},
		{` { "OK" :true}`, mixed.JSON, true},
		{`{"OK": true}`, mixed.JSON, true},
		{"ds2:OKb1s5:Valuei1ee", mixed.DEncode, true},
		{`{"OK": false, "Message": "no"}`, mixed.JSON, false},
		{`{"OK": truer}`, mixed.JSON, false},
		{`{"OK": true`, mixed.JSON, false},
		{`{"Value": 1, "OK": true}`, mixed.JSON, false},
		{"ds2:OKb0s7:Messages2:noe", mixed.JSON, false},
		{"", mixed.JSON, false},
	} {
		enc, ok := mixed.OKHead([]byte(tc.payload))
		assert.Equal(t, tc.ok, ok, tc.payload)
		if ok {
			assert.Equal(t, tc.enc, enc, tc.payload)
		}
	}
	// What the encoders write for an S_OK starts as one.
	for _, enc := range []mixed.Encoding{mixed.JSON, mixed.DEncode} {
		b, err := mixed.Marshal(diracrpc.OK([]any{"x"}), enc)
		require.NoError(t, err)
		got, ok := mixed.OKHead(b)
		assert.True(t, ok, "%s", b)
		assert.Equal(t, enc, got)
	}
}

// Decoded gives an undecoded result's Value and Extra, those of the same
// call made without WithRawResult, and leaves the result as it was.
func TestResultDecoded(t *testing.T) {
	svc := testharness.NewTestService("")
	svc.HandleFunc("submit", func(context.Context, *server.Request) (any, error) {
		return server.Answer(value.NewDict("OK", true, "Value", []any{int64(37)}, "JobID", int64(37), "requireProxyUpload", false)), nil
	})
	h := testharness.NewT(t, testharness.Options{Service: svc, Logger: quiet})
	for _, p := range protocols {
		c := builders[0].build(t, p, []string{h.URL(p)}, h.Options())
		want, err := c.Call(ctxT(t), "submit")
		require.NoError(t, err)
		same, err := want.Decoded()
		require.NoError(t, err)
		assert.Same(t, want, same, "a decoded result is its own")

		raw, err := c.Call(diracrpc.WithRawResult(ctxT(t)), "submit")
		require.NoError(t, err)
		require.True(t, raw.Undecoded)
		got, err := raw.Decoded()
		require.NoError(t, err)
		assert.False(t, got.Undecoded)
		assert.Equal(t, want.Value, got.Value, "%s", p)
		assert.Equal(t, want.Extra, got.Extra, "%s", p)
		assert.Equal(t, raw.Stub, got.Stub)
		assert.True(t, raw.Undecoded, "the result itself is left undecoded")
		assert.Nil(t, raw.Value)

		raw.Raw = []byte(`{"OK": true, "Value": [1`)
		_, err = raw.Decoded()
		assert.ErrorIs(t, err, diracrpc.ErrProtocol)
	}
}
