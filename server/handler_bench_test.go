package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// discardWriter is the least a ResponseWriter can cost.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// SetReadDeadline is there for http.ResponseController, as in net/http.
func (w *discardWriter) SetReadDeadline(time.Time) error { return nil }

// BenchmarkServeHTTP is the HTTPS handler alone for echo("hello") from a
// proxy on a kept-alive connection (its chain analysed once), without
// network or TLS: what diracrpc adds to net/http on the server's hot path.
// The floor benchmarks (bench_test.go) hold the targets; this one shows
// where the handler's time goes, allocation by allocation.
func BenchmarkServeHTTP(b *testing.B) {
	ca := pki.NewT(b, pki.Options{})
	must := pki.Must(b)
	user := must(ca.User("bench"))
	proxy := must(ca.ProxyWith(user, pki.RFC3820, credentials.ProxyOptions{Group: "dirac_user"}))
	svc := NewService("Framework/Bench")
	svc.Logger = quiet
	svc.Registry = &Registry{
		Users:  map[string]User{"bench": {DNs: []string{credentials.SubjectDN(user.Leaf())}}},
		Groups: map[string]Group{"dirac_user": {Users: []string{"bench"}, Properties: []string{"NormalUser"}}},
	}
	h := NewHTTPS(HTTPSConfig{Logger: quiet}, svc)
	cs := &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: proxy.Chain}
	ctx := context.WithValue(context.Background(), peerCacheKey{}, &peerCache{})
	body := []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=Oracle")
	w := &discardWriter{h: http.Header{}}
	// One request, its body rewound each time: what is measured is the
	// handler, not the making of requests.
	br := bytes.NewReader(body)
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/Framework/Bench", br)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.TLS = cs
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(body)
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}
