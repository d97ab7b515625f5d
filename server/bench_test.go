package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/klauspost/compress/gzip"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/httpsclient"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

// The server benchmarks run diracrpc's servers and their bare floors in two
// child processes (benchservers) and call them from this one with the same
// bare clients, so that the server CPU time of each side is its own. The
// paired benchmarks call diracrpc and its floor alternately in one loop and
// report the ratios (server-cpu-ratio, wall-ratio); the others run each
// side in turn (impl=diracrpc, impl=bare). Run and compare with
//
//	go test -run '^$' -bench . -count 10 ./server/ > new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest new.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /impl new.txt

// echoForm is what diracrpc's HTTPS client sends for echo("hello").
var echoForm = []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=Oracle")

// httpsEcho returns the calls of echo("hello") to diracrpc's HTTPS server
// and to the floor (a net/http TLS server reading the body and answering
// fixed JSON), over keep-alive connections of one bare client.
func httpsEcho(b *testing.B, srv *benchservers.Servers) (diracrpcCall, bareCall func() error) {
	tr := &http.Transport{TLSClientConfig: srv.ClientTLS(b, true), MaxIdleConnsPerHost: 128}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	call := func(url string) func() error {
		return func() error { _, err := post(hc, url, echoForm); return err }
	}
	return call(srv.URL(diracrpc.HTTPS)),
		call("https://" + srv.Addr(benchservers.BareHTTPS) + benchservers.BarePath(benchservers.Hello))
}

// BenchmarkHTTPSServer: echo("hello") from 1 and 64 keep-alive callers,
// diracrpc and the floor alternately; server-cpu-ratio is the target.
func BenchmarkHTTPSServer(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	dc, bc := httpsEcho(b, srv)
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchkit.Pair(b, callers,
				benchkit.Side{Name: "diracrpc", Server: srv.Proc(benchservers.Diracrpc), Call: dc},
				benchkit.Side{Name: "bare", Server: srv.Proc(benchservers.Bare), Call: bc})
		})
	}
}

// BenchmarkHTTPSThroughput: echo("hello") from 64 keep-alive callers, one
// side at a time; ns/op is the inverse of the throughput. Run the two sides
// in alternating processes (docs/perf/run.sh does): with -count, one side
// runs all its rounds before the other, and the machine's drift weighs on
// one side only. BenchmarkHTTPSServer/callers=64's wall-ratio is the same
// throughput ratio, the two sides side by side in one run.
func BenchmarkHTTPSThroughput(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	dc, bc := httpsEcho(b, srv)
	for _, impl := range []string{benchservers.Diracrpc, benchservers.Bare} {
		call := map[string]func() error{benchservers.Diracrpc: dc, benchservers.Bare: bc}[impl]
		b.Run("callers=64/impl="+impl, func(b *testing.B) {
			benchkit.Measure(b, srv.Proc(impl), 64, call)
		})
	}
}

func post(hc *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := readAll(resp.Body, resp.ContentLength)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, out)
	}
	return out, err
}

// readAll reads r to its end as bare Go at its best does: into one buffer of
// the declared length (-1: unknown), else into a doubling one, as diracrpc's
// clients do (io.ReadAll grows by half and copies everything once more).
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared >= 0 {
		out := make([]byte, declared)
		_, err := io.ReadFull(r, out)
		return out, err
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// BenchmarkDISETServer: echo("hello"), one connection per call as in DISET,
// with a full TLS handshake or a resumed session, diracrpc and a bare TLS
// server with the same configuration reading and writing the same frames,
// alternately; server-cpu-ratio is the target.
func BenchmarkDISETServer(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	for _, handshake := range []string{"full", "resumed"} {
		call := func(addr string) func() error {
			// A session cache per side: sessions are cached by server name,
			// and the two sides alternating call by call would replace each
			// other's.
			cfg := srv.ClientTLS(b, handshake == "resumed")
			return func() error {
				res, err := benchservers.DISETCall(addr, cfg, benchservers.EchoProposal, benchservers.EchoArgs)
				if err == nil && !bytes.Equal(res, []byte(`{"OK": true, "Value": "hello"}`)) {
					err = fmt.Errorf("answer %q", res)
				}
				return err
			}
		}
		b.Run("handshake="+handshake, func(b *testing.B) {
			benchkit.Pair(b, 1,
				benchkit.Side{Name: "diracrpc", Server: srv.Proc(benchservers.Diracrpc), Call: call(srv.Addr(benchservers.DISET))},
				benchkit.Side{Name: "bare", Server: srv.Proc(benchservers.Bare), Call: call(srv.Addr(benchservers.BareDISETName(benchservers.Hello)))})
		})
	}
}

// idleConns is how many idle connections BenchmarkIdleConn holds (the
// process needs two file descriptors for each: its end and the server's,
// in the child).
const idleConns = 1000

// BenchmarkIdleConn opens idleConns connections and reports the server's
// heap (heap-B/conn, the target) and heap plus goroutine stacks
// (mem-B/conn) per connection: HTTPS connections idle between keep-alive
// calls, DISET connections after the handshake, waiting for the proposal.
// Each iteration opens and closes them all; run with -benchtime 1x.
func BenchmarkIdleConn(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	cfg := srv.ClientTLS(b, true)
	targets := map[string]map[string]string{
		"https": {"diracrpc": srv.Addr(benchservers.HTTPS), "bare": srv.Addr(benchservers.BareHTTPS)},
		"dips":  {"diracrpc": srv.Addr(benchservers.DISET), "bare": srv.Addr(benchservers.BareDISETName(benchservers.Hello))},
	}
	paths := map[string]string{"diracrpc": "/" + benchservers.Service, "bare": benchservers.BarePath(benchservers.Hello)}
	for _, proto := range []string{"https", "dips"} {
		for _, impl := range []string{"diracrpc", "bare"} {
			b.Run("proto="+proto+"/impl="+impl, func(b *testing.B) {
				var heap, mem float64
				for b.Loop() {
					h, m := idleCost(b, srv.Proc(impl), cfg, targets[proto][impl], proto, paths[impl])
					heap += h
					mem += m
				}
				b.ReportMetric(heap/float64(b.N), "heap-B/conn")
				b.ReportMetric(mem/float64(b.N), "mem-B/conn")
			})
		}
	}
}

func idleCost(b *testing.B, srv *benchservers.Proc, cfg *tls.Config, addr, proto, path string) (heap, mem float64) {
	h0, s0, _ := srv.Memory(b)
	conns := make([]net.Conn, 0, idleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(echoForm)) + string(echoForm))
	for range idleConns {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if proto != "https" {
			continue
		}
		// One call, so that the connection is an idle keep-alive one.
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", addr, resp.Status)
		}
	}
	// The server may still be finishing the last handshakes: read until the
	// heap is the same twice in a row.
	var h1, s1 int64
	for i := 0; i < 100; i++ {
		h, s, _ := srv.Memory(b)
		if h == h1 && s == s1 {
			break
		}
		h1, s1 = h, s
	}
	return float64(h1-h0) / idleConns, float64(h1-h0+s1-s0) / idleConns
}

// BenchmarkLargeAnswer moves a 10 MB result (Config: a string, the size of
// a getCompressedData configuration; Jobs: a 50,000-row job listing) from
// diracrpc's server to diracrpc's client, decoded, next to the bare floor
// moving the same bytes (diracrpc's answer, pre-encoded) from a bare server
// to a bare client, alternately. wall-ratio is the target here.
//
// HTTPS runs twice. compress=off: the client does not ask for gzip
// (httpsclient.Options.DisableCompression), nor does the bare one, the
// like-for-like comparison. compress=gzip: diracrpc's default, the client
// asking for gzip as DIRAC's does; the bare server then compresses the same
// bytes on every call with the same library and level as diracrpc's
// (klauspost/compress, BestSpeed), and the bare client inflates them with
// it too.
//
// Each answer also runs as result=raw: the server answers it as a
// value.Encoded, encoded once like the floor's bytes (as a configuration
// server keeps its compressed configuration), and the client takes it
// undecoded (diracrpc.WithRawResult), as a program that stores, forwards or
// decodes the answer its own way does: diracrpc then does the floor's job,
// moving the bytes.
//
// The listing also runs next to a second floor, floor=go: the whole job as a
// bare Go server and client would do it without diracrpc, the rows encoded
// on every call and decoded into any, with sonic (benchservers.JobsGo). The
// target is against the first floor; this one says what a Go program pays
// for the same listing with the fastest general JSON library.
func BenchmarkLargeAnswer(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{LargeAnswers: true})
	ctx := context.Background()
	newHTTPS := func(o httpsclient.Options) *diracrpc.Client {
		c, err := httpsclient.New([]string{srv.URL(diracrpc.HTTPS)}, srv.ClientOptions(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	hc := map[string]*diracrpc.Client{
		"off":  newHTTPS(httpsclient.Options{DisableCompression: true}),
		"gzip": newHTTPS(httpsclient.Options{}),
	}
	dc, err := disetclient.New([]string{srv.URL(diracrpc.DIPS)}, srv.ClientOptions(), disetclient.Options{ResumeSessions: true})
	if err != nil {
		b.Fatal(err)
	}
	// The bare client never asks for gzip by itself: postGzip does.
	tr := &http.Transport{TLSClientConfig: srv.ClientTLS(b, true), DisableCompression: true}
	defer tr.CloseIdleConnections()
	bare := &http.Client{Transport: tr}
	cfg := srv.ClientTLS(b, true)
	for _, answer := range []string{benchservers.Config, benchservers.Jobs} {
		url := "https://" + srv.Addr(benchservers.BareHTTPS) + benchservers.BarePath(answer)
		form := []byte("method=big&args=%5B%22" + answer + "%22%5D&clientVO=unknown&clientSetup=Oracle")
		type largeCase struct {
			name           string
			diracrpc, bare func() error
		}
		httpsOff := func() error { _, err := hc["off"].Call(ctx, "big", answer); return err }
		dips := func() error { _, err := dc.Call(ctx, "big", answer); return err }
		cases := []largeCase{
			{"proto=https/compress=off", httpsOff,
				func() error { _, err := post(bare, url, form); return err }},
			{"proto=https/compress=gzip",
				func() error { _, err := hc["gzip"].Call(ctx, "big", answer); return err },
				func() error { _, err := postGzip(bare, url, form); return err }},
			{"proto=dips", dips,
				func() error {
					_, err := benchservers.DISETCall(srv.Addr(benchservers.BareDISETName(answer)), cfg,
						benchservers.Proposal("big"), benchservers.BigArgs(answer))
					return err
				}},
		}
		// The answer moved as its floor moves it: answered as a
		// value.Encoded (encoded once, as the floor's bytes are) and taken
		// undecoded (WithRawResult), next to the same floors.
		raw := diracrpc.WithRawResult(ctx)
		enc := benchservers.EncodedAnswer(answer)
		cases = append(cases,
			largeCase{"proto=https/compress=off/result=raw",
				func() error { _, err := hc["off"].Call(raw, "big", enc); return err }, cases[0].bare},
			largeCase{"proto=https/compress=gzip/result=raw",
				func() error { _, err := hc["gzip"].Call(raw, "big", enc); return err }, cases[1].bare},
			largeCase{"proto=dips/result=raw",
				func() error { _, err := dc.Call(raw, "big", enc); return err }, cases[2].bare})
		if answer == benchservers.Jobs {
			// The same calls next to the floor of the whole job (see
			// benchservers.JobsGo): a bare Go server and client encoding and
			// decoding the listing with sonic.
			goURL := "https://" + srv.Addr(benchservers.BareHTTPS) + benchservers.BarePath(benchservers.JobsGo)
			cases = append(cases,
				largeCase{"proto=https/compress=off/floor=go", httpsOff,
					func() error { return decodeSonic(post(bare, goURL, form)) }},
				largeCase{"proto=dips/floor=go", dips,
					func() error {
						return decodeSonic(benchservers.DISETCall(srv.Addr(benchservers.BareDISETName(benchservers.JobsGo)), cfg,
							benchservers.Proposal("big"), benchservers.BigArgs(answer)))
					}})
		}
		for _, c := range cases {
			b.Run("answer="+answer+"/"+c.name, func(b *testing.B) {
				benchkit.Pair(b, 1,
					benchkit.Side{Name: "diracrpc", Server: srv.Proc(benchservers.Diracrpc), Call: c.diracrpc},
					benchkit.Side{Name: "bare", Server: srv.Proc(benchservers.Bare), Call: c.bare})
			})
		}
	}
}

// decodeSonic decodes a bare answer into any with sonic, as a Go program
// without diracrpc would, and checks that it is an S_OK.
func decodeSonic(answer []byte, err error) error {
	if err != nil {
		return err
	}
	var v any
	if err := sonic.ConfigFastest.Unmarshal(answer, &v); err != nil {
		return err
	}
	if d, ok := v.(map[string]any); !ok || d["OK"] != true {
		return fmt.Errorf("not an S_OK: %.100s", answer)
	}
	return nil
}

// postGzip is post asking for a gzip-compressed answer, inflated with
// klauspost/compress as diracrpc's client does: the compressed body read
// whole (readAll), then inflated into one buffer of the size its trailer
// gives (ISIZE, the size modulo 2^32, exact for these answers).
func postGzip(hc *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return nil, fmt.Errorf("answer not compressed: %s", resp.Status)
	}
	z, err := readAll(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, err
	}
	if len(z) < 4 || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d compressed bytes", resp.Status, len(z))
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	out := make([]byte, binary.LittleEndian.Uint32(z[len(z)-4:]))
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, err
	}
	if n, err := zr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, fmt.Errorf("inflated answer longer than its trailer says")
	}
	return out, nil
}
