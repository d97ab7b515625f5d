// Package oracletest is the Go twin of the DIRAC "oracle" test service used to
// record ../shared/captures (oracle_handlers/OracleMixin.py): the same methods,
// argument types and results, for replay and integration tests.
package oracletest

import (
	"context"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// FixedTime is what now() returns: datetime(2024, 1, 2, 3, 4, 5, 123456).
var FixedTime = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Counters count handler runs per method, to prove a call ran exactly once.
type Counters struct {
	Add, Sleep, Many atomic.Int64
}

// NewService returns the oracle service named name with the capture's
// configuration: Authorization/Default = all, every method open to all.
func NewService(name string, reg *server.Registry, counts *Counters) *server.Service {
	if counts == nil {
		counts = &Counters{}
	}
	s := &server.Service{Name: name, Version: "9.0.0", Registry: reg, DefaultAuth: []string{"all"}}
	all := []string{"all"}
	s.Handle("echoAny", server.Method{Auth: all, Types: []server.Type{}, MinArgs: 1,
		Func: func(_ context.Context, r *server.Request) (any, error) { return r.Args[0], nil }})
	s.Handle("add", server.Method{Auth: all, Types: []server.Type{server.TypeInt, server.TypeInt},
		Func: func(_ context.Context, r *server.Request) (any, error) {
			counts.Add.Add(1)
			a, b := toBig(r.Args[0]), toBig(r.Args[1])
			sum := new(big.Int).Add(a, b)
			if sum.IsInt64() {
				return sum.Int64(), nil
			}
			return sum, nil
		}})
	s.Handle("fail", server.Method{Auth: all, Types: []server.Type{server.TypeStr},
		Func: func(_ context.Context, r *server.Request) (any, error) {
			return nil, &diracrpc.Error{Message: r.Args[0].(string)}
		}})
	s.Handle("failErrno", server.Method{Auth: all, Types: []server.Type{server.TypeInt, server.TypeStr},
		Func: func(_ context.Context, r *server.Request) (any, error) {
			return nil, diracrpc.NewError(int(toBig(r.Args[0]).Int64()), r.Args[1].(string))
		}})
	s.Handle("crash", server.Method{Auth: all, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) {
			panic("integer division or modulo by zero")
		}})
	s.Handle("now", server.Method{Auth: all, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) { return FixedTime, nil }})
	s.Handle("utcnow", server.Method{Auth: all, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) { return time.Now().UTC(), nil }})
	s.Handle("sleep", server.Method{Auth: all, Types: []server.Type{server.TypeInt | server.TypeFloat},
		Func: func(ctx context.Context, r *server.Request) (any, error) {
			counts.Sleep.Add(1)
			var d time.Duration
			switch v := r.Args[0].(type) {
			case float64:
				d = time.Duration(v * float64(time.Second))
			default:
				d = time.Duration(toBig(v).Int64()) * time.Second
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			return r.Args[0], nil
		}})
	s.Handle("creds", server.Method{Auth: all, Types: []server.Type{},
		Func: func(_ context.Context, r *server.Request) (any, error) { return r.Credentials.Dict(), nil }})
	s.Handle("types", server.Method{Auth: all, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) {
			big70 := new(big.Int).Lsh(big.NewInt(1), 70)
			return value.NewDict(
				"int", int64(5), "negint", int64(-7), "bigint", big70, "float", 2.5, "str", "caf\u00e9",
				"bool", true, "none", nil, "list", []any{int64(1), "a"}, "tuple", value.Tuple{int64(1), "a"},
				"dict", value.NewDict("k", "v"), "intkeys", value.NewDict(int64(1), "one"),
				"datetime", FixedTime, "date", value.DateOf(FixedTime),
			), nil
		}})
	s.Handle("many", server.Method{Auth: all, Types: []server.Type{},
		Func: func(_ context.Context, r *server.Request) (any, error) {
			counts.Many.Add(1)
			return append([]any{}, r.Args...), nil
		}})
	return s
}

func toBig(v any) *big.Int {
	switch v := v.(type) {
	case int64:
		return big.NewInt(v)
	case *big.Int:
		return v
	case bool:
		if v {
			return big.NewInt(1)
		}
	}
	return new(big.Int)
}
