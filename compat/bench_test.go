package compat

import (
	"testing"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// BenchmarkDiff compares the recorded types() answer in its DEncode and JSON
// forms (3 expected differences).
func BenchmarkDiff(b *testing.B) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	a := value.NewDict("int", int64(5), "float", 2.5, "str", "café", "list", []any{int64(1), "a"},
		"tuple", value.Tuple{int64(1), "a"}, "dict", value.NewDict("k", "v"), "intkeys", value.NewDict(int64(1), "one"),
		"datetime", ts)
	n, err := value.NormalizeJSON(a)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Diff(a, n)) != 3 {
			b.Fatal("unexpected differences")
		}
	}
}
