// Package benchkit is what the benchmarks that hold a floor share: CPU time
// per operation, for this process and for a server process (package
// benchservers runs diracrpc's servers and the bare floors in a child, so
// that the CPU time of a server and of its clients are measured apart).
// It imports nothing of this module, so that every package's benchmarks can
// use it.
//
// The benchmarks report, next to ns/op (wall time):
//   - cpu-ns/op: this process's CPU time per operation (the client side when
//     the servers run in the child);
//   - server-cpu-ns/op: the server process's CPU time per operation.
//
// Compare a diracrpc implementation with its floor in the same run with
// benchstat's column filter, e.g. benchstat -col /impl new.txt.
package benchkit

import (
	"runtime"
	"testing"
)

// ServerCPU gives the CPU time used so far by a server process, in
// nanoseconds.
type ServerCPU interface{ CPU(testing.TB) int64 }

// Measure runs op b.N times and reports cpu-ns/op and, when srv is not nil,
// server-cpu-ns/op. With callers > 1 that many goroutines call op at once
// (b.RunParallel); ns/op is then the wall time per operation of all of them,
// the inverse of the throughput. op is called once before the measurement,
// to open connections and fill caches.
func Measure(b *testing.B, srv ServerCPU, callers int, op func() error) {
	b.Helper()
	if err := op(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var s0 int64
	if srv != nil {
		s0 = srv.CPU(b)
	}
	c0, ok := CPUTime()
	if callers <= 1 {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	if c1, ok1 := CPUTime(); ok && ok1 {
		b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
	}
	if srv != nil {
		b.ReportMetric(float64(srv.CPU(b)-s0)/float64(b.N), "server-cpu-ns/op")
	}
}
