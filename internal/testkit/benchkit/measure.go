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
	"sync/atomic"
	"testing"
	"time"
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

// Side is one of the two implementations Pair compares.
type Side struct {
	Name   string    // metric prefix: "diracrpc", "bare"
	Server ServerCPU // its server process; nil: none
	Call   func() error
}

// Pair calls a and b alternately (the order swapped every time), b.N times
// each, from callers goroutines, so that the load of a shared machine
// weighs on both alike; the ratios it reports are therefore steadier than
// those of two benchmarks run one after the other. It reports, per call of
// each side: <name>-ns/call (wall time, each call timed), and with a server
// process <name>-server-cpu-ns/call; and the ratios a/b of both as
// wall-ratio and server-cpu-ratio. ns/op is the time of one pair.
func Pair(b *testing.B, callers int, a, c Side) {
	b.Helper()
	for _, s := range []Side{a, c} {
		if err := s.Call(); err != nil { // connections, caches
			b.Fatal(err)
		}
	}
	var wall [2]atomic.Int64
	sides := [2]Side{a, c}
	one := func(i int64) error {
		for k := range int64(2) {
			j := (i + k) % 2
			t := time.Now()
			if err := sides[j].Call(); err != nil {
				return err
			}
			wall[j].Add(int64(time.Since(t)))
		}
		return nil
	}
	var cpu0 [2]int64
	for j, s := range sides {
		if s.Server != nil {
			cpu0[j] = s.Server.CPU(b)
		}
	}
	if callers <= 1 {
		for i := int64(0); b.Loop(); i++ {
			if err := one(i); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var n atomic.Int64
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(n.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	n := float64(b.N)
	var cpu [2]float64
	for j, s := range sides {
		b.ReportMetric(float64(wall[j].Load())/n, s.Name+"-ns/call")
		if s.Server != nil {
			cpu[j] = float64(s.Server.CPU(b)-cpu0[j]) / n
			b.ReportMetric(cpu[j], s.Name+"-server-cpu-ns/call")
		}
	}
	b.ReportMetric(float64(wall[0].Load())/float64(wall[1].Load()), "wall-ratio")
	if cpu[1] > 0 {
		b.ReportMetric(cpu[0]/cpu[1], "server-cpu-ratio")
	}
}
