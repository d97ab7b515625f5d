package faults

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// serveHTTP proxies HTTP/1.1 requests one by one, applying one call fault
// per request.
func (p *Proxy) serveHTTP(pc *pconn) {
	cr := bufio.NewReader(pc.client)
	br := bufio.NewReader(pc.backend)
	for {
		req, err := http.ReadRequest(cr)
		if err != nil {
			return
		}
		body, err := readBody(req.Body, p.cfg.MaxBody)
		if err != nil {
			return
		}
		p.c.requests.Add(1)
		_, f := p.cfg.Plan.nextCall()
		switch {
		case f.Kind == DropBeforeRequest:
			p.c.fault(f.Kind)
			return
		case f.Kind == HTTPStatus && !f.Forward:
			p.c.fault(f.Kind)
			_, _ = pc.client.Write(statusResponse(f))
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.TransferEncoding = nil
		if err := req.Write(pc.backend); err != nil {
			p.c.backendErrors.Add(1)
			return
		}
		p.c.forwarded.Add(1)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			p.c.backendErrors.Add(1)
			return
		}
		rbody, err := readBody(resp.Body, p.cfg.MaxBody)
		if err != nil {
			return
		}
		raw := encodeResponse(resp.StatusCode, resp.Header, rbody, resp.Close)
		if f.Kind == HTTPStatus {
			p.c.fault(f.Kind)
			_, _ = pc.client.Write(statusResponse(f))
			return
		}
		if !p.answerFault(pc, f, raw, func(d time.Duration) bool { return pc.sleepWatching(d, cr) }) {
			return
		}
		if _, err := pc.client.Write(raw); err != nil {
			return
		}
		if req.Close || resp.Close {
			return
		}
	}
}

var errBodyTooLarge = errors.New("faults: body too large")

func readBody(r io.ReadCloser, limit int64) ([]byte, error) {
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// statusResponse is the raw HTTP response of an HTTPStatus fault; the
// connection is closed after it.
func statusResponse(f Fault) []byte {
	code := f.status()
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	body := fmt.Sprintf("%d %s (injected fault)\n", code, http.StatusText(code))
	return encodeResponse(code, h, []byte(body), true)
}

// encodeResponse serialises a whole HTTP/1.1 response.
func encodeResponse(code int, h http.Header, body []byte, closeConn bool) []byte {
	resp := &http.Response{
		StatusCode:    code,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Close:         closeConn,
	}
	var buf bytes.Buffer
	_ = resp.Write(&buf)
	return buf.Bytes()
}

// Middleware applies the call-level faults of a plan to each request of an
// http.Handler (connection-level faults are ignored: use a Listener or a
// Proxy for those). The request body is read whole before the fault is
// chosen, so DropBeforeRequest and an HTTPStatus without Forward mean the
// next handler never runs; the other faults run it into a buffer first and
// then mistreat its answer.
type Middleware struct {
	plan *Plan
	next http.Handler
	c    counters
	// MaxBody bounds the request body read; default 100 MiB (Tornado's
	// limit). Longer bodies get 413.
	MaxBody int64
}

// HTTPMiddleware wraps next with the faults of plan.
func HTTPMiddleware(plan *Plan, next http.Handler) *Middleware {
	return &Middleware{plan: plan, next: next, MaxBody: 100 << 20}
}

// Stats returns the counters (Conns stays 0).
func (m *Middleware) Stats() Stats { return m.c.snapshot() }

// ServeHTTP implements http.Handler.
func (m *Middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r.Body, m.MaxBody)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		}
		return
	}
	m.c.requests.Add(1)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	_, f := m.plan.nextCall()
	switch {
	case f.Kind == DropBeforeRequest:
		m.c.fault(f.Kind)
		hijackAndClose(w, nil, false)
		return
	case f.Kind == HTTPStatus && !f.Forward:
		m.c.fault(f.Kind)
		writeStatus(w, f)
		return
	}
	rec := &recorder{h: http.Header{}}
	m.next.ServeHTTP(rec, r)
	m.c.forwarded.Add(1)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	switch f.Kind {
	case DelayAnswer:
		m.c.fault(f.Kind)
		if !sleep(f.Delay, r.Context().Done()) {
			return
		}
	case DropAfterRequest:
		m.c.fault(f.Kind)
		hijackAndClose(w, nil, false)
		return
	case ResetMidFrame:
		m.c.fault(f.Kind)
		raw := encodeResponse(rec.code, rec.h, rec.body.Bytes(), false)
		hijackAndClose(w, raw[:keepBytes(f, len(raw))], true)
		return
	case Garbage:
		m.c.fault(f.Kind)
		hijackAndClose(w, f.garbage(), false)
		return
	case HTTPStatus:
		m.c.fault(f.Kind)
		writeStatus(w, f)
		return
	}
	for k, v := range rec.h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(rec.body.Len()))
	w.WriteHeader(rec.code)
	_, _ = w.Write(rec.body.Bytes())
}

func writeStatus(w http.ResponseWriter, f Fault) {
	code := f.status()
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Connection", "close")
	http.Error(w, fmt.Sprintf("%d %s (injected fault)", code, http.StatusText(code)), code)
}

// hijackAndClose takes the connection over, writes data and closes it (with
// a reset if asked). Without hijacking support (HTTP/2) it aborts the
// response, which also breaks the stream.
func hijackAndClose(w http.ResponseWriter, data []byte, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if len(data) > 0 {
		_, _ = conn.Write(data)
	}
	if reset {
		_ = Reset(conn)
		return
	}
	_ = conn.Close()
}

// recorder buffers a handler's response.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}
