package reliability

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/server"
)

// FuzzParseCredential feeds PEM bundles (proxy files: certificates, a key,
// other blocks) to the credential loader: it must never panic, and what it
// accepts must be usable: a chain whose leaf matches the key.
func FuzzParseCredential(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), false)
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, withPass bool) {
		opts := credentials.LoadOptions{SkipValidityCheck: true}
		if withPass {
			opts.Passphrase = []byte("secret")
		}
		certs, err := credentials.ParseCertificatesPEM(data)
		if err == nil {
			for _, c := range certs {
				if c == nil {
					t.Fatal("nil certificate without error")
				}
			}
		}
		c, err := credentials.ParseCredential(data, data, opts)
		if err != nil {
			var fe *credentials.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FileError: %T %v", err, err)
			}
			return
		}
		if len(c.Chain) == 0 || c.PrivateKey == nil {
			t.Fatalf("accepted an empty credential: %+v", c)
		}
		if len(certs) != len(c.Chain) {
			t.Fatalf("chain of %d certificates, ParseCertificatesPEM found %d", len(c.Chain), len(certs))
		}
		tc := c.TLSCertificate()
		if len(tc.Certificate) != len(c.Chain) {
			t.Fatalf("TLS certificate has %d certificates, chain %d", len(tc.Certificate), len(c.Chain))
		}
		// The key must belong to the leaf (ParseCredential's contract).
		leafKey, err := x509.MarshalPKIXPublicKey(c.Leaf().PublicKey)
		if err != nil {
			return
		}
		key, err := x509.MarshalPKIXPublicKey(c.PrivateKey.Public())
		if err != nil || !bytes.Equal(leafKey, key) {
			t.Fatalf("key does not match the leaf certificate (%v)", err)
		}
	})
}

// FuzzDISETServer sends arbitrary bytes as a client to a running Go DISET
// server: it must never crash or hang, and keep answering a well-behaved
// client.
func FuzzDISETServer(f *testing.F) {
	for _, seed := range disetSeeds() {
		f.Add(seed)
	}
	svc := server.NewService(svcName)
	svc.DefaultAuth = []string{"all"}
	svc.Logger = quiet
	var runs atomic.Int64
	svc.HandleFunc("count", func(context.Context, *server.Request) (any, error) { return runs.Add(1), nil })
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet, ReadTimeout: 2 * time.Second})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	// Hostile streams go over in-memory connections: thousands of TCP
	// connections a second would exhaust the ephemeral ports (TIME_WAIT).
	// Well-behaved calls use TCP.
	mem := &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
	done := make(chan error, 2)
	go func() { done <- srv.Serve(l) }()
	go func() { done <- srv.Serve(mem) }()
	f.Cleanup(func() {
		_ = srv.Close()
		<-done
		<-done
	})
	addr := l.Addr().String()
	client, err := disetclient.New([]string{"dip://" + addr + "/" + svcName}, diracrpc.Options{Logger: quiet, Attempts: 1}, disetclient.Options{})
	if err != nil {
		f.Fatal(err)
	}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		c, sc := net.Pipe()
		select {
		case mem.conns <- sc:
		case <-time.After(5 * time.Second):
			t.Fatal("server stopped accepting")
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, c)
		}()
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Write(data)
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("server stopped reading: %v", err)
		}
		_ = c.Close()
		<-drained
		// A real client over TCP, now and then: the server still serves.
		if n.Add(1)%1000 == 1 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := client.Call(ctx, "ping"); err != nil {
				t.Fatalf("server no longer serves a good client: %v", err)
			}
		}
	})
}

// memListener hands net.Pipe connections to a server.
type memListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (m *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *memListener) Close() error {
	m.once.Do(func() { close(m.done) })
	return nil
}

func (m *memListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// disetSeeds are client streams: whole calls (JSON, DEncode, with a
// keep-alive, the old 2-element proposal) and broken ones.
func disetSeeds() [][]byte {
	proposal := func(service, kind, method string) string {
		return `{"OK": true, "Value": [["` + service + `", "Test", "vo"], ["` + kind + `", "` + method + `"], "", "x"]}`
	}
	frames := func(payloads ...string) []byte {
		var b []byte
		for _, p := range payloads {
			if ka, ok := strings.CutPrefix(p, "dka"); ok {
				b = frame.Append(b, []byte(ka), true)
			} else {
				b = frame.Append(b, []byte(p), false)
			}
		}
		return b
	}
	return [][]byte{
		frames(proposal(svcName, "RPC", "ping"), `{"OK": true, "Value": []}`),
		frames("ds2:OKb1s5:Valuells13:Test/Reliables4:Tests2:voels3:RPCs4:pinges0:s1:xee", "ds2:OKb1s5:Valuelee"),
		frames(proposal(svcName, "RPC", "echo"), `{"OK": true, "Value": ["hello"]}`),
		frames(proposal(svcName, "RPC", "count"), `dka{"OK": true, "Value": {"id": "0123456789abcdef0123456789abcdef0", "kaping": true}}`, `{"OK": true, "Value": []}`),
		frames(`{"OK": true, "Value": [["Test/Reliable", "Test"], ["RPC", "ping"]]}`, `{"OK": true, "Value": []}`),
		frames(proposal(svcName, "Other", "ping")),
		frames(proposal("Other/Service", "RPC", "ping")),
		frames(proposal(svcName, "RPC", "echo"), `{"OK": true, "Value": null}`),
		frames(proposal(svcName, "RPC", "echo"), "ds2:OKb1s5:Valuel"+strings.Repeat("l", 2000)),
		[]byte("999999999:aaaa"), []byte("dka5:hello"), []byte("1234567890:"), []byte("0:"), []byte("x"),
	}
}

// FuzzHTTPSRequest sends arbitrary query strings, content types and bodies
// (optionally gzip-compressed) to the Go HTTPS handler: it must never panic,
// answer only with the statuses DIRAC's protocol knows, and every 200 JSON
// answer must be a result a client can decode.
func FuzzHTTPSRequest(f *testing.F) {
	for _, s := range []string{
		"method=ping&args=%5B%5D&clientVO=lhcb&clientSetup=Production",
		"method=echo&args=%5B%22a+b%2F%5Cu00e9%22%5D&extraCredentials=%22hosts%22&clientVO=lhcb&clientSetup=Production",
		"method=echo&args=%5B%7B%22__dt__%22%3A+%222024-01-02+03%3A04%3A05%22%7D%5D",
		"method=count&args=%5B%5D&rawContent=True",
		"method=whoami", "method=nope", "args=%5B%5D", "method=echo&args=%5B", "",
	} {
		f.Add("", uint8(0), false, []byte(s))
	}
	f.Add("method=ping", uint8(1), true, []byte("args=[]"))
	svc := server.NewService(svcName)
	svc.Logger = quiet
	svc.DefaultAuth = []string{"all"}
	svc.HandleFunc("count", func(context.Context, *server.Request) (any, error) { return int64(1), nil })
	h := server.NewHTTPS(server.HTTPSConfig{AllowAnonymous: true, Logger: quiet, MaxBodyBytes: 1 << 20}, svc)
	contentTypes := []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""}
	allowed := map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 500: true, 501: true}
	f.Fuzz(func(t *testing.T, query string, ct uint8, gz bool, body []byte) {
		payload := body
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(body)
			_ = zw.Close()
			payload = b.Bytes()
		}
		req := httptest.NewRequest(http.MethodPost, "/"+svcName, bytes.NewReader(payload))
		req.URL.RawQuery = query
		if c := contentTypes[int(ct)%len(contentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			return
		}
		raw := rec.Body.Bytes()
		if rec.Header().Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("bad gzip answer: %v", err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("bad gzip answer: %v", err)
			}
		}
		v, err := jencode.Decode(raw)
		if err != nil {
			t.Fatalf("200 answer is not JSON a client decodes: %v: %q", err, raw)
		}
		if _, err := diracrpc.ParseResult(v); errors.Is(err, diracrpc.ErrProtocol) {
			t.Fatalf("200 answer is not a DIRAC result: %v: %q", err, raw)
		}
	})
}
