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
	m, ok := s.Lookup(method)
	if !ok {
		panic(fmt.Sprintf("testharness: CountCalls: %s has no method %s", s.Name, method))
	}
	wrapped := *m
	f := m.Func
	wrapped.Func = func(ctx context.Context, req *server.Request) (any, error) {
		n.Add(1)
		return f(ctx, req)
	}
	s.Handle(method, wrapped)
}
