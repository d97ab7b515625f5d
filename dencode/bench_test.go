package dencode

import (
	"encoding/json"
	"testing"

	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/value"
)

// The payload of internal/testkit/benchdata: DEncode against encoding/json on the same
// Go data. Run: go test -run '^$' -bench . -count 6 ./dencode/ | benchstat -
// Besides ns/op, each benchmark reports cpu-ns/op, the process CPU time per
// operation (garbage collection included), which stays meaningful when other
// processes compete for the CPUs.

// measure is benchkit.Measure (one caller, no server) reporting size bytes
// per operation.
func measure(b *testing.B, size int, op func() error) {
	b.SetBytes(int64(size))
	benchkit.Measure(b, nil, 1, op)
}

func BenchmarkDecode(b *testing.B) {
	denc := benchkit.Encoded(b, Marshal, benchdata.Generic())
	jenc := benchkit.Encoded(b, json.Marshal, benchdata.Plain())
	b.Run("DEncode", func(b *testing.B) {
		measure(b, len(denc), func() error { var v any; return Unmarshal(denc, &v) })
	})
	b.Run("encoding-json-into-any", func(b *testing.B) {
		measure(b, len(jenc), func() error { var v any; return json.Unmarshal(jenc, &v) })
	})
	b.Run("DEncode-into-struct", func(b *testing.B) {
		measure(b, len(denc), func() error { var v benchdata.Result; return Unmarshal(denc, &v) })
	})
	b.Run("encoding-json-into-struct", func(b *testing.B) {
		measure(b, len(jenc), func() error { var v benchdata.Result; return json.Unmarshal(jenc, &v) })
	})
}

func BenchmarkEncode(b *testing.B) {
	generic, plain, typed := benchdata.Generic(), benchdata.Plain(), benchdata.Typed()
	run := func(name string, enc func() ([]byte, error)) { benchkit.RunEncode(b, name, enc) }
	run("DEncode-generic", func() ([]byte, error) { return Marshal(generic) })
	run("DEncode-plain", func() ([]byte, error) { return Marshal(plain) })
	run("encoding-json-plain", func() ([]byte, error) { return json.Marshal(plain) })
	run("DEncode-struct", func() ([]byte, error) { return Marshal(typed) })
	run("encoding-json-struct", func() ([]byte, error) { return json.Marshal(typed) })
	buf := make([]byte, 0, 256<<10)
	run("DEncode-generic-append", func() ([]byte, error) { return AppendMarshal(buf[:0], generic) })
}

// A small result, as most DISET replies are: what matters there is the
// allocations per decode.
func BenchmarkDecodeSmall(b *testing.B) {
	denc := []byte("ds2:OKb1s5:Values5:helloe")
	text := []byte(`{"OK": true, "Value": "hello"}`)
	b.Run("DEncode", func(b *testing.B) {
		measure(b, len(denc), func() error { var v any; return Unmarshal(denc, &v) })
	})
	b.Run("encoding-json-into-any", func(b *testing.B) {
		measure(b, len(text), func() error { var v any; return json.Unmarshal(text, &v) })
	})
}

// BenchmarkListing encodes and decodes the 10 MB answer of the server's
// BenchmarkLargeAnswer (50,000 job rows in the generic model) in-process, as
// jencode's BenchmarkListing does for JSON: what diracrpc's DISET servers
// spend encoding it (into a reused buffer, as they do) and its clients
// decoding it, without the network.
func BenchmarkListing(b *testing.B) {
	v := value.NewDict("OK", true, "Value", benchdata.Listing(50_000))
	buf := make([]byte, 0, 16<<20)
	benchkit.RunEncode(b, "encode", func() ([]byte, error) { return AppendMarshal(buf[:0], v) })
	denc := benchkit.Encoded(b, Marshal, v)
	b.Run("decode", func(b *testing.B) {
		measure(b, len(denc), func() error { var v any; return Unmarshal(denc, &v) })
	})
}
