package faults

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc/internal/frame"
)

// Protocol tells a Proxy where a request ends.
type Protocol int

const (
	// Raw knows no protocol: the first bytes from the client are "the
	// request" (no Requests counted), what comes back after them "the answer".
	Raw Protocol = iota
	// DISET counts frames from the client: the request is complete with the
	// ProxyConfig.RequestFrames-th frame that is not a keep-alive (the
	// arguments frame of an RPC), and the answer is what the server sends
	// after it. One connection carries one call.
	DISET
	// HTTP reads each HTTP/1.1 request up to the end of its body; the answer
	// is the response. A kept-alive connection carries several calls.
	HTTP
)

// ProxyConfig configures a Proxy. Only Target is required.
type ProxyConfig struct {
	// Target is the backend's address (host:port). With TLS set the backend
	// is spoken to in plain text (a dip:// or http:// server).
	Target string
	// Addr is where to listen; default "127.0.0.1:0".
	Addr string
	// Protocol of the traffic; default Raw.
	Protocol Protocol
	// Plan chooses the faults; nil applies none.
	Plan *Plan
	// TLS, when set, makes the proxy terminate TLS with this server config:
	// clients speak dips:// or https:// to the proxy, which sees the frames
	// or requests in clear. Build it with broken certificates (expired, wrong
	// host) to test clients' verification.
	TLS *tls.Config
	// RequestFrames is the number of frames that make a DISET request;
	// default 2 (proposal and arguments).
	RequestFrames int
	// DialTimeout bounds connecting to the backend; default 5 s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake with clients; default 10 s.
	HandshakeTimeout time.Duration
	// MaxBody bounds an HTTP request or response body the proxy holds;
	// default 16 MiB. Longer bodies close the connection.
	MaxBody int64
}

// Proxy forwards connections from its address to a backend and applies the
// faults of its plan. Close it when done: it waits for its goroutines.
type Proxy struct {
	cfg  ProxyConfig
	addr string
	c    counters

	mu      sync.Mutex
	ln      net.Listener
	stopped bool
	conns   map[*pconn]struct{}
	wg      sync.WaitGroup
}

// StartProxy listens and starts forwarding.
func StartProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.Target == "" {
		return nil, errors.New("faults: proxy needs a Target")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.RequestFrames <= 0 {
		cfg.RequestFrames = 2
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	p := &Proxy{cfg: cfg, addr: ln.Addr().String(), conns: make(map[*pconn]struct{})}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's address (host:port), the same after Stop and Start.
func (p *Proxy) Addr() string { return p.addr }

// Stats returns the counters.
func (p *Proxy) Stats() Stats { return p.c.snapshot() }

// Stop closes the listener (new connections are refused) and every open
// connection, and waits until they are gone. Start brings the proxy back on
// the same address. Stop and Start must not run concurrently.
func (p *Proxy) Stop() error {
	p.mu.Lock()
	p.stopped = true
	ln := p.ln
	p.ln = nil
	conns := make([]*pconn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
	return err
}

// Start listens again on the proxy's address after Stop, retrying while the
// port is still busy until ctx ends.
func (p *Proxy) Start(ctx context.Context) error {
	ln, err := Relisten(ctx, "tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faults: restart on %s: %w", p.addr, err)
	}
	p.mu.Lock()
	p.stopped = false
	p.mu.Unlock()
	p.serve(ln)
	return nil
}

// Close stops the proxy for good.
func (p *Proxy) Close() error {
	err := p.Stop()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // e.g. too many open files under a flood: keep serving
			}
			p.c.conns.Add(1)
			pc := &pconn{raw: c, client: c, done: make(chan struct{})}
			p.mu.Lock()
			if p.stopped {
				p.mu.Unlock()
				_ = c.Close()
				continue
			}
			p.conns[pc] = struct{}{}
			p.c.active.Add(1)
			p.wg.Add(1)
			p.mu.Unlock()
			go func() {
				defer p.wg.Done()
				defer func() {
					pc.close()
					p.mu.Lock()
					delete(p.conns, pc)
					p.mu.Unlock()
					p.c.active.Add(-1)
				}()
				p.handle(pc)
			}()
		}
	}()
}

// pconn is one proxied connection.
type pconn struct {
	raw     net.Conn // the accepted TCP connection
	client  net.Conn // raw, or its TLS / buffered wrapper
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	backend net.Conn
	fault   Fault // call fault, set before answering turns true
	answer  atomic.Bool
}

func (c *pconn) setBackend(b net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return false
	default:
	}
	c.backend = b
	return true
}

func (c *pconn) end(reset bool) {
	c.once.Do(func() {
		close(c.done)
		if reset {
			_ = Reset(c.raw)
		} else {
			_ = c.raw.Close()
		}
		c.mu.Lock()
		if c.backend != nil {
			_ = c.backend.Close()
		}
		c.mu.Unlock()
	})
}

func (c *pconn) close() { c.end(false) }

// sleepWatching waits d like sleep, and meanwhile reads ahead from the
// client into br (without consuming) so that a client that gives up ends the
// connection and the wait at once.
func (c *pconn) sleepWatching(d time.Duration, br *bufio.Reader) bool {
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for n := br.Buffered() + 1; n <= br.Size(); n = br.Buffered() + 1 {
			if _, err := br.Peek(n); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					c.close()
				}
				return
			}
		}
	}()
	ok := sleep(d, c.done)
	_ = c.client.SetReadDeadline(time.Unix(1, 0))
	<-watched
	_ = c.client.SetReadDeadline(time.Time{})
	return ok
}
func (c *pconn) reset() { c.end(true) }

func (p *Proxy) handle(pc *pconn) {
	_, cf := p.cfg.Plan.nextConn()
	p.c.fault(cf.Kind)
	switch cf.Kind {
	case Refuse:
		pc.reset()
		return
	case Hang:
		_, _ = io.Copy(io.Discard, pc.client)
		return
	case DelayAccept, DelayHandshake:
		br := bufio.NewReader(pc.client)
		if cf.Kind == DelayHandshake {
			if _, err := br.Peek(1); err != nil {
				return
			}
		}
		if !pc.sleepWatching(cf.Delay, br) {
			return
		}
		pc.client = &bufConn{Conn: pc.client, r: br}
	}
	if p.cfg.TLS != nil {
		tc := tls.Server(pc.client, p.cfg.TLS)
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			p.c.handshakeErrors.Add(1)
			return
		}
		pc.client = tc
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	b, err := d.Dial("tcp", p.cfg.Target)
	if err != nil {
		p.c.backendErrors.Add(1)
		return
	}
	if !pc.setBackend(b) {
		_ = b.Close()
		return
	}
	if p.cfg.Protocol == HTTP {
		p.serveHTTP(pc)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.clientToServer(pc)
	}()
	p.serverToClient(pc)
}

// clientToServer forwards the client's bytes and spots the end of the
// request (DISET: frames; Raw: the first bytes).
func (p *Proxy) clientToServer(pc *pconn) {
	defer pc.close()
	request := func() bool { // the request is complete: decide its fault
		p.c.requests.Add(1)
		_, f := p.cfg.Plan.nextCall()
		if f.Kind == DropBeforeRequest {
			p.c.fault(f.Kind)
			return false
		}
		pc.fault = f
		pc.answer.Store(true)
		return true
	}
	if p.cfg.Protocol == Raw {
		buf := make([]byte, 32<<10)
		first := true
		for {
			n, err := pc.client.Read(buf)
			if n > 0 {
				if first {
					first = false
					_, f := p.cfg.Plan.nextCall()
					if f.Kind == DropBeforeRequest {
						p.c.fault(f.Kind)
						return
					}
					pc.fault = f
					pc.answer.Store(true)
				}
				if _, werr := pc.backend.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	fr := frame.NewReader(pc.client)
	frames := 0
	for {
		payload, ka, err := fr.Next(0)
		if err != nil {
			return
		}
		out := frame.Append(nil, payload, ka)
		isRequest := false
		if !ka {
			frames++
			if frames == p.cfg.RequestFrames {
				if !request() {
					return
				}
				isRequest = true
			}
		}
		if isRequest {
			// Counted before the write: the answer can reach the client
			// before this goroutine runs again.
			p.c.forwarded.Add(1)
		}
		if _, err := pc.backend.Write(out); err != nil {
			return
		}
	}
}

// answerFault applies a call fault that hits the answer, of which answer is
// the first bytes (all of it over HTTP), waiting with wait. It reports
// whether the answer goes on to the client.
func (p *Proxy) answerFault(pc *pconn, f Fault, answer []byte, wait func(time.Duration) bool) bool {
	switch f.Kind {
	case DelayAnswer:
		p.c.fault(f.Kind)
		return wait(f.Delay)
	case DropAfterRequest:
		p.c.fault(f.Kind)
		return false
	case ResetMidFrame:
		p.c.fault(f.Kind)
		_, _ = pc.client.Write(answer[:keepBytes(f, len(answer))])
		pc.reset()
		return false
	case Garbage:
		p.c.fault(f.Kind)
		_, _ = pc.client.Write(f.garbage())
		return false
	}
	return true
}

// serverToClient forwards the backend's bytes and applies the call fault to
// the answer.
func (p *Proxy) serverToClient(pc *pconn) {
	defer pc.close()
	buf := make([]byte, 32<<10)
	applied := false
	for {
		n, err := pc.backend.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if !applied && pc.answer.Load() {
				applied = true
				if !p.answerFault(pc, pc.fault, chunk, func(d time.Duration) bool { return sleep(d, pc.done) }) {
					return
				}
			}
			if _, werr := pc.client.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func keepBytes(f Fault, n int) int {
	k := f.KeepBytes
	if k <= 0 {
		k = n / 2
	}
	return min(k, n)
}
