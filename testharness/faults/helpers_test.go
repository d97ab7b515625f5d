package faults

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc/internal/frame"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	okNull   = `{"OK": true, "Value": null}`
	okResult = `{"OK": true, "Value": "the answer, long enough to be cut in the middle"}`
)

// disetBackend is a minimal DISET-shaped server: proposal frame, S_OK,
// arguments frame, one result frame, close. It counts executions.
type disetBackend struct {
	ln       net.Listener
	executed atomic.Int64
	wg       sync.WaitGroup
}

func startDISET(t *testing.T) *disetBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &disetBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				r := frame.NewReader(c)
				if _, _, err := r.Next(frame.ProposalLimit); err != nil {
					return
				}
				if _, err := c.Write(frame.Append(nil, []byte(okNull), false)); err != nil {
					return
				}
				if _, _, err := r.Next(0); err != nil {
					return
				}
				b.executed.Add(1)
				_, _ = c.Write(frame.Append(nil, []byte(okResult), false))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *disetBackend) addr() string { return b.ln.Addr().String() }

// disetCall runs one DISET-shaped call over a raw TCP connection to addr and
// returns the result payload.
func disetCall(t *testing.T, addr string, timeout time.Duration) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return disetOn(c, timeout)
}

func disetOn(c net.Conn, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	r := frame.NewReader(c)
	if _, err := c.Write(frame.Append(nil, []byte(`{"OK": true, "Value": [["Test/Svc", "Test", "vo"], ["RPC", "m"], "", "x"]}`), false)); err != nil {
		return "", err
	}
	p, _, err := r.Next(0)
	if err != nil {
		return "", err
	}
	if string(p) != okNull {
		return "", errors.New("unexpected R1 " + string(p))
	}
	if _, err := c.Write(frame.Append(nil, []byte(`{"OK": true, "Value": []}`), false)); err != nil {
		return "", err
	}
	p, _, err = r.Next(0)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// httpBackend counts executions and answers the request body back.
type httpBackend struct {
	*httptest.Server
	executed atomic.Int64
}

func startHTTP(t *testing.T, wrap func(http.Handler) http.Handler) *httpBackend {
	t.Helper()
	b := &httpBackend{}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.executed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append([]byte(`{"OK": true, "Value": "`), append(bytes.ToUpper(body), `"}`...)...))
	})
	if wrap != nil {
		h = wrap(h)
	}
	b.Server = httptest.NewServer(h)
	t.Cleanup(b.Close)
	return b
}

func httpClient(t *testing.T, timeout time.Duration) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
