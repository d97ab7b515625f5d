package httpsclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/server"
)

// benchSetup starts the Go server and returns the client and, for the
// floor, a bare net/http client with the same TLS configuration and the
// exact body the client sends.
func benchSetup(b *testing.B) (*diracrpc.Client, *http.Client, string, []byte) {
	e := newEnv(b)
	_, url := e.startGo(b, server.HTTPSConfig{})
	c := e.client(b, url, diracrpc.Options{Setup: "Oracle"})
	// What the client sends (TestForm checks the encoding).
	body := []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=Oracle")
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: e.proxy, CAs: e.ca.Store()})
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: ct.Config("localhost"), MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return c, &http.Client{Transport: tr}, url, body
}

func barePost(b *testing.B, hc *http.Client, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// BenchmarkCall compares a full call (encode, POST, decode, result
// mapping, retry policy, breaker) with a bare net/http POST of the same
// body to the same server.
func BenchmarkCall(b *testing.B) {
	c, hc, url, body := benchSetup(b)
	ctx := context.Background()
	b.Run("mode=seq/impl=client", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Call(ctx, "echo", "hello"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mode=seq/impl=bare", func(b *testing.B) {
		for b.Loop() {
			barePost(b, hc, url, body)
		}
	})
	b.Run("mode=par16/impl=client", func(b *testing.B) {
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Call(ctx, "echo", "hello"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("mode=par16/impl=bare", func(b *testing.B) {
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				barePost(b, hc, url, body)
			}
		})
	})
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

// BenchmarkCallVsBare interleaves a client call and a bare POST of the same
// body in every iteration and reports the median latency of each and their
// ratio: on a shared, loaded machine load bursts then hit both alike.
func BenchmarkCallVsBare(b *testing.B) {
	c, hc, url, body := benchSetup(b)
	ctx := context.Background()
	one := func(b *testing.B, client, bare *[]time.Duration) {
		t0 := time.Now()
		if _, err := c.Call(ctx, "echo", "hello"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		barePost(b, hc, url, body)
		*client = append(*client, t1.Sub(t0))
		*bare = append(*bare, time.Since(t1))
	}
	report := func(b *testing.B, client, bare []time.Duration) {
		mc, mb := median(client), median(bare)
		b.ReportMetric(float64(mc.Nanoseconds()), "client-ns/call")
		b.ReportMetric(float64(mb.Nanoseconds()), "bare-ns/call")
		b.ReportMetric(float64(mc)/float64(mb), "client/bare")
	}
	b.Run("mode=seq", func(b *testing.B) {
		var client, bare []time.Duration
		for b.Loop() {
			one(b, &client, &bare)
		}
		report(b, client, bare)
	})
	b.Run("mode=par16", func(b *testing.B) {
		var mu sync.Mutex
		var client, bare []time.Duration
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			var cl, ba []time.Duration
			for pb.Next() {
				one(b, &cl, &ba)
			}
			mu.Lock()
			client, bare = append(client, cl...), append(bare, ba...)
			mu.Unlock()
		})
		report(b, client, bare)
	})
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
