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

// pairBlock is how many calls of one side Pair makes in a row with one
// caller, between two readings of this process's CPU time: enough to make
// the reading's own cost negligible next to short calls. Calls slower than
// slowCall alternate one by one, so that a run of a few iterations (large
// answers) still measures both sides.
const (
	pairBlock = 16
	slowCall  = time.Millisecond
)

// Pair calls a and c alternately, so that the load of a shared machine
// weighs on both alike (slow calls each after a garbage collection that is
// not measured, so that neither pays for the other's garbage); the ratios it reports are therefore steadier than
// those of two benchmarks run one after the other. With one caller it
// alternates blocks of pairBlock calls (one call per b.N; single calls when
// a call is slow) and reads this process's CPU time between blocks, which
// gives each side's own CPU time when the servers run elsewhere (the
// clients' benchmarks); with more,
// every caller makes a call of each side per b.N, the order swapped every
// time. It reports, per call of each side: <name>-ns/call (wall time, each
// call timed), <name>-cpu-ns/call (this process, one caller only) and, with
// a server process, <name>-server-cpu-ns/call; and the ratios of a to c:
// wall-ratio, cpu-ratio, server-cpu-ratio.
func Pair(b *testing.B, callers int, a, c Side) {
	b.Helper()
	sides := [2]Side{a, c}
	block := pairBlock
	for _, s := range sides {
		// The first call opens connections and fills caches (a TLS
		// handshake alone takes more than slowCall): the second says
		// whether calls are slow.
		var d time.Duration
		for range 2 {
			t := time.Now()
			if err := s.Call(); err != nil {
				b.Fatal(err)
			}
			d = time.Since(t)
		}
		if d > slowCall {
			block = 1
		}
	}
	var wall, calls [2]atomic.Int64
	call := func(j int) error {
		t := time.Now()
		if err := sides[j].Call(); err != nil {
			return err
		}
		wall[j].Add(int64(time.Since(t)))
		calls[j].Add(1)
		return nil
	}
	var cpu0 [2]int64
	for j, s := range sides {
		if s.Server != nil {
			cpu0[j] = s.Server.CPU(b)
		}
	}
	var own [2]time.Duration
	ownOK := callers <= 1
	if callers <= 1 {
		cur, last := -1, time.Duration(0)
		switchTo := func(j int) {
			now, ok := CPUTime()
			ownOK = ownOK && ok
			if cur >= 0 {
				own[cur] += now - last
			}
			if block == 1 && j >= 0 {
				// Each slow call (a large answer) starts on a collected heap,
				// untimed: the garbage of one side (a decoded 10 MB listing)
				// would otherwise be collected during the other side's call,
				// by the assists of whatever allocates there.
				runtime.GC()
				now, ok = CPUTime()
				ownOK = ownOK && ok
			}
			cur, last = j, now
		}
		for i := 0; b.Loop(); i++ {
			j := i / block % 2
			if i%block == 0 {
				switchTo(j)
			}
			if err := call(j); err != nil {
				b.Fatal(err)
			}
		}
		switchTo(-1)
	} else {
		var n atomic.Int64
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				for k := range 2 {
					if err := call((i + k) % 2); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	b.StopTimer()
	var per [3][2]float64 // wall, own CPU, server CPU per call
	for j, s := range sides {
		n := float64(max(calls[j].Load(), 1))
		per[0][j] = float64(wall[j].Load()) / n
		b.ReportMetric(per[0][j], s.Name+"-ns/call")
		if ownOK {
			per[1][j] = float64(own[j]) / n
			b.ReportMetric(per[1][j], s.Name+"-cpu-ns/call")
		}
		if s.Server != nil {
			per[2][j] = float64(s.Server.CPU(b)-cpu0[j]) / n
			b.ReportMetric(per[2][j], s.Name+"-server-cpu-ns/call")
		}
	}
	for k, name := range []string{"wall-ratio", "cpu-ratio", "server-cpu-ratio"} {
		if per[k][1] > 0 {
			b.ReportMetric(per[k][0]/per[k][1], name)
		}
	}
}

// Encoded returns marshal(v): the payload a decoding benchmark reads. It
// stops the benchmark if v does not encode.
func Encoded(b *testing.B, marshal func(any) ([]byte, error), v any) []byte {
	b.Helper()
	data, err := marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// RunEncode runs the sub-benchmark name of an encoder: enc, measured (see
// Measure) with the size of its output as bytes per operation. It stops the
// benchmark if enc fails.
func RunEncode(b *testing.B, name string, enc func() ([]byte, error)) {
	b.Helper()
	out, err := enc()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(len(out)))
		Measure(b, nil, 1, func() error { _, err := enc(); return err })
	})
}
