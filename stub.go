package diracrpc

import (
	"errors"
	"fmt"

	"github.com/diracgo/diracrpc/value"
)

// Stub is what a client needs to make a call again later, as DIRAC's rpcStub
// is: the service name or URL the caller gave, the client options (DIRAC
// keyword names, useCertificates removed), the method and the arguments.
type Stub struct {
	Service string
	Options *value.Dict
	Method  string
	Args    []any
}

// Value returns the stub in DIRAC's DISET form
// [[service, options], method, [args...]]. The HTTPS client's tuple form
// becomes the same JSON array on the wire.
func (s *Stub) Value() []any {
	opts := s.Options
	if opts == nil {
		opts = &value.Dict{}
	}
	args := make([]any, len(s.Args))
	copy(args, s.Args)
	return []any{[]any{s.Service, opts}, s.Method, args}
}

// ParseStub reads a stub in either DIRAC form (list or tuple), as found in a
// result's rpcStub key or in a queued request.
func ParseStub(v any) (*Stub, error) {
	outer, ok := value.Items(v)
	if !ok || len(outer) != 3 {
		return nil, fmt.Errorf("diracrpc: a stub is [[service, options], method, args], got %T", v)
	}
	head, ok := value.Items(outer[0])
	if !ok || len(head) != 2 {
		return nil, fmt.Errorf("diracrpc: stub's first item must be [service, options]")
	}
	service, ok := head[0].(string)
	if !ok {
		return nil, fmt.Errorf("diracrpc: stub's service must be a string, got %T", head[0])
	}
	opts, ok := head[1].(*value.Dict)
	if !ok && head[1] != nil {
		return nil, fmt.Errorf("diracrpc: stub's options must be a dict, got %T", head[1])
	}
	method, ok := outer[1].(string)
	if !ok {
		return nil, fmt.Errorf("diracrpc: stub's method must be a string, got %T", outer[1])
	}
	args, ok := value.Items(outer[2])
	if !ok {
		return nil, fmt.Errorf("diracrpc: stub's arguments must be a list, got %T", outer[2])
	}
	return &Stub{Service: service, Options: opts, Method: method, Args: args}, nil
}

// CallError is how the clients return a failed call: the cause (an S_ERROR,
// a refused connection, a cancelled context...) and the stub that makes the
// call again. DIRAC attaches its rpcStub to failed results too: that is what
// its request queues keep, to replay a call that could not be made. The
// error reads as its cause, and errors.Is and errors.As see through it.
type CallError struct {
	Err  error
	Stub *Stub
	// Reached is true when one of the call's attempts may have reached the
	// service (see the function Reached).
	Reached bool
}

func (e *CallError) Error() string { return e.Err.Error() }

func (e *CallError) Unwrap() error { return e.Err }

// StubOf returns the stub of a failed call from its error, or nil if the
// error does not come from a client call.
func StubOf(err error) *Stub {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Stub
	}
	return nil
}
