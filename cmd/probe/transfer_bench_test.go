package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/testharness"
)

// transferBenchSize is the size of issue 15's benchmark; HTTPS uploads
// are limited to httpsclient.MaxUploadBytes by the 100 MiB body limit.
const transferBenchSize = 200_000_000

// BenchmarkTransfer moves 200 MB each way over dips:// and https:// between
// this process (the client: its peak heap is reported) and the harness in
// another process (`probe harness`), next to a bare TLS copy of the same
// bytes in the same run (the floor). Run it alone:
//
//	go test -run '^$' -bench BenchmarkTransfer -benchtime 1x ./cmd/probe
func BenchmarkTransfer(b *testing.B) {
	h := startHarness(b)
	env := h.info.Env
	loc := credentials.Locator{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	opts := diracrpc.Options{Locator: loc, Timeout: time.Hour}
	dips, err := disetclient.New([]string{h.info.DIPSURL}, opts, disetclient.Options{})
	require.NoError(b, err)
	https, err := httpsclient.New([]string{h.info.HTTPSURL}, opts, httpsclient.Options{})
	require.NoError(b, err)
	ctx := context.Background()
	b.Run("bare-tls/get", func(b *testing.B) { benchBare(b, env, transferBenchSize, true) })
	b.Run("bare-tls/put", func(b *testing.B) { benchBare(b, env, transferBenchSize, false) })
	for _, c := range []struct {
		name string
		c    *diracrpc.Client
		put  int64
	}{{"dips", dips, transferBenchSize}, {"https", https, httpsclient.MaxUploadBytes}} {
		b.Run(c.name+"/get", func(b *testing.B) {
			measure(b, transferBenchSize, func() error {
				_, err := c.c.Receive(ctx, "gen:200000000", io.Discard)
				return err
			})
		})
		b.Run(c.name+"/put", func(b *testing.B) {
			measure(b, c.put, func() error {
				_, err := c.c.Send(ctx, "discard:bench", testharness.GenReader(c.put), diracrpc.WithSize(c.put))
				return err
			})
		})
	}
}

// measure runs f b.N times, reporting MB/s and the peak heap in use.
func measure(b *testing.B, size int64, f func() error) {
	runtime.GC()
	stop := sampleHeap()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		require.NoError(b, f())
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
}

// sampleHeap samples the heap in use every 5 ms until the returned
// function is called; it returns the peak.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// benchBare copies size bytes over a bare TLS connection on loopback, with
// the harness's host certificate, in one direction.
func benchBare(b *testing.B, env map[string]string, size int64, get bool) {
	cert, err := tls.LoadX509KeyPair(env["DIRAC_X509_HOST_CERT"], env["DIRAC_X509_HOST_KEY"])
	require.NoError(b, err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(b, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if get {
				_, _ = io.Copy(c, testharness.GenReader(size))
			} else {
				_, _ = io.Copy(io.Discard, c)
			}
			c.Close()
		}
	}()
	measure(b, size, func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", l.Addr().String(),
			&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the floor: bytes only, loopback
		if err != nil {
			return err
		}
		defer c.Close()
		if get {
			_, err = io.Copy(io.Discard, c)
		} else {
			_, err = io.Copy(c, testharness.GenReader(size))
		}
		return err
	})
}
