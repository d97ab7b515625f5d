// Package benchservers runs diracrpc's HTTPS and DISET servers and their
// bare floors in child processes (re-runs of the test binary), so that a
// benchmark measures a server's CPU time and heap apart from its clients'
// and from the other side's.
package benchservers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	"github.com/klauspost/compress/gzip"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

// childEnv names the PKI directory of a child started by StartServers.
const childEnv = "DIRACRPC_BENCHKIT_SERVERS"

// sideEnv is what a child serves: Diracrpc or Bare.
const sideEnv = "DIRACRPC_BENCHKIT_SIDE"

// largeEnv is Options.LargeAnswers for the child.
const largeEnv = "DIRACRPC_BENCHKIT_LARGE"

// ProfileEnv, set to a file name, makes the server process write a CPU
// profile of its whole life there, suffixed with its side (".diracrpc",
// ".bare"); run one benchmark at a time.
const ProfileEnv = "DIRACRPC_BENCH_SERVER_CPUPROFILE"

// MemProfileEnv, set to a file name, makes the server process write an
// allocation profile there when it ends.
const MemProfileEnv = "DIRACRPC_BENCH_SERVER_MEMPROFILE"

// Service is the name of the benchmark service, on both diracrpc servers.
const Service = "Framework/Bench"

// Server names, for Servers.Addr.
const (
	HTTPS     = "https"      // diracrpc's HTTPS server
	BareHTTPS = "bare-https" // net/http TLS server, fixed answers by path (see BarePath)
	DISET     = "dips"       // diracrpc's DISET server
	BareDISET = "bare-dips"  // TLS server reading and writing the frames of one echo call
)

// Answers: "hello" echoes, and two 10 MB results, the sizes of a
// getCompressedData configuration and of a 50,000-row job listing.
const (
	Hello  = "hello"
	Config = "config" // a 10 MB string
	Jobs   = "jobs"   // 50,000 job records
	// JobsGo is Jobs as a bare Go program would serve and read it without
	// diracrpc: the rows, Go structs, encoded on every call, and decoded by
	// the client into any, with the fastest JSON library on the module proxy
	// (bytedance/sonic). Only the bare server answers it: it is the floor of
	// the whole job, next to Jobs, the floor of moving the bytes.
	JobsGo = "jobs-go"
)

// BarePath is where the bare HTTPS server answers what the method "big"
// with argument answer gives on diracrpc's server (or echo("hello") for
// Hello), and BareDISETName the bare DISET server answering it.
func BarePath(answer string) string { return "/Bench/" + answer } // a System/Component path, as clients require

// BareDISETName is the bare DISET server sending answer.
func BareDISETName(answer string) string { return BareDISET + "-" + answer }

// Servers are two child processes on 127.0.0.1 with a throw-away RSA PKI
// (as grid credentials are): one serving diracrpc's HTTPS and DISET servers
// (Proc(Diracrpc)), one their bare floors (Proc(Bare)), so that the CPU time
// and the heap of each side are its own even when a benchmark calls both
// alternately. The test binary's TestMain must be Main.
type Servers struct {
	Files *pki.Files
	CAs   *credentials.CAStore

	addrs map[string]string
	procs map[string]*Proc
}

// The two sides, for Servers.Proc.
const (
	Diracrpc = "diracrpc"
	Bare     = "bare"
)

// Proc is one child process.
type Proc struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Reader
}

// Options say what the children serve besides echo.
type Options struct {
	// LargeAnswers builds the 10 MB answers (Config, Jobs). Off, the
	// children's heaps hold nothing else, so that their garbage collections
	// cost what the servers' own allocations make them cost.
	LargeAnswers bool
}

// StartServers starts the children; they stop when tb ends.
func StartServers(tb testing.TB, opts Options) *Servers {
	tb.Helper()
	ca := pki.NewT(tb, pki.Options{RSA: true})
	files, err := ca.WriteDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	s := &Servers{Files: files, CAs: ca.Store(), addrs: map[string]string{}, procs: map[string]*Proc{}}
	for _, side := range []string{Diracrpc, Bare} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"="+files.Root, sideEnv+"="+side,
			largeEnv+"="+strconv.FormatBool(opts.LargeAnswers))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			tb.Fatal(err)
		}
		outPipe, err := cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			in.Close() // the child exits at the end of its input
			_ = cmd.Wait()
		})
		p := &Proc{in: in, out: bufio.NewReader(outPipe)}
		line, err := p.out.ReadBytes('\n')
		if err != nil {
			tb.Fatalf("benchservers: the %s process did not start: %v", side, err)
		}
		if err := json.Unmarshal(line, &s.addrs); err != nil {
			tb.Fatalf("benchservers: %q: %v", line, err)
		}
		s.procs[side] = p
	}
	return s
}

// Proc returns the process of a side (Diracrpc or Bare).
func (s *Servers) Proc(side string) *Proc { return s.procs[side] }

// Addr returns a server's host:port.
func (s *Servers) Addr(name string) string { return s.addrs[name] }

// URL returns the service URL of diracrpc's server over protocol p.
func (s *Servers) URL(p diracrpc.Protocol) string {
	if p == diracrpc.HTTPS {
		return "https://" + s.addrs[HTTPS] + "/" + Service
	}
	return string(p) + "://" + s.addrs[DISET] + "/" + Service
}

// ClientOptions are diracrpc client options with the PKI's proxy.
func (s *Servers) ClientOptions() diracrpc.Options {
	return diracrpc.Options{Credential: s.Files.ProxyCred, CAs: s.CAs, Logger: Quiet}
}

// ClientTLS returns the TLS configuration of a bare client presenting the
// proxy, with session resumption when resume is set.
func (s *Servers) ClientTLS(tb testing.TB, resume bool) *tls.Config {
	ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: s.Files.ProxyCred, CAs: s.CAs})
	if err != nil {
		tb.Fatal(err)
	}
	c := ct.Config("127.0.0.1")
	if !resume {
		c.ClientSessionCache = nil
	}
	return c
}

func (p *Proc) ask(tb testing.TB, cmd string) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		tb.Fatal(err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	var out []int64
	for _, f := range strings.Fields(line) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// CPU returns the CPU time the process has used, in nanoseconds.
func (p *Proc) CPU(tb testing.TB) int64 { return p.ask(tb, "cpu")[0] }

// Memory returns the process's live heap and goroutine stacks after a
// garbage collection, and its number of goroutines.
func (p *Proc) Memory(tb testing.TB) (heap, stacks, goroutines int64) {
	m := p.ask(tb, "mem")
	return m[0], m[1], m[2]
}

// Quiet discards log records.
var Quiet = slog.New(slog.DiscardHandler)

// Main is the TestMain of a package whose benchmarks start servers: in a
// process started by StartServers it serves them and exits; otherwise it runs
// the tests and fails the package if one leaves a goroutine behind (a call
// that outlived its context, a connection or watcher never closed).
func Main(m *testing.M) {
	childMain()
	goleak.VerifyTestMain(m)
}

// childMain serves the servers and exits when the process was started by
// StartServers; otherwise it returns at once.
func childMain() {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return
	}
	if err := serveChild(dir); err != nil {
		fmt.Fprintln(os.Stderr, "benchkit servers:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// BigAnswers returns the values "big" answers, by answer name: each large
// answer also as a value.Encoded (EncodedAnswer).
func BigAnswers() map[string]any {
	big := map[string]any{
		Config: benchdata.Configuration(10_000_000),
		Jobs:   benchdata.Listing(50_000),
	}
	for _, name := range []string{Config, Jobs} {
		big[EncodedAnswer(name)] = value.NewEncoded(big[name])
	}
	return big
}

// EncodedAnswer names answer served as a value.Encoded: the same bytes,
// encoded once rather than on every call, as a server answers what many
// calls get unchanged. Its floor is answer's.
func EncodedAnswer(answer string) string { return answer + "-encoded" }

func serveChild(dir string) error {
	cas, err := credentials.LoadCADir(filepath.Join(dir, "certificates"))
	if err != nil {
		return err
	}
	host, err := credentials.LoadCertKey(filepath.Join(dir, "hostcert.pem"), filepath.Join(dir, "hostkey.pem"), credentials.LoadOptions{})
	if err != nil {
		return err
	}
	user, err := credentials.LoadCertKey(filepath.Join(dir, "usercert.pem"), filepath.Join(dir, "userkey.pem"), credentials.LoadOptions{})
	if err != nil {
		return err
	}
	big := map[string]any{}
	if os.Getenv(largeEnv) == "true" {
		big = BigAnswers()
	}
	svc := server.NewService(Service)
	svc.Logger = Quiet
	svc.Registry = &server.Registry{
		Users:  map[string]server.User{"testuser": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"testuser"}, Properties: []string{"NormalUser"}}},
	}
	svc.Handle("big", server.Method{Func: func(_ context.Context, r *server.Request) (any, error) {
		return big[r.Args[0].(string)], nil
	}, Types: []server.Type{server.TypeStr}})

	// The answers of the floors: the bytes diracrpc's servers send, and
	// JobsGo's, encoded on every call.
	answers := map[string]bareAnswer{}
	for name, v := range map[string]any{Hello: Hello, Config: big[Config], Jobs: big[Jobs]} {
		if v == nil {
			continue
		}
		a, err := jencode.Marshal(diracrpc.OK(v))
		if err != nil {
			return err
		}
		answers[name] = bareAnswer{fixed: a}
	}
	if big[Jobs] != nil {
		rows := benchdata.Result{OK: true, Value: benchdata.JobsN(len(big[Jobs].([]any)))}
		if _, err := sonic.ConfigFastest.Marshal(rows); err != nil {
			return err
		}
		answers[JobsGo] = bareAnswer{encode: func() []byte {
			a, _ := sonic.ConfigFastest.Marshal(rows) // checked above
			return a
		}}
	}

	httpsTLS, err := server.NewHTTPSTLSConfig(host, cas)
	if err != nil {
		return err
	}
	disetTLS, err := server.NewDISETTLSConfig(host, cas)
	if err != nil {
		return err
	}
	addrs := map[string]string{}
	listen := func(name string) (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addrs[name] = l.Addr().String()
		}
		return l, err
	}
	if os.Getenv(sideEnv) == Diracrpc {
		hs := server.NewHTTPS(server.HTTPSConfig{TLS: httpsTLS, Logger: Quiet}, svc)
		ds := server.NewDISET(svc, server.DISETConfig{TLS: disetTLS, Logger: Quiet, MaxConns: 4096})
		for name, serve := range map[string]func(net.Listener) error{HTTPS: hs.Serve, DISET: ds.Serve} {
			l, err := listen(name)
			if err != nil {
				return err
			}
			go func() { _ = serve(l) }()
		}
	} else {
		l, err := listen(BareHTTPS)
		if err != nil {
			return err
		}
		bare := bareHTTPS(httpsTLS, answers)
		go func() { _ = bare.ServeTLS(l, "", "") }()
		for name, answer := range answers {
			l, err := listen(BareDISETName(name))
			if err != nil {
				return err
			}
			go bareDISET(tls.NewListener(l, disetTLS), answer)
		}
	}
	line, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	if path := os.Getenv(ProfileEnv); path != "" {
		f, err := os.Create(path + "." + os.Getenv(sideEnv))
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if path := os.Getenv(MemProfileEnv); path != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(path + "." + os.Getenv(sideEnv)); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	fmt.Printf("%s\n", line)
	return commands(os.Stdin, os.Stdout)
}

// commands answers the parent's questions until its end of input.
func commands(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch sc.Text() {
		case "cpu":
			t, _ := benchkit.CPUTime()
			fmt.Fprintln(out, int64(t))
		case "mem":
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintln(out, m.HeapAlloc, m.StackInuse, runtime.NumGoroutine())
		default:
			return fmt.Errorf("unknown command %q", sc.Text())
		}
	}
	return sc.Err()
}

// GzipMinLength is the size from which the bare HTTPS server compresses an
// answer for a client that accepts gzip, as diracrpc's server does.
const GzipMinLength = 1024

// gzipWriters are the bare server's compressors: klauspost/compress at
// BestSpeed, the library and level of diracrpc's server.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

var gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// bareAnswer is what a bare server answers: fixed bytes, or bytes encoded
// on every call.
type bareAnswer struct {
	fixed  []byte
	encode func() []byte
}

func (a bareAnswer) bytes() []byte {
	if a.encode != nil {
		return a.encode()
	}
	return a.fixed
}

// bareHTTPS is the HTTPS floor: net/http with the same TLS configuration and
// timeouts, HTTP/1.1 only, reading the body and answering fixed bytes by path,
// gzip-compressed from GzipMinLength on when the client accepts it (with the
// library and level of diracrpc's server, each time).
func bareHTTPS(cfg *tls.Config, answers map[string]bareAnswer) *http.Server {
	byPath := map[string]bareAnswer{}
	for name, a := range answers {
		byPath[BarePath(name)] = a
	}
	return &http.Server{
		TLSConfig: cfg,
		// The timeouts of diracrpc's server (configuration, not overhead).
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       600 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          slog.NewLogLogger(Quiet.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			answer, ok := byPath[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			a := answer.bytes()
			w.Header().Set("Content-Type", "application/json")
			if len(a) >= GzipMinLength && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				zb := gzipBuffers.Get().(*bytes.Buffer)
				defer gzipBuffers.Put(zb)
				zb.Reset()
				zw := gzipWriters.Get().(*gzip.Writer)
				zw.Reset(zb)
				_, _ = zw.Write(a)
				_ = zw.Close()
				gzipWriters.Put(zw)
				a = zb.Bytes()
				w.Header().Set("Content-Encoding", "gzip")
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(a)))
			_, _ = w.Write(a)
		}),
	}
}

// okFrame is the server's S_OK to a proposal.
var okFrame = frame.Append(nil, []byte(`{"OK": true, "Value": null}`), false)

// bareDISET is the DISET floor: per connection, read the proposal frame,
// send S_OK, read the arguments frame, send answer's frame, close.
func bareDISET(l net.Listener, answer bareAnswer) {
	var fixed []byte
	if answer.encode == nil {
		fixed = frame.Append(nil, answer.fixed, false)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(c)
			if _, err := ReadFrame(r); err != nil {
				return
			}
			if _, err := c.Write(okFrame); err != nil {
				return
			}
			if _, err := ReadFrame(r); err != nil {
				return
			}
			f := fixed
			if f == nil {
				f = frame.Append(nil, answer.bytes(), false)
			}
			_, _ = c.Write(f)
		}()
	}
}

// DISET frames of the calls of a bare client, as diracrpc's client writes
// them in JSON: echo("hello"), and big(answer) (see BigArgs).
var (
	EchoProposal = Proposal("echo")
	EchoArgs     = frame.Append(nil, []byte(`{"OK": true, "Value": ["hello"]}`), false)
)

// Proposal is the proposal frame of an RPC call of method.
func Proposal(method string) []byte {
	return frame.Append(nil, []byte(`{"OK": true, "Value": [["`+Service+`", "", ""], ["RPC", "`+method+
		`"], "", "diracrpc-go"]}`), false)
}

// BigArgs is the arguments frame of big(answer).
func BigArgs(answer string) []byte {
	return frame.Append(nil, []byte(`{"OK": true, "Value": ["`+answer+`"]}`), false)
}

// DISETCall is one DISET call by a bare client, the floor of the clients:
// a crypto/tls dial, the proposal, the server's S_OK, the arguments, the
// result, frames written and read by hand. It returns the result payload.
func DISETCall(addr string, cfg *tls.Config, proposal, args []byte) ([]byte, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	if _, err := c.Write(proposal); err != nil {
		return nil, err
	}
	if ok, err := ReadFrame(r); err != nil || !bytes.Contains(ok, []byte(`"OK": true`)) {
		return nil, fmt.Errorf("proposal refused: %q %v", ok, err)
	}
	if _, err := c.Write(args); err != nil {
		return nil, err
	}
	return ReadFrame(r)
}

// ReadFrame reads "<len>:<payload>" by hand, as a bare peer would.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
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
