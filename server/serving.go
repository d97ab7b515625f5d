package server

import (
	"errors"
	"net"
	"sync"

	"github.com/diracgo/diracrpc"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("server: closed")

// serving is the bookkeeping DISET and HTTPS share: the address of the
// listener they serve, for Addr and URL. Embedded, it gives both their Addr.
type serving struct {
	addrMu sync.Mutex
	addr   net.Addr
}

func (s *serving) setAddr(a net.Addr) {
	s.addrMu.Lock()
	s.addr = a
	s.addrMu.Unlock()
}

// Addr returns the address of the last listener Serve was given (nil before).
func (s *serving) Addr() net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addr
}

// url returns <proto>://<host>:<port>/<service> for the listener's address,
// with the listener's IP when host is "", and "" before Serve started.
func (s *serving) url(proto diracrpc.Protocol, host, service string) string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	ip, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	if host == "" {
		host = ip
	}
	return string(proto) + "://" + net.JoinHostPort(host, port) + "/" + service
}

// listenAndServe listens on TCP address addr (":9135", "127.0.0.1:0") and
// hands the listener to serve.
func listenAndServe(addr string, serve func(net.Listener) error) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serve(l)
}
