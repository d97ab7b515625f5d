package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Listener wraps a server's listener and applies the connection-level faults
// of a plan (Refuse, Hang, DelayAccept, DelayHandshake) to the connections it
// accepts; call-level faults are ignored (they need a Proxy or Middleware).
// DelayAccept holds Accept itself, so connections behind the delayed one wait
// too, as with a server that is slow to accept.
type Listener struct {
	net.Listener
	plan *Plan
	c    counters

	done      chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	held      map[net.Conn]struct{}
	wg        sync.WaitGroup
}

// Listen wraps inner.
func Listen(inner net.Listener, plan *Plan) *Listener {
	return &Listener{Listener: inner, plan: plan, done: make(chan struct{}), held: make(map[net.Conn]struct{})}
}

// Stats returns the counters (Conns counts every accepted connection,
// including those a fault took).
func (l *Listener) Stats() Stats { return l.c.snapshot() }

// Accept returns the next connection that no fault took.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.c.conns.Add(1)
		_, f := l.plan.nextConn()
		l.c.fault(f.Kind)
		switch f.Kind {
		case Refuse:
			_ = Reset(c)
			continue
		case Hang:
			l.hold(c)
			continue
		case DelayAccept:
			if !sleep(f.Delay, l.done) {
				_ = c.Close()
				return nil, net.ErrClosed
			}
		case DelayHandshake:
			return &delayConn{Conn: c, l: l, f: f, br: bufio.NewReader(c), closed: make(chan struct{})}, nil
		}
		return c, nil
	}
}

// hold keeps c open, reading and discarding, until the client or Close ends it.
func (l *Listener) hold(c net.Conn) {
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		_ = c.Close()
		return
	default:
	}
	l.held[c] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
		l.mu.Lock()
		delete(l.held, c)
		l.mu.Unlock()
	}()
}

// Close closes the listener and the connections held by Hang, and ends
// pending delays.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() {
		l.mu.Lock()
		close(l.done)
		for c := range l.held {
			_ = c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

// delayConn delays the first bytes it reads. Closing it, closing the
// Listener or the client going away ends the delay.
type delayConn struct {
	net.Conn
	l         *Listener
	f         Fault
	br        *bufio.Reader
	once      sync.Once
	delayErr  error
	closeOnce sync.Once
	closed    chan struct{}

	mu           sync.Mutex
	readDeadline time.Time // as the server set it, restored after watching
}

func (d *delayConn) Read(p []byte) (int, error) {
	d.once.Do(func() { d.delayErr = d.delay() })
	if d.delayErr != nil {
		return 0, d.delayErr
	}
	return d.br.Read(p)
}

// delay waits for the first bytes, then for the fault's delay, meanwhile
// reading ahead (into br, nothing is lost) to notice a client that leaves.
func (d *delayConn) delay() error {
	if _, err := d.br.Peek(1); err != nil {
		return err
	}
	gone := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for n := d.br.Buffered() + 1; n <= d.br.Size(); n = d.br.Buffered() + 1 {
			if _, err := d.br.Peek(n); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					close(gone)
				}
				return
			}
		}
	}()
	ok := sleepUntil(d.f.Delay, d.l.done, d.closed, gone)
	_ = d.Conn.SetReadDeadline(time.Unix(1, 0))
	<-watched
	d.mu.Lock()
	_ = d.Conn.SetReadDeadline(d.readDeadline)
	d.mu.Unlock()
	if !ok {
		return net.ErrClosed
	}
	return nil
}

func (d *delayConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readDeadline = t
	return d.Conn.SetReadDeadline(t)
}

func (d *delayConn) SetDeadline(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.readDeadline = t
	return d.Conn.SetDeadline(t)
}

func (d *delayConn) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return d.Conn.Close()
}
