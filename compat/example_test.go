package compat_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/value"
)

// Diff names each difference between what DISET (DEncode) and HTTPS (JSON)
// answered, at its path.
func ExampleDiff() {
	dencoded := value.NewDict("t", value.Tuple{int64(3), int64(4)}, "k", value.NewDict(int64(1), "x"),
		"at", time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), "n", int64(1))
	jsoned := value.NewDict("t", []any{int64(3), int64(4)}, "k", value.NewDict("1", "x"),
		"at", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "n", 1.0)
	for _, d := range compat.Diff(dencoded, jsoned) {
		fmt.Println(d.Path, d.Kind, d.Expected())
	}
	// Output:
	// $['t'] tuple-became-list true
	// $['k'][1] key-became-string true
	// $['at'] microseconds-dropped true
	// $['n'] type-mismatch false
}

// fixed answers every call with the same value.
type fixed struct{ v any }

func (f fixed) Call(context.Context, string, ...any) (*diracrpc.Result, error) {
	return &diracrpc.Result{Value: f.v}, nil
}

// Run makes the calls on both sides and reports.
func ExampleRun() {
	dips, https := fixed{value.Tuple{int64(1)}}, fixed{[]any{int64(1)}}
	calls := []compat.Call{{Method: "echoAny", Args: []any{value.Tuple{int64(1)}}}}
	rep := compat.Run(context.Background(), dips, https, calls, compat.Options{NameA: "dips", NameB: "https"})
	for _, c := range rep.Cases {
		fmt.Println(c.Call.Label(), c.Status, c.Differences[0].Kind)
	}
	_ = rep.WriteJUnit(os.Stderr) // for CI
	// Output:
	// echoAny((1,)) expected tuple-became-list
}
