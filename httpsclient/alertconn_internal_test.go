package httpsclient

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// brokenConn's writes meet a closed connection; its reads give the
// server's alert once told to.
type brokenConn struct {
	net.Conn
	alert    chan struct{}
	writeErr error
}

func (c brokenConn) Write([]byte) (int, error) {
	return 0, &net.OpError{Op: "write", Net: "tcp", Err: c.writeErr}
}

func (c brokenConn) Read([]byte) (int, error) {
	<-c.alert
	return 0, &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}
}

// TestAlertConnReportsTheRefusal: a write that meets the connection the
// server closed after refusing our certificate (TLS 1.3) reports the alert
// net/http's reader got, so that the call fails as CodeTLS, not as a
// broken pipe; without an alert, the write's own error.
func TestAlertConnReportsTheRefusal(t *testing.T) {
	epipe := os.NewSyscallError("write", syscall.EPIPE)
	// The broken pipe, or the connection net/http's reader closed on the
	// alert.
	for _, werr := range []error{epipe, net.ErrClosed} {
		c := newAlertConn(brokenConn{alert: make(chan struct{}), writeErr: werr}, new(atomic.Bool))
		read := make(chan error)
		go func() {
			_, err := c.Read(make([]byte, 1))
			read <- err
		}()
		close(c.Conn.(brokenConn).alert)
		assert.True(t, isHandshakeAlert(<-read))
		_, err := c.Write([]byte("POST"))
		assert.True(t, isHandshakeAlert(err), "%v", err)
	}

	c := newAlertConn(brokenConn{alert: make(chan struct{}), writeErr: epipe}, new(atomic.Bool))
	_, err := c.Write([]byte("POST"))
	assert.ErrorIs(t, err, syscall.EPIPE)
}
