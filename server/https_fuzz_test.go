package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHTTPSRequest feeds arbitrary query strings, content types and bodies
// to the HTTPS handler: it must answer with one of DIRAC's status codes and
// never panic, and a 200 must carry a JSON result.
func FuzzHTTPSRequest(f *testing.F) {
	f.Add("", "application/x-www-form-urlencoded", []byte("method=echo&args=%5B%22hello%22%5D&clientVO=unknown&clientSetup=Oracle"))
	f.Add("method=echo", "application/x-www-form-urlencoded", []byte("args=%5B%22a+b%22%5D&rawContent=True"))
	f.Add("", "multipart/form-data; boundary=xx", []byte("--xx\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\nping\r\n--xx--\r\n"))
	f.Add("", "application/x-www-form-urlencoded", []byte("method=add&args=%5B2%2C+3%5D&extraCredentials=%22hosts%22"))
	f.Add("", "application/x-www-form-urlencoded", []byte("method=echo&args=%5Bnot-json&%zz=%"))
	logger := slog.New(slog.DiscardHandler)
	svc := &Service{Name: "Framework/Fuzz", DefaultAuth: []string{"all"}, Logger: logger}
	svc.HandleFunc("add", func(_ context.Context, r *Request) (any, error) { return len(r.Args), nil })
	h := NewHTTPS(HTTPSConfig{AllowAnonymous: true, MaxBodyBytes: 1 << 16, Logger: logger}, svc)
	f.Fuzz(func(t *testing.T, query, contentType string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/Framework/Fuzz", bytes.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			ct := rec.Header().Get("Content-Type")
			if strings.HasPrefix(ct, "application/json") && !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"OK": `)) {
				t.Fatalf("200 without a result: %q", rec.Body.Bytes())
			}
		case 400, 401, 500, 501:
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}

// FuzzParseQuery: parseQuery never panics and every value it returns,
// re-encoded, parses back to itself.
func FuzzParseQuery(f *testing.F) {
	f.Add("method=echo&args=%5B%22a+b%2F%5Cu00e9%22%5D")
	f.Add("a=%&b=%z1&c=%41&&=x&y")
	f.Fuzz(func(t *testing.T, s string) {
		for _, f := range parseQuery(s) {
			back := parseQuery(escapeForTest(f.name) + "=" + escapeForTest(f.value))
			if len(back) != 1 || back[0] != f {
				t.Fatalf("%q=%q does not round-trip: %q", f.name, f.value, back)
			}
		}
	})
}

func escapeForTest(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}
