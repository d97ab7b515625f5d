package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness"
	"github.com/diracgo/diracrpc/testharness/pki"
	"github.com/diracgo/diracrpc/value"
)

const oracleName = "Framework/OracleTornado"

type httpsEnv struct {
	base               string // https://localhost:port
	srv                *server.HTTPS
	proxy, user, anon  *http.Client
	ca                 *pki.CA
	userCred, hostCred *credentials.Credential
}

// ciIdentities makes a test PKI: its CA and the pki.Identities of ciuser.
func ciIdentities(t *testing.T) (ca *pki.CA, host, user, proxy *credentials.Credential) {
	t.Helper()
	ca = pki.NewT(t, pki.Options{})
	ids := ca.IdentitiesT(t, "ciuser")
	return ca, ids.Host, ids.User, ids.Proxy
}

// ciRegistry knows user as ciuser, a member of dirac_user (NormalUser).
func ciRegistry(user *credentials.Credential) *server.Registry {
	return &server.Registry{
		Users:  map[string]server.User{"ciuser": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]server.Group{"dirac_user": {Users: []string{"ciuser"}, Properties: []string{"NormalUser"}}},
	}
}

func startHTTPS(t *testing.T, cfg server.HTTPSConfig, svcs ...*server.Service) *httpsEnv {
	t.Helper()
	ca, host, user, proxy := ciIdentities(t)
	reg := ciRegistry(user)
	if len(svcs) == 0 {
		svcs = []*server.Service{testharness.NewRecordedService(oracleName, reg)}
	}
	for _, s := range svcs {
		s.Logger = quiet
		if s.Registry == nil {
			s.Registry = reg
		}
	}
	if cfg.TLS == nil {
		tc, err := server.NewHTTPSTLSConfig(host, ca.Store())
		require.NoError(t, err)
		cfg.TLS = tc
	}
	cfg.Logger = quiet
	h := server.NewHTTPS(cfg, svcs...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = h.Serve(l) }()
	t.Cleanup(func() {
		// Shutdown waits for connections net/http is still closing gently.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	client := func(cred *credentials.Credential) *http.Client {
		ct, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: cred, CAs: ca.Store()})
		require.NoError(t, err)
		tr := &http.Transport{TLSClientConfig: ct.Config("localhost"), DisableCompression: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	return &httpsEnv{
		base: "https://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port),
		srv:  h, proxy: client(proxy), user: client(user), anon: client(nil),
		ca: ca, userCred: user, hostCred: host,
	}
}

type answer struct {
	code        int
	contentType string
	body        []byte
	header      http.Header
	close       bool
}

func (e *httpsEnv) post(t *testing.T, c *http.Client, path, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header, resp.Close}
}

// httpsCapture returns the requests and responses of https_tornadoclient.jsonl.
func httpsCapture(t *testing.T) (reqs []string, resps []answer) {
	t.Helper()
	f, err := os.Open(filepath.Join(captures.Dir(), "https_tornadoclient.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var c2s, s2c []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var rec struct {
			Dir, Hex string
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		b, err := hex.DecodeString(rec.Hex)
		require.NoError(t, err)
		if rec.Dir == "c2s" {
			c2s = append(c2s, b...)
		} else {
			s2c = append(s2c, b...)
		}
	}
	rr := bufio.NewReader(bytes.NewReader(c2s))
	for {
		req, err := http.ReadRequest(rr)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(req.Body)
		reqs = append(reqs, string(b))
	}
	sr := bufio.NewReader(bytes.NewReader(s2c))
	for range reqs {
		resp, err := http.ReadResponse(sr, nil)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resps = append(resps, answer{resp.StatusCode, resp.Header.Get("Content-Type"), b, resp.Header, resp.Close})
	}
	return reqs, resps
}

func curlCase(t *testing.T, name string) (req string, a answer) {
	t.Helper()
	dir := filepath.Join(captures.Dir(), "curl")
	read := func(ext string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "curl_"+name+"."+ext))
		require.NoError(t, err)
		return b
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(read("http_code"))))
	require.NoError(t, err)
	return string(read("request_body")), answer{code: code, body: read("response_body")}
}

// TestHTTPSReplay sends DIRAC's recorded requests to the Go server: status
// codes, content types and bodies equal the real server's for the
// deterministic methods; for whoami and ping the keys and their order do.
func TestHTTPSReplay(t *testing.T) {
	e := startHTTPS(t, server.HTTPSConfig{})
	reqs, resps := httpsCapture(t)
	require.Len(t, reqs, 10)
	for i, body := range reqs {
		got := e.post(t, e.proxy, "/"+oracleName, body)
		want := resps[i]
		assert.Equal(t, want.code, got.code, body)
		assert.Equal(t, want.contentType, got.contentType, body)
		assert.Equal(t, "Accept-Encoding", got.header.Get("Vary"))
		switch {
		case strings.HasPrefix(body, "method=whoami"), strings.HasPrefix(body, "method=ping"):
			assert.Equal(t, keysOf(t, want.body), keysOf(t, got.body), body)
		default:
			assert.Equal(t, string(want.body), string(got.body), body)
		}
	}

	clients := map[string]*http.Client{"proxy": e.proxy, "usercert": e.user, "nocert": e.anon}
	for _, name := range []string{"add_usercert", "echo_usercert", "fail_proxy", "now_proxy", "types_proxy",
		"nomethod_proxy", "badjson_proxy", "echo_nocert", "whoami_nocert", "rawcontent_proxy",
		"whoami_proxy", "whoami_usercert", "ping_usercert"} {
		body, want := curlCase(t, name)
		cred := name[strings.LastIndex(name, "_")+1:]
		got := e.post(t, clients[cred], "/"+oracleName, body)
		assert.Equal(t, want.code, got.code, name)
		if strings.HasPrefix(name, "whoami_p") || strings.HasPrefix(name, "whoami_u") || strings.HasPrefix(name, "ping") {
			assert.Equal(t, keysOf(t, want.body), keysOf(t, got.body), name)
			continue
		}
		assert.Equal(t, string(want.body), string(got.body), name)
	}
}

func keysOf(t *testing.T, body []byte) []any {
	t.Helper()
	v, err := jencode.Decode(body)
	require.NoError(t, err, string(body))
	d := v.(*value.Dict)
	val, _ := d.Lookup("Value")
	return val.(*value.Dict).Keys()
}

func TestHTTPSStatusCodes(t *testing.T) {
	e := startHTTPS(t, server.HTTPSConfig{MaxBodyBytes: 1 << 20})
	ok := "method=ping&args=%5B%5D"
	page := func(code int) string {
		s := strconv.Itoa(code) + ": " + http.StatusText(code)
		return "<html><title>" + s + "</title><body>" + s + "</body></html>"
	}

	a := e.post(t, e.proxy, "/Framework/Nope", ok)
	assert.Equal(t, 404, a.code)
	assert.Contains(t, string(a.body), "Not found.")

	req, _ := http.NewRequest(http.MethodGet, e.base+"/"+oracleName, nil)
	a = do(t, e.proxy, req)
	assert.Equal(t, 405, a.code)
	assert.Equal(t, page(405), string(a.body))

	a = e.post(t, e.proxy, "/"+oracleName, "args=%5B%5D")
	assert.Equal(t, 400, a.code)
	assert.Equal(t, page(400), string(a.body))

	// method in the query string is accepted, as Tornado's get_argument does.
	a = e.post(t, e.proxy, "/"+oracleName+"?method=echo", "args=%5B%22q%22%5D")
	assert.Equal(t, 200, a.code)
	assert.Equal(t, `{"OK": true, "Value": "q"}`, string(a.body))

	a = e.post(t, e.anon, "/"+oracleName, ok)
	assert.Equal(t, 401, a.code)
	assert.Equal(t, page(401), string(a.body))

	a = e.post(t, e.proxy, "/"+oracleName, "method=crash")
	assert.Equal(t, 500, a.code)
	assert.Equal(t, page(500), string(a.body))

	a = e.post(t, e.proxy, "/"+oracleName, "method=nothing")
	assert.Equal(t, 501, a.code)
	assert.Equal(t, page(501), string(a.body))

	// Over the body limit: an empty 400 and the connection closed.
	big := "method=echo&args=" + strings.Repeat("x", 1<<20)
	a = e.post(t, e.proxy, "/"+oracleName, big)
	assert.Equal(t, 400, a.code)
	assert.Empty(t, a.body)
	assert.True(t, a.close)

	// Wrong content type: the fields are not parsed, so no method.
	req, _ = http.NewRequest(http.MethodPost, e.base+"/"+oracleName, strings.NewReader(ok))
	req.Header.Set("Content-Type", "text/plain")
	a = do(t, e.proxy, req)
	assert.Equal(t, 400, a.code)
}

func TestHTTPSGzipAndTokens(t *testing.T) {
	e := startHTTPS(t, server.HTTPSConfig{TokenAuth: func(_ context.Context, tok string) (server.TokenIdentity, error) {
		if tok != "tok" {
			return server.TokenIdentity{}, io.EOF
		}
		return server.TokenIdentity{DN: "/C=ch/O=DIRAC/CN=token user", Group: "dirac_user"}, nil
	}})
	long := strings.Repeat("abc", 1000)
	body := "method=echoAny&args=" + `%5B%22` + long + `%22%5D`
	a := e.post(t, e.proxy, "/"+oracleName, body, "Accept-Encoding", "gzip")
	require.Equal(t, 200, a.code)
	assert.Equal(t, "gzip", a.header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(a.body))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, `{"OK": true, "Value": "`+long+`"}`, string(plain))

	// A gzip-compressed request body.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, "method=add&args=%5B2%2C+3%5D")
	zw.Close()
	a = e.post(t, e.proxy, "/"+oracleName, zb.String(), "Content-Encoding", "gzip")
	assert.Equal(t, `{"OK": true, "Value": 5}`, string(a.body))

	// Tornado's whoami needs "authenticated": a token naming a DN the
	// Registry does not know is refused, as by DIRAC.
	a = e.post(t, e.anon, "/"+oracleName, "method=whoami", "Authorization", "Bearer tok")
	require.Equal(t, 401, a.code)
	a = e.post(t, e.anon, "/"+oracleName, "method=echoAny&args=%5B1%5D", "Authorization", "Bearer tok")
	require.Equal(t, 200, a.code)
	a = e.post(t, e.anon, "/"+oracleName, "method=whoami", "Authorization", "Bearer bad")
	assert.Equal(t, 401, a.code)
}

func TestHTTPSManyServicesAndShutdown(t *testing.T) {
	s1 := server.NewService("Framework/One")
	s1.DefaultAuth = []string{"all"}
	s1.HandleFunc("name", func(context.Context, *server.Request) (any, error) { return "one", nil })
	s2 := server.NewService("Framework/Two")
	s2.DefaultAuth = []string{"all"}
	release := make(chan struct{})
	started := make(chan struct{})
	s2.HandleFunc("slow", func(context.Context, *server.Request) (any, error) {
		close(started)
		<-release
		return "two", nil
	})
	e := startHTTPS(t, server.HTTPSConfig{}, s1, s2)
	assert.Equal(t, `{"OK": true, "Value": "one"}`, string(e.post(t, e.proxy, "/Framework/One", "method=name").body))

	done := make(chan answer)
	go func() { done <- e.post(t, e.proxy, "/Framework/Two", "method=slow") }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	close(release)
	a := <-done
	assert.Equal(t, `{"OK": true, "Value": "two"}`, string(a.body), "the call in flight finishes")
	require.NoError(t, <-shut)
	_, err := tls.Dial("tcp", strings.TrimPrefix(e.base, "https://"), &tls.Config{InsecureSkipVerify: true})
	assert.Error(t, err, "no longer accepting")
}

func TestHTTPSCallStackRemovedAndTypes(t *testing.T) {
	s := server.NewService("Framework/Stack")
	s.DefaultAuth = []string{"all"}
	s.HandleFunc("withStack", func(context.Context, *server.Request) (any, error) {
		return server.Answer(value.NewDict("OK", false, "Errno", int64(0), "Message", "bad", "CallStack", []any{"frame"})), nil
	})
	s.Handle("typed", server.Method{Types: []server.Type{server.TypeInt},
		Func: func(_ context.Context, r *server.Request) (any, error) { return r.Args[0], nil }})
	e := startHTTPS(t, server.HTTPSConfig{}, s)
	a := e.post(t, e.proxy, "/Framework/Stack", "method=withStack")
	assert.Equal(t, `{"OK": false, "Errno": 0, "Message": "bad"}`, string(a.body))
	a = e.post(t, e.proxy, "/Framework/Stack", "method=typed&args=%5B%22x%22%5D")
	assert.Equal(t, 200, a.code)
	assert.Contains(t, string(a.body), "Type mismatch in parameter 0")
	// whoami is for authenticated callers on HTTPS, even with AllowAnonymous.
	e2 := startHTTPS(t, server.HTTPSConfig{AllowAnonymous: true})
	assert.Equal(t, 401, e2.post(t, e2.anon, "/"+oracleName, "method=whoami").code)
	assert.Equal(t, 200, e2.post(t, e2.anon, "/"+oracleName, "method=echo&args=%5B%22x%22%5D").code)
}

// A client that stops sending in the middle of its body is disconnected
// after BodyReadTimeout, and its call slot serves the next caller; a body
// still arriving is not a stall.
func TestHTTPSStalledBodyIsDropped(t *testing.T) {
	e := startHTTPS(t, server.HTTPSConfig{BodyReadTimeout: 200 * time.Millisecond, MaxConcurrentCalls: 1})
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp",
		strings.TrimPrefix(e.base, "https://"), &tls.Config{RootCAs: e.ca.Store().Roots, ServerName: "localhost"})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write([]byte("POST /" + oracleName + " HTTP/1.1\r\nHost: localhost\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nmethod=ping"))
	require.NoError(t, err)
	start := time.Now()
	rest, err := io.ReadAll(conn) // the server's 400, then the end of the connection
	require.NoError(t, err, "the server must close the connection, not leave it waiting")
	assert.Contains(t, string(rest), "400 Bad Request")
	assert.Less(t, time.Since(start), 5*time.Second, "dropped after the body timeout, not the default 30 s")

	// With its only call slot free again, a normal call goes through,
	// whatever its body's size (each read restarts the timeout).
	a := e.post(t, e.proxy, "/"+oracleName, "method=echo&args="+url.QueryEscape(`["`+strings.Repeat("x", 4<<20)+`"]`))
	require.Equal(t, 200, a.code)
}

// A body that never starts is a stall too, also when the server lets
// net/http's ReadTimeout bound the first read (BodyReadTimeout at least
// ReadHeaderTimeout, as by default).
func TestHTTPSBodyThatNeverStartsIsDropped(t *testing.T) {
	for _, cfg := range []server.HTTPSConfig{
		{BodyReadTimeout: 500 * time.Millisecond, ReadHeaderTimeout: 500 * time.Millisecond},
		{BodyReadTimeout: 500 * time.Millisecond},
	} {
		e := startHTTPS(t, cfg)
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp",
			strings.TrimPrefix(e.base, "https://"), &tls.Config{RootCAs: e.ca.Store().Roots, ServerName: "localhost"})
		require.NoError(t, err)
		require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = conn.Write([]byte("POST /" + oracleName + " HTTP/1.1\r\nHost: localhost\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"))
		require.NoError(t, err)
		start := time.Now()
		_, err = io.ReadAll(conn)
		require.NoError(t, err, "the server must close the connection, not leave it waiting")
		assert.Less(t, time.Since(start), 5*time.Second, "dropped after the body timeout, not the default 30 s")
		conn.Close()
	}
}

// Once the body is in, the body timeout no longer applies: a call that runs
// longer than it is not cancelled.
func TestHTTPSBodyTimeoutDoesNotCutLongCalls(t *testing.T) {
	s := server.NewService("Framework/Long")
	s.DefaultAuth = []string{"all"}
	s.HandleFunc("long", func(ctx context.Context, _ *server.Request) (any, error) {
		select {
		case <-time.After(500 * time.Millisecond): // the call's own duration, longer than the timeout
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	e := startHTTPS(t, server.HTTPSConfig{BodyReadTimeout: 100 * time.Millisecond}, s)
	a := e.post(t, e.proxy, "/Framework/Long", "method=long")
	assert.Equal(t, `{"OK": true, "Value": "done"}`, string(a.body))
	// The same with a gzip body, read through one more reader.
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	_, _ = zw.Write([]byte("method=long"))
	require.NoError(t, zw.Close())
	a = e.post(t, e.proxy, "/Framework/Long", zb.String(), "Content-Encoding", "gzip")
	assert.Equal(t, `{"OK": true, "Value": "done"}`, string(a.body))
}

// TestPingNameUnderAlias: Tornado serves each configured instance as a
// handler of its own name, so ping over HTTPS reports the name the call
// reached (an alias included), and so does Request.Service; DISET's ping
// reports the service's own name whatever valid name the client used, as
// DIRAC's does.
func TestPingNameUnderAlias(t *testing.T) {
	svc := server.NewService("Framework/GoTest")
	svc.Aliases = []string{"Framework/TornadoGoTest"}
	svc.DefaultAuth = []string{"all"}
	svc.HandleFunc("asked", func(_ context.Context, r *server.Request) (any, error) { return r.Service, nil })
	e := startHTTPS(t, server.HTTPSConfig{}, svc)
	pingName := func(body []byte) any {
		t.Helper()
		v, err := jencode.Decode(body)
		require.NoError(t, err)
		val, ok := v.(*value.Dict).Get("Value")
		require.True(t, ok, "%s", body)
		name, _ := val.(*value.Dict).Get("name")
		return name
	}
	for _, path := range []string{"Framework/GoTest", "Framework/TornadoGoTest"} {
		a := e.post(t, e.proxy, "/"+path, "method=ping")
		require.Equal(t, http.StatusOK, a.code)
		assert.Equal(t, path, pingName(a.body), "HTTPS ping reached under %s", path)
		a = e.post(t, e.proxy, "/"+path, "method=asked")
		assert.Equal(t, `{"OK": true, "Value": "`+path+`"}`, string(a.body))
	}

	d := server.NewDISET(svc, server.DISETConfig{Logger: quiet})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = d.Serve(l) }()
	t.Cleanup(func() { d.Close() })
	nc, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	fr := frame.NewReader(nc)
	for _, f := range []string{
		`{"OK": true, "Value": [["Framework/TornadoGoTest", "Test", "unknown"], ["RPC", "ping"], "", "9.0.0"]}`,
		`{"OK": true, "Value": []}`,
	} {
		_, err = nc.Write(frame.Append(nil, []byte(f), false))
		require.NoError(t, err)
		p, _, err := fr.Next(0)
		require.NoError(t, err)
		if strings.Contains(f, "ping") {
			require.Equal(t, `{"OK": true, "Value": null}`, string(p))
			continue
		}
		assert.Equal(t, "Framework/GoTest", pingName(p), "DISET ping reached under the alias")
	}
}

// TestHTTPSExtraArguments: a built-in called with arguments it does not
// take gets Tornado's 500, as a raising handler does.
func TestHTTPSExtraArguments(t *testing.T) {
	e := startHTTPS(t, server.HTTPSConfig{})
	for _, body := range []string{"method=ping&args=%5B1%5D", "method=whoami&args=%5B1%2C+2%5D", "method=echo&args=%5B%22a%22%2C+%22b%22%5D"} {
		assert.Equal(t, http.StatusInternalServerError, e.post(t, e.proxy, "/"+oracleName, body).code, body)
	}
	assert.Equal(t, http.StatusOK, e.post(t, e.proxy, "/"+oracleName, "method=ping&args=%5B%5D").code)
}
