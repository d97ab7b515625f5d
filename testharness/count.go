package testharness

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/diracgo/diracrpc/server"
)

// CountCalls makes every run of s's method add one to n, so a test can prove
// a call reached the handler exactly once (or never). It panics if s has no
// such method. Call it before s serves.
func CountCalls(s *server.Service, method string, n *atomic.Int64) {
	OnCall(s, method, func() { n.Add(1) })
}

// OnCall makes every run of s's method call f first, in the handler's
// goroutine: a test learns that a call reached the handler (to end its
// deadline only then, say) without waiting for a time. f must not block
// for long. It panics if s has no such method. Call it before s serves.
func OnCall(s *server.Service, method string, f func()) {
	m, ok := s.Lookup(method)
	if !ok {
		panic(fmt.Sprintf("testharness: OnCall: %s has no method %s", s.Name, method))
	}
	wrapped := *m
	next := m.Func
	wrapped.Func = func(ctx context.Context, req *server.Request) (any, error) {
		f()
		return next(ctx, req)
	}
	s.Handle(method, wrapped)
}
