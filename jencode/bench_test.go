package jencode

import (
	"encoding/json"
	"testing"

	"github.com/bytedance/sonic"

	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/internal/testkit/benchdata"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/value"
)

// The payload of internal/testkit/benchdata: JEncode against encoding/json on the
// same Go data, in the same run. Run:
//
//	go test -run '^$' -bench . -count 6 ./jencode/ > /tmp/jencode-bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest /tmp/jencode-bench.txt

func BenchmarkEncode(b *testing.B) {
	generic, plain, typed := benchdata.Generic(), benchdata.Plain(), benchdata.Typed()
	run := func(name string, enc func() ([]byte, error)) { benchkit.RunEncode(b, name, enc) }
	run("jencode", func() ([]byte, error) { return Marshal(plain) })
	run("encoding-json", func() ([]byte, error) { return json.Marshal(plain) })
	run("jencode-struct", func() ([]byte, error) { return Marshal(typed) })
	run("encoding-json-struct", func() ([]byte, error) { return json.Marshal(typed) })
	run("jencode-generic", func() ([]byte, error) { return Marshal(generic) })
	buf := make([]byte, 0, 256<<10)
	run("jencode-generic-append", func() ([]byte, error) { return AppendMarshal(buf[:0], generic) })
}

func BenchmarkDecode(b *testing.B) {
	text := benchkit.Encoded(b, Marshal, benchdata.Generic())
	run := func(name string, dec func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			benchkit.Measure(b, nil, 1, dec)
		})
	}
	// The floor: the fastest general JSON decoder into any found on the
	// module proxy (bytedance/sonic's fastest configuration, ahead of
	// goccy/go-json, json-iterator and segmentio/encoding here), in the
	// same run; and DEncode on the same data, which must stay ahead too.
	// The other decoders read the same text: its datetimes are plain
	// dicts to them.
	denc := benchkit.Encoded(b, dencode.Marshal, benchdata.Generic())
	run("jencode", func() error { var v any; return Unmarshal(text, &v) })
	run("sonic-fastest-into-any", func() error { var v any; return sonic.ConfigFastest.Unmarshal(text, &v) })
	run("sonic-std-into-any", func() error { var v any; return sonic.ConfigStd.Unmarshal(text, &v) })
	b.Run("DEncode", func(b *testing.B) {
		b.SetBytes(int64(len(denc)))
		benchkit.Measure(b, nil, 1, func() error { var v any; return dencode.Unmarshal(denc, &v) })
	})
	run("encoding-json-into-any", func() error { var v any; return json.Unmarshal(text, &v) })
	// and its own text for the same data (RFC 3339 strings for the times).
	own := benchkit.Encoded(b, json.Marshal, benchdata.Plain())
	b.Run("encoding-json-into-any-own-text", func(b *testing.B) {
		b.SetBytes(int64(len(own)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(own, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	run("jencode-into-struct", func() error { var v benchdata.Result; return Unmarshal(text, &v) })
}

// A small result, as most DISET and HTTPS replies are: what matters there is
// the allocations per decode.
func BenchmarkDecodeSmall(b *testing.B) {
	text := []byte(`{"OK": true, "Value": "hello"}`)
	b.Run("jencode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Decode(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json-into-any", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(text, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeVsFloor decodes the job-list payload into any with jencode
// (and DEncode) and with the floor, sonic's fastest configuration,
// alternately in one loop (benchkit.Pair): wall-ratio and cpu-ratio below 1
// mean faster than the floor, steady on a loaded machine.
func BenchmarkDecodeVsFloor(b *testing.B) {
	text := benchkit.Encoded(b, Marshal, benchdata.Generic())
	denc := benchkit.Encoded(b, dencode.Marshal, benchdata.Generic())
	floor := benchkit.Side{Name: "sonic", Call: func() error { var v any; return sonic.ConfigFastest.Unmarshal(text, &v) }}
	b.Run("jencode", func(b *testing.B) {
		benchkit.Pair(b, 1, benchkit.Side{Name: "jencode", Call: func() error { var v any; return Unmarshal(text, &v) }}, floor)
	})
	b.Run("DEncode", func(b *testing.B) {
		benchkit.Pair(b, 1, benchkit.Side{Name: "DEncode", Call: func() error { var v any; return dencode.Unmarshal(denc, &v) }}, floor)
	})
}

// BenchmarkListing encodes and decodes the 10 MB answer of the server's
// BenchmarkLargeAnswer (50,000 job rows in the generic model) in-process:
// what diracrpc's servers spend encoding it (into a reused buffer, as they
// do) and its clients decoding it, without the network; the decoding next
// to the floor, sonic's fastest configuration into any, alternately.
func BenchmarkListing(b *testing.B) {
	v := value.NewDict("OK", true, "Value", benchdata.Listing(50_000))
	buf := make([]byte, 0, 16<<20)
	benchkit.RunEncode(b, "encode", func() ([]byte, error) { return AppendMarshal(buf[:0], v) })
	text := benchkit.Encoded(b, Marshal, v)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		benchkit.Pair(b, 1,
			benchkit.Side{Name: "jencode", Call: func() error { _, err := Decode(text); return err }},
			benchkit.Side{Name: "sonic", Call: func() error { var v any; return sonic.ConfigFastest.Unmarshal(text, &v) }})
	})
	// Into Go structs, as Result.Decode does (the generic model, then
	// value.Assign), next to sonic decoding its own JSON of the same rows
	// into the same structs.
	typed := benchkit.Encoded(b, sonic.ConfigFastest.Marshal, benchdata.Result{OK: true, Value: benchdata.JobsN(50_000)})
	b.Run("decode-typed", func(b *testing.B) {
		benchkit.Pair(b, 1,
			benchkit.Side{Name: "jencode", Call: func() error { var r benchdata.Result; return Unmarshal(text, &r) }},
			benchkit.Side{Name: "sonic", Call: func() error { var r benchdata.Result; return sonic.ConfigFastest.Unmarshal(typed, &r) }})
	})
}

// BenchmarkLongString encodes and decodes a 10 MB string answer (the size of
// a getCompressedData configuration) as diracrpc's servers and clients do:
// the encoder only checks that the string needs no escape and leaves it in
// its own memory (AppendMarshalBuffers), the decoder checks it and points
// into its input (ShareInput). Both sides are next to sonic's fastest
// configuration doing the same job, alternately.
func BenchmarkLongString(b *testing.B) {
	v := value.NewDict("OK", true, "Value", benchdata.Configuration(10_000_000))
	plain := map[string]any{"OK": true, "Value": benchdata.Configuration(10_000_000)}
	text := benchkit.Encoded(b, Marshal, v)
	buf := make([]byte, 0, 1<<10)
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		benchkit.Pair(b, 1,
			benchkit.Side{Name: "jencode", Call: func() error {
				_, _, err := AppendMarshalBuffers(buf[:0], v, 64<<10)
				return err
			}},
			benchkit.Side{Name: "sonic", Call: func() error {
				_, err := sonic.ConfigFastest.Marshal(plain)
				return err
			}})
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		dec := Decoder{ShareInput: true}
		benchkit.Pair(b, 1,
			benchkit.Side{Name: "jencode", Call: func() error { _, err := dec.Decode(text); return err }},
			benchkit.Side{Name: "sonic", Call: func() error { var v any; return sonic.ConfigFastest.Unmarshal(text, &v) }})
	})
}
