package httpsclient_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

// BenchmarkCall compares a full call of the client (encode, POST, decode,
// result mapping, retry policy, breaker) with the floor: a bare net/http
// client posting the same body and reading the answer. Both call the same
// bare server, in a child process (benchservers), so that this process's
// CPU time is the clients' alone. With one caller both alternate in one
// loop (benchkit.Pair: cpu-ratio is the target); with 16, each runs in
// turn (impl=..., compare with benchstat -col /impl).
func BenchmarkCall(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	url := "https://" + srv.Addr(benchservers.BareHTTPS) + benchservers.BarePath(benchservers.Hello)
	c, err := httpsclient.New([]string{url}, srv.ClientOptions(), httpsclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{TLSClientConfig: srv.ClientTLS(b, true), MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	// What the client sends (TestForm checks the encoding).
	body := []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=")
	ctx := context.Background()
	calls := map[string]func() error{
		"diracrpc": func() error { _, err := c.Call(ctx, "echo", "hello"); return err },
		"bare":     func() error { return httpsclient.BarePost(hc, url, body) },
	}
	b.Run("callers=1", func(b *testing.B) {
		benchkit.Pair(b, 1, benchkit.Side{Name: "diracrpc", Call: calls["diracrpc"]}, benchkit.Side{Name: "bare", Call: calls["bare"]})
	})
	for _, impl := range []string{"diracrpc", "bare"} {
		b.Run(fmt.Sprintf("callers=16/impl=%s", impl), func(b *testing.B) {
			benchkit.Measure(b, srv.Proc(benchservers.Bare), 16, calls[impl])
		})
	}
}

// BenchmarkOracleCall measures sequential calls to a real DIRAC Tornado
// service (opt-in, see TestOracleHTTPS), for comparison with DIRAC's own
// Python client (about 220 calls/s on loopback).
func BenchmarkOracleCall(b *testing.B) {
	url := os.Getenv("DIRACRPC_ORACLE_HTTPS_URL")
	if url == "" {
		b.Skip("set DIRACRPC_ORACLE_HTTPS_URL (see TestOracleHTTPS)")
	}
	c, err := httpsclient.New([]string{url}, diracrpc.Options{Setup: "Oracle", Logger: quiet}, httpsclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Call(ctx, "echo", "hello"); err != nil {
			b.Fatal(err)
		}
	}
}
