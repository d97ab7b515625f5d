package testharness

import (
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/value"
)

// Calls returns a tour of the test service for compat: every method with
// the arguments of the recorded conversations, each with its expectation.
// Run over DISET and HTTPS, it shows every expected protocol difference and
// no divergence.
func Calls() []compat.Call {
	yes, no := true, false
	errno := func(n int) *int { return &n }
	return []compat.Call{
		{Method: "ping", Expect: &compat.Expect{OK: &yes,
			// uptimes, load and times are the server's own.
			Allow: []compat.Kind{compat.ValueMismatch}}},
		{Method: "echo", Args: []any{"hello"}, Expect: &compat.Expect{Value: "hello", HasValue: true}},
		{Method: "add", Args: []any{int64(2), int64(3)}, Expect: &compat.Expect{Value: int64(5), HasValue: true}},
		{Name: "echoAny(the recorded dict)", Method: "echoAny", Args: []any{value.NewDict(
			"s", "café", "i", int64(-7), "f", 2.5, "n", nil, "b", true, "l", []any{int64(1), int64(2)},
			"t", value.Tuple{int64(3), int64(4)}, "k", value.NewDict(int64(1), "x"))},
			Expect: &compat.Expect{OK: &yes}},
		{Method: "echoAny", Args: []any{[]byte{0, 0xff}}, Expect: &compat.Expect{OK: &yes}},
		{Method: "types", Expect: &compat.Expect{OK: &yes}},
		{Method: "now", Expect: &compat.Expect{Value: FixedTime, HasValue: true}},
		{Method: "many", Args: []any{int64(1), "a", nil, 2.5}, Expect: &compat.Expect{
			Value: []any{int64(1), "a", nil, 2.5}, HasValue: true}},
		{Method: "fail", Args: []any{"boom"}, Expect: &compat.Expect{OK: &no, Errno: errno(0), Message: "boom"}},
		{Method: "failErrno", Args: []any{int64(1111), "custom"}, Expect: &compat.Expect{OK: &no, Errno: errno(1111),
			Message: "Unauthorized query ( 1111 : custom)"}},
		{Method: "add", Args: []any{"2", int64(3)}, Expect: &compat.Expect{OK: &no, MessageContains: "Type mismatch in parameter 0"}},
		{Method: "doesNotExist"},
		{Method: "crash"},
	}
}
