package reliability

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/server"
)

// httpRequest is a raw HTTP/1.1 POST to the test service.
func httpRequest(headers, body string) []byte {
	return []byte("POST /" + svcName + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" + headers + "\r\n" + body)
}

// httpsBodyAttacks make the server hold request bodies: a declared length
// equal to the limit with only 1 KiB sent, and gzip bombs that inflate to
// just under the limit.
func httpsBodyAttacks(t *testing.T, limit int) []attack {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, err := zw.Write(make([]byte, limit-1024)) // zeros: ~1/1000 compressed
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return []attack{
		{fmt.Sprintf("Content-Length %d (the limit), 1 KiB sent, then stalled", limit), 10, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, httpRequest(fmt.Sprintf("Content-Length: %d\r\n", limit), strings.Repeat("a", 1<<10)))
			return outcome(c, stop)
		}},
		{fmt.Sprintf("gzip bomb (%d KiB inflating to %d MiB)", bomb.Len()>>10, limit>>20), 3, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, append(httpRequest(fmt.Sprintf("Content-Encoding: gzip\r\nContent-Length: %d\r\n", bomb.Len()), ""), bomb.Bytes()...))
			return outcome(c, stop)
		}},
	}
}

func httpsAttacks() []attack {
	nested := "method=echo&args=" + url.QueryEscape("["+strings.Repeat("[", 200_000)+strings.Repeat("]", 200_000)+"]")
	return []attack{
		{"Content-Length 999999999", 20, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, httpRequest("Content-Length: 999999999\r\n", strings.Repeat("a", 64<<10)))
			return outcome(c, stop)
		}},
		{"slow body (1 byte / 20 ms)", 20, false, func(c net.Conn, stop <-chan struct{}) string {
			body := "method=ping&args=%5B%5D"
			_ = write(c, httpRequest(fmt.Sprintf("Content-Length: %d\r\n", len(body)), ""))
			_ = trickle(c, []byte(body), 20*time.Millisecond, stop)
			return outcome(c, stop)
		}},
		{"slow headers (1 byte / 20 ms)", 20, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = trickle(c, httpRequest("Content-Length: 0\r\n", ""), 20*time.Millisecond, stop)
			return outcome(c, stop)
		}},
		{"deeply nested args", 5, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, httpRequest(fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n", len(nested)), nested))
			return outcome(c, stop)
		}},
		{"garbage after the TLS handshake", 20, false, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, []byte("\x00\xff garbage \r\n\r\n\x16\x03"))
			return outcome(c, stop)
		}},
		{"garbage instead of a TLS handshake", 20, true, func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, []byte("GET / HTTP/1.0\r\n\r\n\x00\xff"))
			return outcome(c, stop)
		}},
		{"connection flood (idle)", 400, true, func(c net.Conn, stop <-chan struct{}) string {
			return outcome(c, stop)
		}},
	}
}

// TestHostileHTTPS: the Go HTTPS server keeps serving well-behaved clients
// while anonymous others send oversized lengths, slow requests, garbage,
// deeply nested arguments and floods of connections; its memory stays
// bounded. Attacks on the body limit run in TestHostileHTTPSBodies.
func TestHostileHTTPS(t *testing.T) {
	hostileHTTPS(t, httpsAttacks(), nil, 256<<20)
}

// TestHostileHTTPSStalledBodies: more clients than there are call slots stop
// in the middle of their bodies; they are dropped after BodyReadTimeout, and
// the well-behaved calls waiting for a slot go through.
func TestHostileHTTPSStalledBodies(t *testing.T) {
	stalled := attack{"Content-Length 100, 11 bytes sent, then stalled", 2 * server.DefaultMaxConcurrentCalls, false,
		func(c net.Conn, stop <-chan struct{}) string {
			_ = write(c, httpRequest("Content-Length: 100\r\n", "method=ping"))
			return outcome(c, stop)
		}}
	hostileHTTPS(t, []attack{stalled}, func(cfg *server.HTTPSConfig) { cfg.BodyReadTimeout = 300 * time.Millisecond }, 256<<20)
}

// TestHostileHTTPSBodies: bodies are held in memory up to MaxBodyBytes each
// (declared lengths, gzip bombs): with a 4 MiB limit the heap stays within
// what the limit allows for the connections involved.
func TestHostileHTTPSBodies(t *testing.T) {
	const limit = 4 << 20
	attacks := httpsBodyAttacks(t, limit)
	conns := 0
	for _, a := range attacks {
		conns += a.conns
	}
	hostileHTTPS(t, attacks, func(cfg *server.HTTPSConfig) { cfg.MaxBodyBytes = limit }, int64(2*conns*limit+64<<20))
}

// TestHostileHTTPSDefaultBodyLimit is the same attack with the default
// limit (100 MiB, Tornado's).
func TestHostileHTTPSDefaultBodyLimit(t *testing.T) {
	hostileHTTPS(t, httpsBodyAttacks(t, server.DefaultMaxBodyBytes), nil, 256<<20)
}

func hostileHTTPS(t *testing.T, attacks []attack, configure func(*server.HTTPSConfig), maxGrowth int64) {
	e := newEnv(t)
	l := listen(t)
	srv := e.serveHTTPS(e.service(), l, configure)
	addr := l.Addr().String()
	anon := &tls.Config{RootCAs: e.ca.Store().Roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	dial := func(raw bool) (net.Conn, error) {
		if raw {
			return net.DialTimeout("tcp", addr, 5*time.Second)
		}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 20 * time.Second}, Config: anon}
		return d.Dial("tcp", addr)
	}
	c := e.httpsClient([]string{srv.url}, nil)
	attackDuringGoodCalls(t, e, attacks, dial, c, srv.served, maxGrowth)
}
