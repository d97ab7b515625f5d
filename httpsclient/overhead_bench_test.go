package httpsclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// BenchmarkCallOverhead is the client's own work per call, without the
// network: a full Call whose server connection is replaced by a
// RoundTripper that answers at once, next to the floor, a bare net/http
// client posting the same form over the same RoundTripper and reading the
// answer. What BenchmarkCall measures besides this is kernel and
// scheduling time, shared by both.
func BenchmarkCallOverhead(b *testing.B) {
	answer := []byte(`{"OK": true, "Value": "hello"}`)
	rt := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			_, _ = io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": {"application/json"}},
			ContentLength: int64(len(answer)), Body: io.NopCloser(bytes.NewReader(answer)), Request: req,
		}, nil
	})
	ca := pki.NewT(b, pki.Options{})
	ids := ca.IdentitiesT(b, "ciuser")
	const url = "https://127.0.0.1:1/Framework/Overhead"
	c, err := diracrpc.NewClient([]string{url}, diracrpc.Options{Credential: ids.Proxy, CAs: ca.Store()},
		func(tc *diracrpc.TransportConfig) (diracrpc.Transport, error) {
			t, err := newTransport(tc, Options{})
			if err != nil {
				return nil, err
			}
			for _, tg := range t.targets {
				tg.srv.client.Transport = rt
			}
			return t, nil
		})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bare := &http.Client{Transport: rt}
	body := []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=")
	ctx := context.Background()
	benchkit.Pair(b, 1,
		benchkit.Side{Name: "diracrpc", Call: func() error { _, err := c.Call(ctx, "echo", "hello"); return err }},
		benchkit.Side{Name: "bare", Call: func() error { return BarePost(bare, url, body) }})
}

// BarePost is the floor of the client benchmarks: a bare net/http client
// posting body as a form and reading the whole answer.
func BarePost(hc *http.Client, url string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}
