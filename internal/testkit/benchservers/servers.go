// Package benchservers runs diracrpc's HTTPS and DISET servers and their
// bare floors in a child process (a re-run of the test binary), so that a
// benchmark measures a server's CPU time and heap apart from its clients'.
package benchservers

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
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

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// childEnv names the PKI directory of a child started by StartServers.
const childEnv = "DIRACRPC_BENCHKIT_SERVERS"

// ProfileEnv, set to a file name, makes the server process write a CPU
// profile of its whole life there (run one benchmark at a time).
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
)

// BarePath is where the bare HTTPS server answers what the method "big"
// with argument answer gives on diracrpc's server (or echo("hello") for
// Hello), and BareDISETName the bare DISET server answering it.
func BarePath(answer string) string { return "/" + Service + "/" + answer }

// BareDISETName is the bare DISET server sending answer.
func BareDISETName(answer string) string { return BareDISET + "-" + answer }

// Servers is a child process serving diracrpc's HTTPS and DISET servers and
// their bare floors on 127.0.0.1, with a throw-away RSA PKI (as grid
// credentials are). The test binary must call ChildMain first thing in its
// TestMain.
type Servers struct {
	Files *pki.Files
	CAs   *credentials.CAStore

	addrs map[string]string
	mu    sync.Mutex
	in    io.WriteCloser
	out   *bufio.Reader
}

// StartServers starts the child; it stops when tb ends.
func StartServers(tb testing.TB) *Servers {
	tb.Helper()
	ca := pki.NewT(tb, pki.Options{RSA: true})
	files, err := ca.WriteDir(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+files.Root)
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
	s := &Servers{Files: files, CAs: ca.Store(), in: in, out: bufio.NewReader(outPipe)}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		tb.Fatalf("benchkit: the server process did not start: %v", err)
	}
	if err := json.Unmarshal(line, &s.addrs); err != nil {
		tb.Fatalf("benchkit: %q: %v", line, err)
	}
	return s
}

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

func (s *Servers) ask(tb testing.TB, cmd string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.in, cmd+"\n"); err != nil {
		tb.Fatal(err)
	}
	line, err := s.out.ReadString('\n')
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

// CPU returns the CPU time the child has used, in nanoseconds.
func (s *Servers) CPU(tb testing.TB) int64 { return s.ask(tb, "cpu")[0] }

// Memory returns the child's live heap and goroutine stacks after a
// garbage collection, and its number of goroutines.
func (s *Servers) Memory(tb testing.TB) (heap, stacks, goroutines int64) {
	m := s.ask(tb, "mem")
	return m[0], m[1], m[2]
}

// Quiet discards log records.
var Quiet = slog.New(slog.DiscardHandler)

// ChildMain serves the servers and exits when the process was started by
// StartServers; otherwise it returns at once. Call it first in TestMain.
func ChildMain() {
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

// BigAnswers returns the values "big" answers, by answer name.
func BigAnswers() map[string]any {
	raw := make([]byte, 7_500_000) // 10 MB of base64
	_, _ = rand.Read(raw)
	return map[string]any{
		Config: base64.StdEncoding.EncodeToString(raw),
		Jobs:   benchdata.Listing(50_000),
	}
}

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
	big := BigAnswers()
	svc := server.NewService(Service)
	svc.Logger = Quiet
	svc.Registry = &server.Registry{
		Users:  map[string]server.User{"testuser": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"testuser"}, Properties: []string{"NormalUser"}}},
	}
	svc.Handle("big", server.Method{Func: func(_ context.Context, r *server.Request) (any, error) {
		return big[r.Args[0].(string)], nil
	}, Types: []server.Type{server.TypeStr}})

	// The answers of the floors: the bytes diracrpc's servers send.
	answers := map[string][]byte{}
	for name, v := range map[string]any{Hello: Hello, Config: big[Config], Jobs: big[Jobs]} {
		if answers[name], err = jencode.Marshal(diracrpc.OK(v)); err != nil {
			return err
		}
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
	hs := server.NewHTTPS(server.HTTPSConfig{TLS: httpsTLS, Logger: Quiet}, svc)
	ds := server.NewDISET(svc, server.DISETConfig{TLS: disetTLS, Logger: Quiet, MaxConns: 4096})
	bare := bareHTTPS(httpsTLS, answers)
	for name, serve := range map[string]func(net.Listener) error{
		HTTPS: hs.Serve, DISET: ds.Serve, BareHTTPS: func(l net.Listener) error { return bare.ServeTLS(l, "", "") },
	} {
		l, err := listen(name)
		if err != nil {
			return err
		}
		go func() { _ = serve(l) }()
	}
	for name, answer := range answers {
		l, err := listen(BareDISETName(name))
		if err != nil {
			return err
		}
		go bareDISET(tls.NewListener(l, disetTLS), answer)
	}
	line, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	if path := os.Getenv(ProfileEnv); path != "" {
		f, err := os.Create(path)
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
			if f, err := os.Create(path); err == nil {
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

// bareHTTPS is the HTTPS floor: net/http with the same TLS configuration,
// HTTP/1.1 only, reading the body and answering fixed bytes by path.
func bareHTTPS(cfg *tls.Config, answers map[string][]byte) *http.Server {
	byPath := map[string][]byte{}
	for name, a := range answers {
		byPath[BarePath(name)] = a
	}
	return &http.Server{
		TLSConfig:         cfg,
		ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          slog.NewLogLogger(Quiet.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			a, ok := byPath[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(a)))
			_, _ = w.Write(a)
		}),
	}
}

// okFrame is the server's S_OK to a proposal.
var okFrame = frame.Append(nil, []byte(`{"OK": true, "Value": null}`), false)

// bareDISET is the DISET floor: per connection, read the proposal frame,
// send S_OK, read the arguments frame, send answer, close.
func bareDISET(l net.Listener, answer []byte) {
	answer = frame.Append(nil, answer, false)
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
			_, _ = c.Write(answer)
		}()
	}
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
