package faults

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Reset closes c with a TCP RST instead of a FIN (SO_LINGER 0), so the peer
// sees "connection reset by peer". For a TLS connection the TCP connection
// underneath is reset without a close_notify alert.
func Reset(c net.Conn) error {
	raw := c
	for {
		switch x := raw.(type) {
		case *tls.Conn:
			raw = x.NetConn()
			continue
		case *bufConn:
			raw = x.Conn
			continue
		}
		break
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	return raw.Close()
}

// sleep waits d, or until done is closed (false). d <= 0 waits for done.
func sleep(d time.Duration, done <-chan struct{}) bool { return sleepUntil(d, done, nil, nil) }

// sleepUntil waits d, or until one of the channels is closed (false); nil
// channels never end the wait, d <= 0 waits for the channels only.
func sleepUntil(d time.Duration, a, b, c <-chan struct{}) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-a:
		return false
	case <-b:
		return false
	case <-c:
		return false
	}
}

// bufConn is a connection whose first bytes were peeked.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Relisten listens on addr again (typically the address of a listener that
// was just closed, to restart a server on the same port), retrying until it
// succeeds or ctx ends.
func Relisten(ctx context.Context, network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, network, addr)
		if err == nil {
			return ln, nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}
