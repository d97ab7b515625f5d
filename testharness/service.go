package testharness

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// DefaultService is the name the test service answers to.
const DefaultService = "Framework/TestHarness"

// FixedTime is what the test service's now() returns, as the recorded DIRAC
// test service does: 2024-01-02 03:04:05.123456 (naive UTC).
var FixedTime = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)

// all is DIRAC's auth rule "all": open to everybody, anonymous included.
var all = []string{"all"}

// NewTestService returns a service named name (DefaultService when empty)
// exporting the methods of the test service recorded in ../shared/captures,
// with the same behaviour and results, besides the built-in ping, echo and
// whoami:
//
//	echoAny(x)        S_OK(x), any value
//	add(a, b)         S_OK(a + b), both int (DIRAC's type check)
//	fail(msg)         S_ERROR(msg), msg a str
//	failErrno(n, msg) S_ERROR(n, msg): "<strerror> ( n : msg)"
//	crash()           the handler raises (ZeroDivisionError)
//	now()             S_OK(FixedTime)
//	utcnow()          S_OK(the current UTC time, microseconds included)
//	sleep(s)          sleeps s seconds (int or float; the call's context ends it early), S_OK(s)
//	creds()           S_OK(the caller's credential dictionary)
//	types()           S_OK(a dict holding one value of every type)
//	many(*args)       S_OK(list(args))
//
// Every method is open to all callers, as in the recorded service, and so is
// echo (DIRAC's default authorisation).
func NewTestService(name string) *server.Service {
	if name == "" {
		name = DefaultService
	}
	s := server.NewService(name)
	s.DefaultAuth = all
	s.Handle("echoAny", server.Method{Auth: all, Func: exactly("echoAny", "x", func(args []any) (any, error) {
		return args[0], nil
	})})
	s.Handle("add", server.Method{Auth: all, Types: []server.Type{server.TypeInt, server.TypeInt},
		Func: exactly("add", "a b", func(args []any) (any, error) { return addInts(args[0], args[1]), nil })})
	s.Handle("fail", server.Method{Auth: all, Types: []server.Type{server.TypeStr},
		Func: exactly("fail", "msg", func(args []any) (any, error) {
			return nil, &diracrpc.Error{Message: args[0].(string)}
		})})
	s.Handle("failErrno", server.Method{Auth: all, Types: []server.Type{server.TypeInt, server.TypeStr},
		Func: exactly("failErrno", "errno msg", func(args []any) (any, error) {
			return nil, diracrpc.NewError(int(toInt64(args[0])), args[1].(string))
		})})
	s.Handle("crash", server.Method{Auth: all, Types: []server.Type{},
		Func: exactly("crash", "", func([]any) (any, error) {
			// A Python handler raising, as the recorded one does with 1 // 0.
			panic(errors.New("integer division or modulo by zero"))
		})})
	s.Handle("now", server.Method{Auth: all, Types: []server.Type{},
		Func: exactly("now", "", func([]any) (any, error) { return FixedTime, nil })})
	s.Handle("utcnow", server.Method{Auth: all, Types: []server.Type{},
		Func: exactly("utcnow", "", func([]any) (any, error) { return time.Now().UTC().Truncate(time.Microsecond), nil })})
	s.Handle("sleep", server.Method{Auth: all, Types: []server.Type{server.TypeInt | server.TypeFloat}, Func: sleep})
	s.Handle("creds", server.Method{Auth: all, Types: []server.Type{}, Func: creds})
	s.Handle("types", server.Method{Auth: all, Types: []server.Type{},
		Func: exactly("types", "", func([]any) (any, error) { return Types(), nil })})
	s.Handle("many", server.Method{Auth: all, Types: []server.Type{}, Func: func(_ context.Context, req *server.Request) (any, error) {
		return append([]any{}, req.Args...), nil
	}})
	return s
}

// RecordedVersion is the DIRAC version the recorded test service reports to
// ping (NewTestService reports server.DefaultVersion).
const RecordedVersion = "9.0.0"

// NewRecordedService returns NewTestService(name) set up exactly as the
// service recorded in ../shared/captures, for replay tests: ping reports
// RecordedVersion, and reg (nil: an empty registry) resolves callers.
func NewRecordedService(name string, reg *server.Registry) *server.Service {
	s := NewTestService(name)
	s.Version = RecordedVersion
	s.Registry = reg
	return s
}

// Types returns what the test service's types() answers: one value of every
// type DIRAC carries, keys in the recorded order.
func Types() *value.Dict {
	return value.NewDict(
		"int", int64(5),
		"negint", int64(-7),
		"bigint", new(big.Int).Lsh(big.NewInt(1), 70),
		"float", 2.5,
		"str", "café",
		"bool", true,
		"none", nil,
		"list", []any{int64(1), "a"},
		"tuple", value.Tuple{int64(1), "a"},
		"dict", value.NewDict("k", "v"),
		"intkeys", value.NewDict(int64(1), "one"),
		"datetime", FixedTime,
		"date", value.DateOf(FixedTime),
	)
}

// exactly wraps f for a Python method taking exactly the parameters named in
// params: another number of arguments fails as Python's call would.
func exactly(method, params string, f func(args []any) (any, error)) server.MethodFunc {
	names := strings.Fields(params)
	return func(_ context.Context, req *server.Request) (any, error) {
		if len(req.Args) != len(names) {
			return nil, fmt.Errorf("%s", pyArity(method, names, len(req.Args)))
		}
		return f(req.Args)
	}
}

// pyArity is Python's TypeError text for a call with the wrong number of
// positional arguments (self counted, as for a method).
func pyArity(method string, names []string, got int) string {
	fn := "export_" + method + "()"
	if got < len(names) {
		missing := names[got:]
		quoted := make([]string, len(missing))
		for i, m := range missing {
			quoted[i] = "'" + m + "'"
		}
		list := quoted[0]
		switch len(quoted) {
		case 1:
		case 2:
			list = quoted[0] + " and " + quoted[1]
		default:
			list = ""
			for i, q := range quoted {
				switch {
				case i == len(quoted)-1:
					list += "and " + q
				default:
					list += q + ", "
				}
			}
		}
		word := "argument"
		if len(missing) > 1 {
			word = "arguments"
		}
		return fmt.Sprintf("%s missing %d required positional %s: %s", fn, len(missing), word, list)
	}
	return fmt.Sprintf("%s takes %d positional arguments but %d were given", fn, len(names)+1, got+1)
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case bool:
		if v {
			return 1
		}
	case *big.Int:
		return v.Int64()
	}
	return 0
}

// addInts adds two Python ints (bools count as ints) without overflow.
func addInts(a, b any) any {
	x, y := bigOf(a), bigOf(b)
	s := new(big.Int).Add(x, y)
	if s.IsInt64() {
		return s.Int64()
	}
	return s
}

func bigOf(v any) *big.Int {
	if b, ok := v.(*big.Int); ok {
		return b
	}
	return big.NewInt(toInt64(v))
}

// sleep waits s seconds, or until the call is abandoned.
func sleep(ctx context.Context, req *server.Request) (any, error) {
	if len(req.Args) != 1 {
		return nil, fmt.Errorf("%s", pyArity("sleep", []string{"seconds"}, len(req.Args)))
	}
	var d time.Duration
	switch v := req.Args[0].(type) {
	case float64:
		d = time.Duration(v * float64(time.Second))
	default:
		d = time.Duration(toInt64(v)) * time.Second
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return req.Args[0], nil
}

// creds answers the caller's credential dictionary (without the chain).
func creds(_ context.Context, req *server.Request) (any, error) {
	if len(req.Args) != 0 {
		return nil, fmt.Errorf("%s", pyArity("creds", nil, len(req.Args)))
	}
	if req.Credentials == nil {
		return value.NewDict(), nil
	}
	return req.Credentials.Dict(), nil
}
