package disetclient_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// benchEnv is a Go DISET server and a bare TLS "floor" server with the same
// TLS configuration (RSA 2048 keys, as grid credentials are; session tickets
// enabled), plus clients of both with and without session resumption.
type benchEnv struct {
	client, clientFull  *diracrpc.Client
	floorAddr           string
	floorCfg, floorFull *tls.Config
	stop                func()
}

func newBenchEnv(b *testing.B) *benchEnv {
	ca := pki.NewT(b, pki.Options{RSA: true})
	must := pki.Must(b)
	host := must(ca.Host("localhost", "127.0.0.1"))
	user := must(ca.User("bench"))
	proxy := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	reg := &server.Registry{
		Users:  map[string]server.User{"bench": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"bench"}, Properties: []string{"NormalUser"}}},
	}
	serverTLS := func() *tls.Config {
		tc, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: ca.Store(), RequireClientCert: true})
		if err != nil {
			b.Fatal(err)
		}
		return tc
	}
	svc := server.NewService("Framework/Bench")
	svc.Registry, svc.Logger = reg, quiet
	svc.HandleFunc("add", func(_ context.Context, r *server.Request) (any, error) {
		return r.Args[0].(int64) + r.Args[1].(int64), nil
	})
	srv := server.NewDISET(svc, server.DISETConfig{TLS: serverTLS(), Logger: quiet, MaxConcurrentCalls: 256})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	url := "dips://localhost:" + portOf(l.Addr()) + "/Framework/Bench"
	e := &benchEnv{}
	for _, resume := range []bool{true, false} {
		c, err := disetclient.New([]string{url}, diracrpc.Options{Credential: proxy, CAs: ca.Store(), Logger: quiet}, disetclient.Options{ResumeSessions: resume})
		if err != nil {
			b.Fatal(err)
		}
		if resume {
			e.client = c
		} else {
			e.clientFull = c
		}
	}
	floorAddr, stopFloor := floorServer(b, serverTLS())
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: proxy, CAs: ca.Store()})
	if err != nil {
		b.Fatal(err)
	}
	e.floorAddr = floorAddr
	e.floorCfg = ct.Config("localhost")
	e.floorFull = ct.Config("localhost")
	e.floorFull.ClientSessionCache = nil
	e.stop = func() { srv.Close(); stopFloor() }
	return e
}

// pair runs a and b alternately (order swapped every iteration), timing
// each, so that the load of a shared machine weighs on both alike; it
// reports their mean times and a/b... as custom metrics.
func pair(b *testing.B, parallel bool, nameA, nameB string, fa, fb func() error) {
	var ta, tb atomic.Int64
	one := func(i int) {
		first, second, t1, t2 := fa, fb, &ta, &tb
		if i%2 == 1 {
			first, second, t1, t2 = fb, fa, &tb, &ta
		}
		s := time.Now()
		if err := first(); err != nil {
			b.Error(err)
		}
		m := time.Now()
		if err := second(); err != nil {
			b.Error(err)
		}
		t1.Add(int64(m.Sub(s)))
		t2.Add(int64(time.Since(m)))
	}
	one(0) // warm the session caches
	ta.Store(0)
	tb.Store(0)
	b.ResetTimer()
	if parallel {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one(int(n.Add(1)))
			}
		})
	} else {
		for i := 0; b.Loop(); i++ {
			one(i)
		}
	}
	// Parallel runs overlap: per-call latency is the sum over calls / N.
	n := float64(b.N)
	b.ReportMetric(float64(ta.Load())/n, nameA+"-ns/call")
	b.ReportMetric(float64(tb.Load())/n, nameB+"-ns/call")
	b.ReportMetric(float64(ta.Load())/float64(tb.Load()), nameA+"/"+nameB)
}

// BenchmarkCall measures one DISET call of the Go client against the Go
// server on loopback (connect, TLS handshake with a proxy chain verified by
// the server, proposal, arguments, result) next to the floor: a bare
// crypto/tls dial to a bare TLS server with the same TLS configuration plus
// one hand-written frame each way, no diracrpc code on the wire path. Both
// run alternately in the same loop; the metric client/floor is the ratio.
// "full" makes a full TLS handshake per call, "resumed" resumes the session.
func BenchmarkCall(b *testing.B) {
	e := newBenchEnv(b)
	defer e.stop()
	ctx := context.Background()
	for _, mode := range []string{"full", "resumed"} {
		client, floorCfg := e.client, e.floorCfg
		if mode == "full" {
			client, floorCfg = e.clientFull, e.floorFull
		}
		call := func() error { _, err := client.Call(ctx, "add", 1, 2); return err }
		floor := func() error { return floorCall(e.floorAddr, floorCfg) }
		for _, par := range []bool{false, true} {
			b.Run(mode+"/"+map[bool]string{false: "seq", true: "par"}[par], func(b *testing.B) {
				pair(b, par, "client", "floor", call, floor)
			})
		}
	}
}

// BenchmarkResumption compares calls of the Go client with full TLS
// handshakes and with resumed sessions, alternately in one loop; the metric
// full/resumed is the speed-up.
func BenchmarkResumption(b *testing.B) {
	e := newBenchEnv(b)
	defer e.stop()
	ctx := context.Background()
	full := func() error { _, err := e.clientFull.Call(ctx, "add", 1, 2); return err }
	resumed := func() error { _, err := e.client.Call(ctx, "add", 1, 2); return err }
	for _, par := range []bool{false, true} {
		b.Run(map[bool]string{false: "seq", true: "par"}[par], func(b *testing.B) {
			pair(b, par, "full", "resumed", full, resumed)
		})
	}
}

var floorPayload = []byte(`{"OK": true, "Value": [["Framework/Bench", "Test", "unknown"], ["RPC", "add"], "", "diracrpc-go"]}`)
var floorAnswer = []byte(`24:{"OK": true, "Value": 3}`)

func floorCall(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	msg := append(strconv.AppendInt(nil, int64(len(floorPayload)), 10), ':')
	if _, err := conn.Write(append(msg, floorPayload...)); err != nil {
		return err
	}
	_, err = readRawFrame(bufio.NewReader(conn))
	return err
}

// readRawFrame reads "<len>:<payload>" by hand.
func readRawFrame(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadSlice(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(string(head[:len(head)-1]))
	if err != nil {
		return nil, err
	}
	p := make([]byte, n)
	_, err = io.ReadFull(r, p)
	return p, err
}

func floorServer(b *testing.B, cfg *tls.Config) (string, func()) {
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := readRawFrame(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = c.Write(floorAnswer)
			}()
		}
	}()
	return "localhost:" + portOf(l.Addr()), func() { l.Close() }
}
